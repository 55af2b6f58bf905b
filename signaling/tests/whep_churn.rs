//! Viewer churn: many WHEP joins and leaves leave no session, no viewer queue and no socket.

mod common;

use std::time::Duration;

use common::{fake_offer, ffmpeg_publish, start, test_webrtc_config};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or_else(|e| panic!("/proc/self/fd: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_and_leaves_leak_nothing() {
    // SHOWROOM_CHURN_ROUNDS=10000 for the full count (about 2 minutes).
    let rounds: usize = std::env::var("SHOWROOM_CHURN_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let env = start(&["churn"], test_webrtc_config()).await;
    let _ffmpeg = ffmpeg_publish(&env.rtmp_url("churn"), 0, 120);
    env.wait_live("churn").await;
    let client = reqwest::Client::new();
    let url = env.whep_url("churn");
    let join = || async {
        let resp = client
            .post(&url)
            .header("content-type", "application/sdp")
            .body(fake_offer("H264"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST: {e}"));
        assert_eq!(resp.status().as_u16(), 201);
        resp.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no Location"))
    };
    // Warm up (egress graphs, interceptors' first allocations), then count.
    let loc = join().await;
    let _ = client
        .delete(format!("http://{}{loc}", env.http))
        .send()
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fds_before = open_fds();
    let rss_before = rss_kib();
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        let loc = join().await;
        let status = client
            .delete(format!("http://{}{loc}", env.http))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        assert_eq!(status, 200);
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fds_after = open_fds();
    let rss_after = rss_kib();
    assert_eq!(env.sfu.session_count(), 0, "sessions left");
    let fanout = env
        .sfu
        .fanout("churn")
        .unwrap_or_else(|| panic!("no fanout"));
    assert_eq!(fanout.viewer_count(), 0, "viewer queues left");
    assert!(
        fds_after <= fds_before + 8,
        "file descriptors grew from {fds_before} to {fds_after} over {rounds} joins/leaves"
    );
    eprintln!(
        "{rounds} joins/leaves in {elapsed:?} ({:.1} ms each); fds {fds_before} → {fds_after}; RSS {rss_before} → {rss_after} KiB",
        elapsed.as_secs_f64() * 1000.0 / rounds as f64
    );
}
