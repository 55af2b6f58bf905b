//! Ingest throughput: N ffmpeg processes push a pre-encoded 1080p H.264 + AAC file as fast as
//! they can (`-c copy`, no `-re`); we measure wall time, bytes, and this process's CPU time
//! (the server and the bus readers; ffmpeg runs in its own processes).
//!
//! `cargo test -p showroom-pipelines --release --test rtmp_throughput -- --ignored --nocapture`

mod rtmp_common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use rtmp_common::*;
use showroom_pipelines::stream::Event;
use tokio::process::Command;
use tokio::time::Instant;

const FRAMES: usize = 300;

/// user + system CPU time of this process, from /proc/self/stat (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 of stat; after "pid (comm)" they are at 11 and 12.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

async fn encode_source() -> std::path::PathBuf {
    require("ffmpeg");
    let path = std::env::temp_dir().join("showroom-rtmp-bench-1080p.flv");
    if path.exists() {
        return path;
    }
    let tmp = path.with_extension("part.flv");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "8M",
            "-g",
            "60",
        ])
        .args(["-c:a", "aac", "-b:a", "128k", "-t", "10", "-f", "flv"])
        .arg(&tmp);
    let (ok, stderr) = finish(spawn(cmd), Duration::from_secs(600)).await;
    assert!(ok, "encoding the source failed: {stderr}");
    std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("rename: {e}"));
    path
}

async fn run(publishers: usize) {
    let source = encode_source().await;
    let keys: Vec<String> = (0..publishers).map(|i| format!("b{i}")).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let srv = server(&key_refs, test_config()).await;
    let mut readers: Vec<_> = keys
        .iter()
        .map(|k| srv.stream(k).subscribe("bench", 65536))
        .collect();
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let children: Vec<_> = keys
        .iter()
        .map(|k| {
            let mut cmd = Command::new("ffmpeg");
            cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
                .arg(&source)
                .args(["-c", "copy", "-f", "flv"])
                .arg(srv.url(k));
            spawn(cmd)
        })
        .collect();
    let mut video_units = 0;
    for reader in &mut readers {
        loop {
            match next(reader, Duration::from_secs(120)).await {
                Some(Event::End { .. }) => break,
                Some(Event::Unit(u)) if u.track == showroom_pipelines::unit::TrackKind::Video => {
                    video_units += 1
                }
                Some(_) => {}
                None => panic!("reader timed out"),
            }
        }
        assert_eq!(reader.dropped(), 0, "the bench reader dropped units");
    }
    let wall = t0.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    for child in children {
        let (ok, stderr) = finish(child, Duration::from_secs(30)).await;
        assert!(ok, "ffmpeg failed: {stderr}");
    }
    assert_eq!(video_units, FRAMES * publishers);
    let bytes = srv.stats.bytes_in.load(Ordering::Relaxed) as f64;
    println!(
        "rtmp ingest bench: {publishers} publisher(s), {:.1} MB in {:.2} s wall = {:.0} Mbit/s \
         ({:.1}x real time per stream); server CPU {:.2} s = {:.2} CPU-s per GB",
        bytes / 1e6,
        wall.as_secs_f64(),
        bytes * 8.0 / 1e6 / wall.as_secs_f64(),
        10.0 / wall.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() / (bytes / 1e9),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: CPU heavy, run explicitly"]
async fn ingest_throughput_one_publisher() {
    run(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: CPU heavy, run explicitly"]
async fn ingest_throughput_eight_publishers() {
    run(8).await;
}
