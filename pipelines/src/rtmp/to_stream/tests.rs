use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::sessions::StreamMetadata;

use super::*;

/// ffmpeg's 640x360 AVC configuration record.
const AVC_RECORD: [u8; 41] = [
    1, 0x64, 0, 0x1e, 0xff, 0xe1, 0, 26, 0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f,
    0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d,
    0x96, 1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb,
];

fn avc_header() -> Bytes {
    let mut v = vec![0x17, 0, 0, 0, 0];
    v.extend_from_slice(&AVC_RECORD);
    Bytes::from(v)
}

fn frame(key: bool, cts: i32) -> Bytes {
    let c = cts.to_be_bytes();
    Bytes::from(vec![
        if key { 0x17 } else { 0x27 },
        1,
        c[1],
        c[2],
        c[3],
        0,
        0,
        0,
        1,
        0x65,
    ])
}

fn aac_header() -> Bytes {
    Bytes::from_static(&[0xaf, 0, 0x11, 0x90])
}

fn aac() -> Bytes {
    Bytes::from_static(&[0xaf, 1, 0x21, 0x10])
}

fn drain(s: &mut ToStream) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

fn core() -> ToStream {
    ToStream::new(Duration::from_secs(1), Duration::from_secs(3))
}

#[test]
fn starts_when_both_headers_arrive_and_releases_buffered_units() {
    let t0 = Instant::now();
    let mut s = core();
    s.on_video(0, &avc_header(), t0).unwrap_or_default();
    s.on_video(0, &frame(true, 66), t0).unwrap_or_default();
    assert!(drain(&mut s).is_empty(), "waits for audio");
    assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(1)));
    s.on_audio(0, &aac_header(), t0).unwrap_or_default();
    s.on_audio(21, &aac(), t0).unwrap_or_default();
    let out = drain(&mut s);
    let Some(Output::Tracks(tracks)) = out.first() else {
        panic!("tracks first: {out:?}");
    };
    assert_eq!((tracks[0].width, tracks[0].height), (Some(640), Some(360)));
    assert_eq!(
        (tracks[1].sample_rate, tracks[1].channels),
        (Some(48000), Some(2))
    );
    let Some(Output::Unit(v)) = out.get(1) else {
        panic!("video unit next: {out:?}");
    };
    assert_eq!(
        (v.dts, v.pts, v.keyframe),
        (Duration::ZERO, Duration::from_millis(66), true)
    );
    assert!(matches!(out.get(2), Some(Output::Unit(a)) if a.dts == Duration::from_millis(21)));
}

#[test]
fn starts_video_only_after_the_audio_wait() {
    let t0 = Instant::now();
    let mut s = core();
    s.on_video(0, &avc_header(), t0).unwrap_or_default();
    s.on_tick(t0 + Duration::from_millis(999))
        .unwrap_or_default();
    assert!(drain(&mut s).is_empty());
    s.on_tick(t0 + Duration::from_secs(1)).unwrap_or_default();
    let out = drain(&mut s);
    assert!(matches!(&out[..], [Output::Tracks(t)] if t.len() == 1));
    // Late audio is not forwarded.
    s.on_audio(0, &aac_header(), t0).unwrap_or_default();
    s.on_audio(0, &aac(), t0).unwrap_or_default();
    assert!(drain(&mut s).is_empty());
}

#[test]
fn metadata_refuses_bad_codecs_at_once_but_missing_ids_only_after_waiting() {
    let t0 = Instant::now();
    // Video-only metadata (flvmux writes it before its audio pad has caps): audio may follow.
    let mut meta = StreamMetadata::new();
    meta.video_codec_id = Some(7);
    meta.video_frame_rate = Some(29.97);
    let mut s = core();
    s.on_metadata(&meta, t0).unwrap_or_default();
    s.on_video(0, &avc_header(), t0).unwrap_or_default();
    assert!(drain(&mut s).is_empty(), "waits for audio");
    s.on_tick(t0 + Duration::from_secs(1)).unwrap_or_default();
    let out = drain(&mut s);
    assert!(matches!(&out[..], [Output::Tracks(t)] if t[0].framerate == Some((30000, 1001))));

    // Audio-only metadata is not a refusal by itself; audio without video for video_wait is.
    let mut audio_only = StreamMetadata::new();
    audio_only.audio_codec_id = Some(10);
    let mut s = core();
    assert!(s.on_metadata(&audio_only, t0).is_ok());
    s.on_audio(0, &aac_header(), t0).unwrap_or_default();
    assert!(matches!(
        s.on_tick(t0 + Duration::from_secs(3)),
        Err(MediaError::NoVideo(_))
    ));
    let mut hevc = StreamMetadata::new();
    hevc.video_codec_id = Some(12);
    let err = core().on_metadata(&hevc, t0).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("unsupported video codec: hevc (only H.264 is accepted)")
    );
}

#[test]
fn refuses_audio_without_video_after_the_video_wait() {
    let t0 = Instant::now();
    let mut s = core();
    s.on_audio(0, &aac_header(), t0).unwrap_or_default();
    assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(3)));
    assert!(s.on_tick(t0 + Duration::from_secs(2)).is_ok());
    assert!(matches!(
        s.on_tick(t0 + Duration::from_secs(3)),
        Err(MediaError::NoVideo(_))
    ));
}

#[test]
fn refuses_video_frames_that_never_get_a_sequence_header() {
    let t0 = Instant::now();
    let mut s = core();
    s.on_video(0, &frame(true, 0), t0).unwrap_or_default();
    assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(3)));
    let r = s.on_video(3000, &frame(false, 0), t0 + Duration::from_secs(3));
    assert!(matches!(r, Err(MediaError::NoVideo(_))));
    assert_eq!(s.dropped(), 2);
}

#[test]
fn clamps_negative_pts_and_unwraps_timestamps() {
    let t0 = Instant::now();
    let mut s = core();
    s.on_video(u32::MAX - 10, &avc_header(), t0)
        .unwrap_or_default();
    s.on_tick(t0 + Duration::from_secs(1)).unwrap_or_default();
    s.on_video(u32::MAX - 10, &frame(true, 0), t0)
        .unwrap_or_default();
    s.on_video(23, &frame(false, -50), t0).unwrap_or_default();
    let units: Vec<_> = drain(&mut s)
        .into_iter()
        .filter_map(|o| match o {
            Output::Unit(u) => Some(u),
            Output::Tracks(_) => None,
        })
        .collect();
    assert_eq!(units.len(), 2);
    assert_eq!(units[1].dts - units[0].dts, Duration::from_millis(34));
    assert_eq!(units[1].pts, units[1].dts - Duration::from_millis(50));
    let mut s = core();
    s.on_video(0, &avc_header(), t0).unwrap_or_default();
    s.on_tick(t0 + Duration::from_secs(1)).unwrap_or_default();
    s.on_video(10, &frame(false, -50), t0).unwrap_or_default();
    let last = drain(&mut s).pop();
    assert!(matches!(last, Some(Output::Unit(u)) if u.pts == Duration::ZERO));
}
