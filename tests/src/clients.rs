//! Real media clients as child processes: ffmpeg and GStreamer publishers.

use std::process::{Child, Command, Stdio};

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Proc {
    /// Kills it now (a publisher vanishing mid-stream).
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Waits for it to exit and returns whether it succeeded.
    pub fn wait_success(&mut self) -> bool {
        self.0.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Options for an ffmpeg test publish.
#[derive(Clone, Debug)]
pub struct FfmpegPublish {
    pub size: &'static str,
    pub fps: u32,
    pub gop: u32,
    /// B-frames (OBS's default profile uses them); 0 = `-tune zerolatency`.
    pub bframes: u32,
    pub seconds: Option<u32>,
    pub audio: bool,
    /// libx264 `-preset` and `-b:v`.
    pub preset: &'static str,
    pub bitrate: &'static str,
}

impl Default for FfmpegPublish {
    fn default() -> Self {
        Self {
            size: "640x360",
            fps: 30,
            gop: 60,
            bframes: 0,
            seconds: None,
            audio: true,
            preset: "veryfast",
            bitrate: "800k",
        }
    }
}

/// `ffmpeg -re -f lavfi -i testsrc2 ... -c:v libx264 ... -c:a aac -f flv URL`
pub fn ffmpeg_publish(url: &str, opts: &FfmpegPublish) -> Proc {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={}:rate={}", opts.size, opts.fps));
    if opts.audio {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000"]);
    }
    if let Some(t) = opts.seconds {
        cmd.args(["-t", &t.to_string()]);
    }
    cmd.args([
        "-c:v",
        "libx264",
        "-preset",
        opts.preset,
        "-pix_fmt",
        "yuv420p",
    ])
    .args([
        "-g",
        &opts.gop.to_string(),
        "-keyint_min",
        &opts.gop.to_string(),
    ])
    .args(["-sc_threshold", "0", "-b:v", opts.bitrate]);
    if opts.bframes == 0 {
        cmd.args(["-tune", "zerolatency"]);
    } else {
        cmd.args(["-bf", &opts.bframes.to_string()]);
    }
    if opts.audio {
        cmd.args(["-c:a", "aac", "-b:a", "96k"]);
    }
    cmd.args(["-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Proc(
        cmd.spawn()
            .expect("ffmpeg not installed (scripts/deps.sh test installs it)"),
    )
}

/// GStreamer's `rtmp2sink` publishing x264 + AAC (stands in for OBS's GStreamer-based peers).
pub fn gst_publish(url: &str, seconds: u32) -> Proc {
    let frames = seconds * 30;
    let pipeline = format!(
        "videotestsrc is-live=true num-buffers={frames} ! video/x-raw,width=640,height=360,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=veryfast key-int-max=60 bitrate=800 ! h264parse \
         ! flvmux name=m streamable=true ! rtmp2sink location={url} \
         audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! m."
    );
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.arg("-q")
        .args(pipeline.split_whitespace())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Proc(
        cmd.spawn()
            .expect("gst-launch-1.0 not installed (scripts/deps.sh test installs it)"),
    )
}
