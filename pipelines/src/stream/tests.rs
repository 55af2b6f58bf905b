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
    let mut early = stream.subscribe("early", 16);
    let p = stream.begin_publish("rtmp", "a").unwrap();
    p.set_tracks(tracks());
    p.write(video_unit(0, true)).unwrap();
    let mut late = stream.subscribe("late", 16);
    p.write(video_unit(40, false)).unwrap();
    drop(p);

    for (reader, units) in [(&mut early, 2), (&mut late, 1)] {
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
    for i in 0..10 {
        p.write(video_unit(i * 40, i == 0)).unwrap();
    }
    // Start + 1 unit fit; 9 units were dropped.
    assert_eq!(slow.dropped(), 9);
    assert_eq!(stream.stats.units_in.load(Ordering::Relaxed), 10);
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
    p.write(video_unit(1000, true)).unwrap();
    p.write(video_unit(1040, false)).unwrap();
    let now = stream.now().unwrap();
    let anchor = stream.live().unwrap().session.anchor;
    assert_eq!(now.pts, Duration::from_millis(1040));
    assert_eq!(now.wall, anchor.wall + Duration::from_millis(40));
    drop(p);
    assert!(stream.now().is_none());
}

#[test]
fn a_closed_stream_refuses_writes_and_publishers() {
    let stream = Stream::new("s1");
    let p = stream.begin_publish("rtmp", "a").unwrap();
    p.set_tracks(tracks());
    p.write(video_unit(0, true)).unwrap();
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
