//! A stream that must stay untouched while a test refuses someone else, and a good publish
//! that must go through afterwards.

use std::sync::Arc;
use std::time::Duration;

use showroom_pipelines::stream::{Reader, Session};
use tokio::process::Child;

use super::{collect_into, collect_session, ffmpeg_light, finish, wait_start, Seen, Server};

/// A publisher on another stream (or the first publisher of a contested key) that must stay
/// untouched while a test refuses someone else.
pub struct Witness {
    child: Child,
    reader: Reader,
    start: Arc<Session>,
    key: String,
}

/// Starts a light ffmpeg publish of `secs` seconds on `key` and waits for its Start.
pub async fn witness(srv: &Server, key: &str, secs: u32) -> Witness {
    let mut reader = srv.stream(key).subscribe("witness", 8192);
    let child = ffmpeg_light(&srv.url(key), secs);
    let start = wait_start(&mut reader, Duration::from_secs(20)).await;
    assert_eq!(start.epoch, 1, "witness {key} starts the first session");
    Witness {
        child,
        reader,
        start,
        key: key.to_owned(),
    }
}

impl Witness {
    /// Reads the rest of the session: it must end only when ffmpeg ends, with video flowing
    /// without a gap, and ffmpeg must exit cleanly.
    pub async fn check(mut self, secs: u32) {
        let seen = Seen {
            start: Some(self.start),
            ..Seen::default()
        };
        let seen = collect_into(
            &mut self.reader,
            seen,
            Duration::from_secs(u64::from(secs) + 20),
        )
        .await;
        let (ok, stderr) = finish(self.child, Duration::from_secs(20)).await;
        assert!(ok, "witness ffmpeg on {} failed: {stderr}", self.key);
        assert_eq!(
            seen.end,
            Some(1),
            "witness {} ended once, at its end",
            self.key
        );
        let video: Vec<_> = seen.video().collect();
        assert!(
            video.len() as u32 >= (secs - 1) * 30,
            "witness {}: {} frames",
            self.key,
            video.len()
        );
        for pair in video.windows(2) {
            let gap = pair[1].dts.saturating_sub(pair[0].dts);
            assert!(
                gap <= Duration::from_millis(200),
                "witness {}: {gap:?} hole",
                self.key
            );
        }
    }
}

/// A short, good publish on `key` must go through (the server still serves).
pub async fn assert_good_publish(srv: &Server, key: &str) {
    let mut reader = srv.stream(key).subscribe("after", 8192);
    let child = ffmpeg_light(&srv.url(key), 2);
    let seen = collect_session(&mut reader, Duration::from_secs(30)).await;
    let (ok, stderr) = finish(child, Duration::from_secs(20)).await;
    assert!(ok, "good publish on {key} failed: {stderr}");
    assert!(seen.start.is_some(), "good publish on {key}: no Start");
    assert!(
        seen.video().count() >= 40,
        "good publish on {key}: {} frames",
        seen.video().count()
    );
    assert!(seen.end.is_some(), "good publish on {key}: no End");
}
