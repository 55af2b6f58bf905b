use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::unit::Codec;

fn video_unit(ms: u64, keyframe: bool) -> Unit {
    Unit {
        track: TrackKind::Video,
        pts: Duration::from_millis(ms),
        dts: Duration::from_millis(ms),
        keyframe,
        payload: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
    }
}

/// Writes frames 0, 40, ... ms until the session starts (the anchor warm-up has passed).
fn warm_up(p: &Publisher) -> u64 {
    let mut ms = 0;
    while p.stream().live().is_none() {
        p.write(video_unit(ms, ms == 0)).unwrap();
        ms += 40;
    }
    ms
}

fn tracks() -> Vec<Track> {
    vec![Track::video(Codec::H264 {
        config: Bytes::from_static(&[1, 0x64, 0, 0x1f]),
    })]
}

#[test]
fn second_publisher_is_refused_until_the_first_leaves() {
    let stream = Stream::new("s1");
    let first = stream.begin_publish("rtmp", "a").unwrap();
    assert_eq!(
        stream.begin_publish("rtmp", "b").err(),
        Some(PublishError::AlreadyPublishing("s1".into()))
    );
    drop(first);
    let second = stream.begin_publish("rtmp", "b").unwrap();
    assert_eq!(second.epoch(), 2);
}

#[test]
fn unit_before_tracks_is_an_error() {
    let stream = Stream::new("s1");
    let p = stream.begin_publish("rtmp", "a").unwrap();
    assert_eq!(
        p.write(video_unit(0, true)).err(),
        Some(PublishError::NoTracks)
    );
}

#[tokio::test]
async fn readers_get_start_units_and_end_in_order() {
    let stream = Stream::new("s1");
    let mut early = stream.subscribe("early", 64);
    let p = stream.begin_publish("rtmp", "a").unwrap();
    p.set_tracks(tracks());
    let next = warm_up(&p);
    let warmup_units = (next / 40) as usize;
    let mut late = stream.subscribe("late", 64);
    p.write(video_unit(next, false)).unwrap();
    drop(p);

    for (reader, units) in [(&mut early, warmup_units + 1), (&mut late, 1)] {
        assert!(matches!(reader.recv().await, Some(Event::Start(s)) if s.epoch == 1));
        for _ in 0..units {
            assert!(matches!(reader.recv().await, Some(Event::Unit(_))));
        }
        assert!(matches!(reader.recv().await, Some(Event::End { epoch: 1 })));
    }
}

#[test]
fn a_full_reader_drops_and_counts_without_blocking() {
    let stream = Stream::new("s1");
    let slow = stream.subscribe("slow", 2);
    let p = stream.begin_publish("rtmp", "a").unwrap();
    p.set_tracks(tracks());
    let next = warm_up(&p);
    for i in 0..10 {
        p.write(video_unit(next + i * 40, false)).unwrap();
    }
    let written = stream.stats.units_in.load(Ordering::Relaxed);
    assert_eq!(written, next / 40 + 10);
    // Start + 1 unit fit; every other unit was dropped, and the publisher never waited.
    assert_eq!(slow.dropped(), written - 1);
}

#[test]
fn dropped_readers_are_unregistered() {
    let stream = Stream::new("s1");
    let r = stream.subscribe("r", 4);
    assert_eq!(stream.reader_count(), 1);
    drop(r);
    assert_eq!(stream.reader_count(), 0);
}

#[test]
fn clock_follows_newest_video_frame() {
    let stream = Stream::new("s1");
    assert!(stream.now().is_none());
    let p = stream.begin_publish("rtmp", "a").unwrap();
    p.set_tracks(tracks());
    let next = warm_up(&p);
    p.write(video_unit(next, false)).unwrap();
    let now = stream.now().unwrap();
    let anchor = stream.live().unwrap().session.anchor;
    assert_eq!(now.pts, Duration::from_millis(next));
    assert_eq!(now.wall, anchor.wall_at(Duration::from_millis(next)));
    drop(p);
    assert!(stream.now().is_none());
}

#[test]
fn a_closed_stream_refuses_writes_and_publishers() {
    let stream = Stream::new("s1");
    let p = stream.begin_publish("rtmp", "a").unwrap();
    p.set_tracks(tracks());
    warm_up(&p);
    stream.close();
    assert_eq!(
        p.write(video_unit(40, false)).err(),
        Some(PublishError::Closed("s1".into()))
    );
    drop(p);
    assert!(matches!(
        stream.begin_publish("rtmp", "b"),
        Err(PublishError::Closed(_))
    ));
}

#[test]
fn anchor_is_the_least_delayed_unit_of_the_warm_up() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
    let unit = |ms| video_unit(ms, false);
    // The first frame arrived 120 ms late, then the sender caught up.
    let held = vec![
        (unit(0), t0 + Duration::from_millis(120)),
        (unit(40), t0 + Duration::from_millis(125)),
        (unit(80), t0 + Duration::from_millis(82)),
        (unit(120), t0 + Duration::from_millis(123)),
    ];
    let anchor = least_delayed(&held);
    assert_eq!(
        anchor.wall_at(Duration::ZERO),
        t0 + Duration::from_millis(2)
    );
    for (u, arrival) in &held {
        assert!(anchor.wall_at(u.dts) <= *arrival);
    }
}

#[tokio::test]
async fn ending_a_session_stops_its_publisher_and_allows_a_new_one() {
    let stream = Stream::new("s1");
    let mut reader = stream.subscribe("r", 256);
    let p = stream.begin_publish("rtmp", "a").unwrap();
    p.set_tracks(tracks());
    let next = warm_up(&p);
    assert!(stream.end_session());
    assert!(!stream.end_session(), "nothing left to end");
    assert_eq!(
        p.write(video_unit(next, false)).err(),
        Some(PublishError::Ended("s1".into()))
    );
    let mut saw_end = false;
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(50), reader.recv()).await {
        saw_end |= matches!(e, Event::End { epoch: 1 });
    }
    assert!(saw_end);
    drop(p);
    let again = stream.begin_publish("rtmp", "b").unwrap();
    assert_eq!(again.epoch(), 2);
}

#[test]
fn a_derived_bus_keeps_the_source_session_identity() {
    let source = Stream::new("src");
    let mut src_reader = source.subscribe("t", 64);
    let p = source.begin_publish("rtmp", "peer").unwrap();
    p.set_tracks(tracks());
    warm_up(&p);
    let Some(Event::Start(session)) = src_reader.blocking_recv() else {
        panic!("no Start");
    };
    let rendition = Stream::new("src/360p");
    let mut reader = rendition.subscribe("t", 64);
    let d = rendition.begin_derived("transcode", &session).unwrap();
    assert!(matches!(
        rendition.begin_derived("transcode", &session),
        Err(PublishError::AlreadyPublishing(_))
    ));
    d.set_tracks(tracks());
    // No warm-up: the first unit starts the session, with the source's epoch and anchor.
    d.write(video_unit(0, true)).unwrap();
    let Some(Event::Start(derived)) = reader.blocking_recv() else {
        panic!("no Start on the derived bus");
    };
    assert_eq!(derived.epoch, session.epoch);
    assert_eq!(derived.anchor, session.anchor);
    assert!(matches!(reader.blocking_recv(), Some(Event::Unit(_))));
}
