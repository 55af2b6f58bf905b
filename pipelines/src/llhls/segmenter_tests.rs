use super::*;

fn ms(v: f64) -> Duration {
    Duration::from_micros((v * 1000.0).round() as u64)
}

fn cfg(has_audio: bool) -> SegmenterConfig {
    SegmenterConfig {
        part: Duration::from_millis(200),
        segment: Duration::from_secs(2),
        has_video: true,
        has_audio,
        ..Default::default()
    }
}

/// Interleaves 30 fps video (keyframe every `gop` frames) and 48 kHz AAC, with millisecond
/// timestamps like RTMP, for `secs` seconds; `bframes` shifts PTS like a 2-B-frame encoder.
fn run(
    seg: &mut Segmenter<u32>,
    secs: u32,
    gop: u32,
    bframes: bool,
    audio: bool,
) -> Vec<Step<u32>> {
    let mut out = Vec::new();
    let frames = secs * 30;
    let aframes = (f64::from(secs) * 48_000.0 / 1024.0) as u32;
    let mut a = 0u32;
    for f in 0..frames {
        let dts = (f64::from(f) * 1000.0 / 30.0).round();
        // Audio up to this video frame's time (audio slightly ahead on the bus).
        while audio && a < aframes && f64::from(a) * 1024.0 / 48.0 <= dts + 30.0 {
            let t = ms((f64::from(a) * 1024.0 / 48.0).round());
            seg.push(TrackKind::Audio, t, t, true, a, &mut out);
            a += 1;
        }
        let pts = if bframes { dts + 67.0 } else { dts };
        seg.push(
            TrackKind::Video,
            ms(pts),
            ms(dts),
            f % gop == 0,
            f,
            &mut out,
        );
    }
    out
}

fn closed(steps: &[Step<u32>], track: TrackKind) -> Vec<ClosedPart> {
    steps
        .iter()
        .filter_map(|s| s.closed.clone())
        .filter(|c| c.track == track)
        .collect()
}

fn segments(parts: &[ClosedPart]) -> Vec<Vec<ClosedPart>> {
    let mut segs: Vec<Vec<ClosedPart>> = Vec::new();
    for p in parts {
        if p.first_of_segment {
            segs.push(Vec::new());
        }
        if let Some(s) = segs.last_mut() {
            s.push(p.clone());
        }
    }
    segs
}

#[test]
fn video_parts_are_six_frames_and_segments_two_seconds() {
    let mut seg = Segmenter::new(&cfg(false));
    let steps = run(&mut seg, 3600, 60, false, false);
    assert_eq!(seg.target(), Some(2));
    let parts = closed(&steps, TrackKind::Video);
    assert!(parts.len() > 17_000, "{} parts", parts.len());
    for p in &parts {
        assert!(p.duration <= ms(201.0), "part too long: {p:?}");
        assert!(p.duration >= ms(199.0), "part too short: {p:?}");
        assert!(
            p.nominal.abs_diff(ms(200.0)) < Duration::from_micros(100),
            "{p:?}"
        );
    }
    let segs = segments(&parts);
    for s in &segs[..segs.len() - 1] {
        assert_eq!(s.len(), 10);
        assert!(s[0].independent && s[0].first_of_segment);
        assert!(s.last().is_some_and(|p| p.last_of_segment));
        let total: Duration = s.iter().map(|p| p.duration).sum();
        assert!(
            total >= ms(1999.0) && total <= ms(2001.0),
            "segment {total:?}"
        );
    }
    // Cuts carry the right event kind.
    let frags = steps
        .iter()
        .filter(|s| s.cut == Some(Cut::Fragment))
        .count();
    assert_eq!(frags, segs.len() - 1);
    assert!(steps
        .iter()
        .filter(|s| s.cut == Some(Cut::Fragment))
        .all(|s| s.keyframe));
}

#[test]
fn audio_follows_video_segments_with_nine_frame_parts() {
    let mut seg = Segmenter::new(&cfg(true));
    let steps = run(&mut seg, 60, 60, false, true);
    let vsegs = segments(&closed(&steps, TrackKind::Video));
    let asegs = segments(&closed(&steps, TrackKind::Audio));
    assert!(asegs.len() >= 28, "{} audio segments", asegs.len());
    for (v, a) in vsegs.iter().zip(&asegs) {
        let dv = v[0].start_pts.as_secs_f64() - a[0].start_pts.as_secs_f64();
        assert!(
            dv.abs() <= 0.0215,
            "audio segment starts {dv}s away from video"
        );
        for p in &a[..a.len() - 1] {
            assert!(p.duration >= ms(191.0) && p.duration <= ms(193.0), "{p:?}");
            assert!(p.independent);
        }
    }
    // Every audio unit came out exactly once, in order.
    let audio: Vec<u32> = steps
        .iter()
        .filter(|s| s.track == TrackKind::Audio)
        .map(|s| s.payload)
        .collect();
    assert!(audio.windows(2).all(|w| w[1] == w[0] + 1));
}

#[test]
fn b_frames_keep_idr_first_and_durations() {
    let mut seg = Segmenter::new(&cfg(false));
    let steps = run(&mut seg, 30, 60, true, false);
    let segs = segments(&closed(&steps, TrackKind::Video));
    assert!(segs.len() >= 14);
    for s in &segs {
        assert!(s[0].independent);
        assert!(s.iter().all(|p| p.duration <= ms(201.0)));
    }
}

#[test]
fn long_gop_is_cut_before_breaking_the_target() {
    let mut seg = Segmenter::new(&SegmenterConfig {
        target: Some(2),
        ..cfg(false)
    });
    // Keyframe only every 4 s.
    let steps = run(&mut seg, 40, 120, false, false);
    let segs = segments(&closed(&steps, TrackKind::Video));
    for s in &segs {
        let total: Duration = s.iter().map(|p| p.duration).sum();
        assert!(
            round_half_up(total) <= 2,
            "segment of {total:?} breaks target 2"
        );
    }
    assert_eq!(seg.target(), Some(2));
}

#[test]
fn first_long_gop_sets_a_larger_target() {
    let mut seg = Segmenter::new(&cfg(false));
    let _ = run(&mut seg, 20, 90, false, false);
    assert_eq!(seg.target(), Some(3));
}

#[test]
fn part_limit_of_an_earlier_session_is_respected() {
    let mut seg = Segmenter::new(&SegmenterConfig {
        video_part_limit: Some(ms(201.0)),
        video_frame: Some(Duration::from_nanos(1_000_000_000 / 24)),
        ..cfg(false)
    });
    let mut out = Vec::new();
    for f in 0..240u32 {
        let t = ms((f64::from(f) * 1000.0 / 24.0).round());
        seg.push(TrackKind::Video, t, t, f % 48 == 0, f, &mut out);
    }
    let parts = closed(&out, TrackKind::Video);
    assert!(parts.iter().all(|p| p.duration <= ms(202.0)), "{parts:?}");
}

#[test]
fn finish_closes_the_open_parts() {
    let mut seg = Segmenter::new(&cfg(true));
    let mut out = run(&mut seg, 3, 60, false, true);
    let last = seg.finish(&mut out);
    assert_eq!(last.len(), 2);
    assert!(last
        .iter()
        .all(|p| p.last_of_segment && p.duration > Duration::ZERO));
}

#[test]
fn leading_delta_frames_and_early_audio_are_dropped() {
    let mut seg = Segmenter::new(&cfg(true));
    let mut out = Vec::new();
    seg.push(TrackKind::Audio, ms(0.0), ms(0.0), true, 0, &mut out);
    seg.push(TrackKind::Video, ms(0.0), ms(0.0), false, 1, &mut out);
    seg.push(TrackKind::Video, ms(33.0), ms(33.0), true, 2, &mut out);
    seg.push(TrackKind::Audio, ms(43.0), ms(43.0), true, 3, &mut out);
    // Audio ahead of the video waits for it.
    assert_eq!(out.len(), 1);
    seg.push(TrackKind::Video, ms(67.0), ms(67.0), false, 4, &mut out);
    let kept: Vec<u32> = out.iter().map(|s| s.payload).collect();
    assert_eq!(kept, vec![2, 4, 3]);
}

#[test]
fn non_increasing_dts_is_dropped_and_pts_clamped() {
    let mut seg = Segmenter::new(&cfg(false));
    let mut out = Vec::new();
    seg.push(TrackKind::Video, ms(0.0), ms(0.0), true, 0, &mut out);
    seg.push(TrackKind::Video, ms(33.0), ms(33.0), false, 1, &mut out);
    seg.push(TrackKind::Video, ms(40.0), ms(33.0), false, 2, &mut out);
    seg.push(TrackKind::Video, ms(20.0), ms(20.0), false, 3, &mut out);
    seg.push(TrackKind::Video, ms(60.0), ms(67.0), false, 4, &mut out);
    let kept: Vec<(u32, Duration)> = out.iter().map(|s| (s.payload, s.pts)).collect();
    assert_eq!(kept, vec![(0, ms(0.0)), (1, ms(33.0)), (4, ms(67.0))]);
}

#[test]
fn scene_cut_keyframe_ends_the_segment_early_instead_of_breaking_the_target() {
    let mut seg = Segmenter::new(&cfg(false));
    let mut out = Vec::new();
    // Keyframes every 60 frames, except a scene cut at frame 117 that restarts the GOP count.
    let keys: Vec<u32> = vec![0, 60, 117, 177, 237, 297];
    for f in 0..330u32 {
        let t = ms((f64::from(f) * 1000.0 / 30.0).round());
        seg.push(TrackKind::Video, t, t, keys.contains(&f), f, &mut out);
    }
    let segs = segments(&closed(&out, TrackKind::Video));
    assert_eq!(seg.target(), Some(2));
    for s in &segs {
        let total: Duration = s.iter().map(|p| p.duration).sum();
        assert!(round_half_up(total) <= 2, "segment of {total:?}");
        assert!(s[0].independent, "segment without a keyframe start: {s:?}");
    }
    // The scene cut at 3.9 s ended the second segment early (1.9 s).
    let second: Duration = segs[1].iter().map(|p| p.duration).sum();
    assert!(second >= ms(1899.0) && second <= ms(1901.0), "{second:?}");
}
