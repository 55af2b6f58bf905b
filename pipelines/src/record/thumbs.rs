//! Poster thumbnails while live: `appsrc → h264parse → avdec_h264 → videoconvert → videoscale
//! → jpegenc → appsink`, fed one keyframe every `interval` (only keyframes are decoded, so the
//! cost is one intra frame per interval). Each JPEG is kept as `<session>/thumbs/<pts ms>.jpg`
//! (for the replay scrubber's WebVTT track) and copied to `<stream>/latest.jpg`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gst::prelude::*;
use tokio::sync::oneshot;

use super::error::RecordError;
use super::files::write_durable;
use crate::stream::Track;
use crate::unit::Unit;

pub struct Thumbnailer {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    interval: Duration,
    last: Option<Duration>,
    eos: Option<oneshot::Receiver<()>>,
}

impl Thumbnailer {
    /// `session_dir/thumbs/` receives every thumbnail, `latest` the newest.
    pub fn start(
        name: &str,
        track: &Track,
        width: u32,
        interval: Duration,
        session_dir: PathBuf,
        latest: PathBuf,
    ) -> Result<Self, RecordError> {
        let pipeline = gst::Pipeline::with_name(&format!("thumbs-{name}"));
        let appsrc = crate::caps::appsrc_for(track);
        let parse = gst::ElementFactory::make("h264parse").build()?;
        let dec = gst::ElementFactory::make("avdec_h264")
            .property("max-threads", 1i32)
            .build()?;
        let convert = gst::ElementFactory::make("videoconvert").build()?;
        let scale = gst::ElementFactory::make("videoscale").build()?;
        let size = gst::ElementFactory::make("capsfilter")
            .property(
                "caps",
                gst::Caps::builder("video/x-raw")
                    .field("width", width.clamp(16, 3840) as i32)
                    .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
                    .build(),
            )
            .build()?;
        let jpeg = gst::ElementFactory::make("jpegenc")
            .property("quality", 80i32)
            .build()?;
        let appsink = crate::caps::drain_appsink(false);
        let chain = [
            appsrc.upcast_ref(),
            &parse,
            &dec,
            &convert,
            &scale,
            &size,
            &jpeg,
            appsink.upcast_ref(),
        ];
        pipeline.add_many(chain)?;
        gst::Element::link_many(chain)?;
        let thumbs = session_dir.join("thumbs");
        std::fs::create_dir_all(&thumbs)?;
        let (tx, eos) = oneshot::channel();
        let tx = Arc::new(parking_lot::Mutex::new(Some(tx)));
        let label = name.to_owned();
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let Some(buffer) = sample.buffer() else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let pts_ms = buffer.pts().map(|p| p.mseconds()).unwrap_or_default();
                    let Ok(map) = buffer.map_readable() else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let file = thumbs.join(format!("{pts_ms}.jpg"));
                    if let Err(e) =
                        write_durable(&file, &map).and_then(|()| write_durable(&latest, &map))
                    {
                        tracing::warn!(thumbs = %label, error = %e, "thumbnail write failed");
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .eos(move |_| {
                    if let Some(tx) = tx.lock().take() {
                        let _ = tx.send(());
                    }
                })
                .build(),
        );
        crate::gst_bus::play_watched(&pipeline, "thumbnailer")?;
        Ok(Self {
            pipeline,
            appsrc,
            interval,
            last: None,
            eos: Some(eos),
        })
    }

    /// Offers a video unit: a keyframe at least `interval` after the last one taken is decoded.
    pub fn offer(&mut self, unit: &Unit) {
        if !unit.keyframe || self.last.is_some_and(|l| unit.pts < l + self.interval) {
            return;
        }
        self.last = Some(unit.pts);
        let mut buffer = gst::Buffer::from_slice(unit.payload.clone());
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(unit.pts.as_nanos() as u64));
            b.set_dts(gst::ClockTime::from_nseconds(unit.pts.as_nanos() as u64));
        }
        let _ = self.appsrc.push_buffer(buffer);
    }

    /// Flushes the decoder (its last frame becomes a thumbnail), waiting at most `timeout`.
    pub async fn finish(mut self, timeout: Duration) {
        let _ = self.appsrc.end_of_stream();
        if let Some(eos) = self.eos.take() {
            let _ = tokio::time::timeout(timeout, eos).await;
        }
    }
}

impl Drop for Thumbnailer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
