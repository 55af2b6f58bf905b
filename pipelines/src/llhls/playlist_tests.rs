//! Playlists rendered from a synthetic origin state (no GStreamer).

use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::llhls::segmenter::ClosedPart;
use crate::llhls::state::State;
use crate::llhls::store::Rendition;
use crate::stream::ClockAnchor;
use crate::unit::TrackKind;

fn part(first: bool, last: bool, at_ms: u64) -> ClosedPart {
    ClosedPart {
        track: TrackKind::Video,
        start_pts: Duration::from_millis(at_ms),
        duration: Duration::from_millis(200),
        independent: first,
        first_of_segment: first,
        last_of_segment: last,
        nominal: Duration::from_millis(200),
        target_duration: Some(2),
    }
}

/// `segments` whole 2 s segments of 10 parts, then `open_parts` parts of the next one.
fn state(window: usize, sessions: &[(u64, usize)], open_parts: usize) -> State {
    let mut st = State {
        window,
        ..State::default()
    };
    st.renditions.push(Rendition::new(TrackKind::Video));
    let anchor = ClockAnchor {
        dts: Duration::ZERO,
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    };
    let mut t = 0;
    for &(epoch, segments) in sessions {
        let r = &mut st.renditions[0];
        let next = r.next_msn;
        r.begin(epoch, anchor, next);
        for _ in 0..segments {
            for i in 0..10 {
                assert!(st.renditions[0].push_part(
                    epoch,
                    &part(i == 0, i == 9, t),
                    Bytes::from_static(b"moof")
                ));
                t += 200;
            }
            st.renditions[0].evict(window);
        }
        st.fix_targets(Some(2));
        st.update_can_skip();
    }
    let epoch = sessions.last().map_or(1, |s| s.0);
    for i in 0..open_parts {
        st.renditions[0].push_part(epoch, &part(i == 0, false, t), Bytes::from_static(b"moof"));
        t += 200;
    }
    st
}

#[test]
fn live_edge_parts_hint_and_server_control() {
    let st = state(10, &[(1, 4)], 3);
    let text = super::media(&st, 0, false).expect("playlist");
    assert!(text.contains("#EXT-X-TARGETDURATION:2\n"));
    assert!(text.contains("#EXT-X-PART-INF:PART-TARGET=0.201\n"));
    // 8 s of segments: not enough for delta updates yet.
    assert!(
        text.contains(
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.603,HOLD-BACK=6.0\n"
        ),
        "{text}"
    );
    // Parts only on the last 3 target durations: segment 0 ends 6.6 s before the end.
    assert!(!text.contains("URI=\"video.p9.m4s\""), "{text}");
    assert!(text.contains("URI=\"video.p10.m4s\",INDEPENDENT=YES"));
    assert!(text.ends_with("#EXT-X-PART:DURATION=0.20000,URI=\"video.p42.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"video.p43.m4s\"\n"), "{text}");
    assert!(text.contains("#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n"));
    assert!(text.contains("#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:22.000Z\n"));
    let r = &st.renditions[0];
    assert!(r.has_reached(4, Some(2)) && !r.has_reached(4, Some(3)));
    assert!(r.has_reached(3, Some(10)) && r.has_reached(3, None) && !r.has_reached(4, None));
    assert_eq!(r.max_msn(), 5);
}

#[test]
fn delta_update_skips_only_beyond_can_skip_until() {
    let st = state(10, &[(1, 10)], 2);
    let full = super::media(&st, 0, false).expect("full");
    assert!(full.contains(",CAN-SKIP-UNTIL=12.0,"));
    let delta = super::media(&st, 0, true).expect("delta");
    // 20.4 s in the playlist: segments ending more than 12 s before the end are skipped.
    assert!(
        delta.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=4\n"),
        "{delta}"
    );
    assert!(!delta.contains("video.s3.m4s") && delta.contains("video.s4.m4s"));
    assert!(delta.contains("#EXT-X-MAP:URI=\"video.init1.mp4\"\n#EXT-X-PROGRAM-DATE-TIME"));
    assert!(delta.len() < full.len());
}

#[test]
fn reconnect_marks_a_discontinuity_and_eviction_counts_it() {
    let st = state(3, &[(1, 2), (2, 2)], 0);
    let text = super::media(&st, 0, false).expect("playlist");
    assert!(
        text.contains("#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n"),
        "{text}"
    );
    assert!(text.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"video.init2.mp4\"\n"));
    let st = state(3, &[(1, 2), (2, 4)], 0);
    let text = super::media(&st, 0, false).expect("playlist");
    assert!(
        text.contains("#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n"),
        "{text}"
    );
    assert!(!text.contains("#EXT-X-DISCONTINUITY\n") && !text.contains("init1"));
    // Parts of an ended session are refused.
    let mut st = st;
    assert!(!st.renditions[0].push_part(1, &part(true, false, 0), Bytes::new()));
}

#[test]
fn multivariant_lists_codecs_resolution_and_the_audio_group() {
    let mut st = state(10, &[(1, 2)], 0);
    {
        let v = &mut st.renditions[0];
        v.codec = Some("avc1.64001f".into());
        v.video = Some(crate::llhls::store::VideoInfo {
            width: 1280,
            height: 720,
            framerate: Some(30.0),
        });
    }
    let mut a = Rendition::new(TrackKind::Audio);
    a.codec = Some("mp4a.40.2".into());
    a.channels = Some(2);
    st.renditions.push(a);
    let text = super::multivariant(&st).expect("multivariant");
    assert!(text.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio.m3u8\"\n"), "{text}");
    assert!(text.contains(",CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO=\"aud\"\nvideo.m3u8\n"), "{text}");
    // 4 bytes per 0.2 s part: 160 bit/s on average; BANDWIDTH is the peak with 10 % headroom.
    let inf = text
        .lines()
        .find(|l| l.starts_with("#EXT-X-STREAM-INF:"))
        .expect("variant");
    let field = |name: &str| -> u64 {
        inf.split(',')
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .expect("field")
    };
    // (rounded up from float arithmetic, hence the one-bit slack)
    assert!(
        (176..=177).contains(&field("#EXT-X-STREAM-INF:BANDWIDTH=")),
        "{inf}"
    );
    assert!((160..=161).contains(&field("AVERAGE-BANDWIDTH=")), "{inf}");
    // Audio alone: one variant pointing at the audio playlist.
    st.renditions.remove(0);
    let text = super::multivariant(&st).expect("audio-only multivariant");
    assert!(
        text.ends_with(",CODECS=\"mp4a.40.2\"\naudio.m3u8\n"),
        "{text}"
    );
    assert!(!text.contains("#EXT-X-MEDIA"));
}
