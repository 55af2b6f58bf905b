//! `showroomscale` in real GStreamer pipelines: videotestsrc → showroomscale → capsfilter →
//! appsink, against the unscaled frames of the same source (tee'd off before the scaler).

use anyhow::{bail, Context, Result};
use gst::prelude::*;
use gst_video::prelude::*;
use gst_video::VideoFormat as F;

struct Frames {
    info: gst_video::VideoInfo,
    buffers: Vec<gst::Buffer>,
}

fn init() -> Result<()> {
    showroom_pipelines::gst_init::init()?;
    Ok(())
}

fn drain(sink: &gst_app::AppSink) -> Result<Frames> {
    let mut info = None;
    let mut buffers = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        if info.is_none() {
            let caps = sample.caps().context("sample without caps")?;
            info = Some(gst_video::VideoInfo::from_caps(caps)?);
        }
        buffers.push(sample.buffer_owned().context("sample without buffer")?);
    }
    Ok(Frames {
        info: info.context("no frame")?,
        buffers,
    })
}

/// Runs `src ! tee name=t  t. ! queue ! appsink name=src  t. ! queue ! showroomscale ! out ! appsink name=out`.
fn scale(src: &str, out: &str) -> Result<(Frames, Frames)> {
    scale_with(src, out, false)
}

/// [`scale`]; with `video_meta`, the scaled frames' appsink answers the allocation query saying
/// it reads `GstVideoMeta` (as x264enc does), so it may get frames with other strides.
fn scale_with(src: &str, out: &str, video_meta: bool) -> Result<(Frames, Frames)> {
    init()?;
    let desc = format!(
        "{src} ! tee name=t  t. ! queue ! appsink name=src sync=false  \
         t. ! queue ! showroomscale ! {out} ! appsink name=out sync=false"
    );
    let pipeline = gst::parse::launch(&desc)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    let sink = |name: &str| -> Result<gst_app::AppSink> {
        pipeline
            .by_name(name)
            .context("no appsink")?
            .downcast::<gst_app::AppSink>()
            .map_err(|_| anyhow::anyhow!("not an appsink"))
    };
    let (src_sink, out_sink) = (sink("src")?, sink("out")?);
    if video_meta {
        let pad = out_sink.static_pad("sink").context("appsink pad")?;
        pad.add_probe(gst::PadProbeType::QUERY_DOWNSTREAM, |_, info| {
            let Some(gst::QueryViewMut::Allocation(q)) = info.query_mut().map(|q| q.view_mut())
            else {
                return gst::PadProbeReturn::Ok;
            };
            q.add_allocation_meta::<gst_video::VideoMeta>(None);
            gst::PadProbeReturn::Handled
        });
    }
    pipeline.set_state(gst::State::Playing)?;
    let source = drain(&src_sink)?;
    let scaled = drain(&out_sink);
    let bus = pipeline.bus().context("no bus")?;
    let error = bus.pop_filtered(&[gst::MessageType::Error]);
    pipeline.set_state(gst::State::Null)?;
    if let Some(gst::MessageView::Error(e)) = error.as_ref().map(|m| m.view()) {
        bail!("pipeline error: {} ({:?})", e.error(), e.debug());
    }
    Ok((source, scaled?))
}

/// Samples of one component of a frame.
struct Comp<'a> {
    data: &'a [u8],
    offset: usize,
    stride: usize,
    pstride: usize,
    width: usize,
    height: usize,
}

impl Comp<'_> {
    fn at(&self, x: usize, y: usize) -> u8 {
        self.data[y * self.stride + self.offset + x * self.pstride]
    }
}

fn comp<'a>(
    frame: &'a gst_video::VideoFrame<gst_video::video_frame::Readable>,
    c: u8,
) -> Result<Comp<'a>> {
    let info = frame.info();
    Ok(Comp {
        data: frame.plane_data(info.comp_plane(c))?,
        offset: info.comp_poffset(c) as usize,
        stride: frame.plane_stride()[info.comp_plane(c) as usize] as usize,
        pstride: info.comp_pstride(c) as usize,
        width: info.comp_width(c) as usize,
        height: info.comp_height(c) as usize,
    })
}

/// Every output sample whose source neighbourhood (the bicubic filter's reach) is flat must
/// equal that flat value within `tol`; returns the share of samples checked that way and the
/// number of distinct values seen in them.
fn compare(source: &Frames, scaled: &Frames, tol: u8) -> Result<(f64, usize)> {
    let (mut checked, mut total) = (0usize, 0usize);
    let mut values = std::collections::BTreeSet::new();
    for (a, b) in source.buffers.iter().zip(&scaled.buffers) {
        let fa = gst_video::VideoFrame::from_buffer_readable(a.clone(), &source.info)
            .map_err(|_| anyhow::anyhow!("map source"))?;
        let fb = gst_video::VideoFrame::from_buffer_readable(b.clone(), &scaled.info)
            .map_err(|_| anyhow::anyhow!("map scaled"))?;
        for c in 0..3u8 {
            let (s, o) = (comp(&fa, c)?, comp(&fb, c)?);
            let (fx, fy) = (
                s.width as f64 / o.width as f64,
                s.height as f64 / o.height as f64,
            );
            let (rx, ry) = (
                (2.0 * fx).ceil() as isize + 1,
                (2.0 * fy).ceil() as isize + 1,
            );
            for y in 0..o.height {
                for x in 0..o.width {
                    total += 1;
                    let cx = ((x as f64 + 0.5) * fx) as isize;
                    let cy = ((y as f64 + 0.5) * fy) as isize;
                    let want = s.at(cx as usize, cy as usize);
                    let flat = (cy - ry..=cy + ry).all(|sy| {
                        (cx - rx..=cx + rx).all(|sx| {
                            let sx = sx.clamp(0, s.width as isize - 1) as usize;
                            let sy = sy.clamp(0, s.height as isize - 1) as usize;
                            s.at(sx, sy) == want
                        })
                    });
                    if !flat {
                        continue;
                    }
                    checked += 1;
                    values.insert(want);
                    let got = o.at(x, y);
                    if got.abs_diff(want) > tol {
                        bail!(
                            "component {c} at ({x},{y}): {got}, source {want} around ({cx},{cy})"
                        );
                    }
                }
            }
        }
    }
    Ok((checked as f64 / total.max(1) as f64, values.len()))
}

fn check_layout(
    frames: &Frames,
    format: gst_video::VideoFormat,
    width: u32,
    height: u32,
) -> Result<()> {
    let info = &frames.info;
    assert_eq!(
        (info.format(), info.width(), info.height()),
        (format, width, height)
    );
    for b in &frames.buffers {
        let f = gst_video::VideoFrame::from_buffer_readable(b.clone(), info)
            .map_err(|_| anyhow::anyhow!("map"))?;
        for p in 0..f.n_planes() {
            let stride = f.plane_stride()[p as usize];
            let row = match (format, p) {
                (_, 0) => width,
                (gst_video::VideoFormat::Nv12, _) => 2 * width.div_ceil(2),
                _ => width.div_ceil(2),
            };
            assert!(
                stride as u32 >= row,
                "plane {p}: stride {stride} < row {row}"
            );
            // Without a video meta the layout must be the caps' default one.
            if b.meta::<gst_video::VideoMeta>().is_none() {
                assert_eq!(stride, info.stride()[p as usize], "plane {p} stride");
            }
        }
        assert!(
            b.size() >= info.size(),
            "buffer {} < frame {}",
            b.size(),
            info.size()
        );
    }
    Ok(())
}

fn same_timing(source: &Frames, scaled: &Frames) {
    let timing = |f: &Frames| -> Vec<_> {
        f.buffers
            .iter()
            .map(|b| (b.pts(), b.duration(), b.offset()))
            .collect()
    };
    assert_eq!(timing(source), timing(scaled));
}

/// Same timestamps, and the picture compared as in [`compare`] (tolerance 2): at least
/// `min_share` of the samples checked, showing at least `min_values` distinct values.
fn same_picture(source: &Frames, scaled: &Frames, min_share: f64, min_values: usize) -> Result<()> {
    same_timing(source, scaled);
    let (share, values) = compare(source, scaled, 2)?;
    assert!(
        share > min_share,
        "only {:.0} % of samples away from edges",
        share * 100.0
    );
    assert!(
        values >= min_values,
        "only {values} distinct values: not the test picture"
    );
    Ok(())
}

/// Scales two frames of `pattern` in `format` from `from` to `to`; checks the layout, the
/// timestamps and the picture ([`same_picture`]).
fn case(
    pattern: &str,
    format: gst_video::VideoFormat,
    from: (u32, u32),
    to: (u32, u32),
    min_values: usize,
) -> Result<Frames> {
    let (source, scaled) = scale(
        &format!(
            "videotestsrc num-buffers=2 pattern={pattern} ! video/x-raw,format={},width={},height={},framerate=30/1",
            format.to_str(),
            from.0,
            from.1
        ),
        &format!("video/x-raw,width={},height={}", to.0, to.1),
    )?;
    assert_eq!(scaled.buffers.len(), 2);
    check_layout(&scaled, format, to.0, to.1)?;
    same_picture(&source, &scaled, 0.7, min_values)?;
    Ok(scaled)
}

#[test]
fn smpte_bars_720p_to_360p_keep_their_colours_columns_and_timestamps() -> Result<()> {
    case("smpte", F::I420, (1280, 720), (640, 360), 10).map(|_| ())
}

#[test]
fn odd_sizes_854x480_to_426x240_have_padded_strides_and_the_picture() -> Result<()> {
    let scaled = case("smpte100", F::I420, (854, 480), (426, 240), 5)?;
    // 426 luma and 213 chroma bytes per row: GStreamer pads rows to 4 bytes (428, 216).
    assert_eq!(&scaled.info.stride()[..3], &[428, 216, 216]);
    Ok(())
}

#[test]
fn a_downstream_reading_video_meta_gets_32_byte_aligned_rows() -> Result<()> {
    let (source, scaled) = scale_with(
        "videotestsrc num-buffers=2 pattern=smpte ! video/x-raw,format=I420,width=854,height=480",
        "video/x-raw,width=426,height=240",
        true,
    )?;
    check_layout(&scaled, F::I420, 426, 240)?;
    for b in &scaled.buffers {
        let meta = b.meta::<gst_video::VideoMeta>().context("no video meta")?;
        assert_eq!(&meta.stride()[..3], &[448, 224, 224]);
        let f = gst_video::VideoFrame::from_buffer_readable(b.clone(), &scaled.info)
            .map_err(|_| anyhow::anyhow!("map"))?;
        for p in 0..3 {
            let addr = f.plane_data(p)?.as_ptr() as usize;
            assert_eq!(addr % 32, 0, "plane {p} at {addr:#x}");
        }
    }
    same_picture(&source, &scaled, 0.7, 10)
}

#[test]
fn nv12_is_scaled_in_nv12() -> Result<()> {
    case("smpte", F::Nv12, (1920, 1080), (1280, 720), 10).map(|_| ())
}

#[test]
fn a_solid_colour_stays_that_colour_and_a_height_alone_keeps_the_aspect_ratio() -> Result<()> {
    let (source, scaled) = scale(
        "videotestsrc num-buffers=1 pattern=solid-color foreground-color=0xff3080c0 \
         ! video/x-raw,format=I420,width=1920,height=1080,pixel-aspect-ratio=1/1",
        "video/x-raw,height=360",
    )?;
    assert_eq!((scaled.info.width(), scaled.info.height()), (640, 360));
    assert_eq!(scaled.info.par(), gst::Fraction::new(1, 1));
    let (share, _) = compare(&source, &scaled, 1)?;
    assert!(share > 0.99, "{share}");
    Ok(())
}

#[test]
fn a_format_change_is_refused_with_the_caps_named() -> Result<()> {
    // RGB is not in its templates, NV12 is but not out of I420 (size change only): either
    // way the link fails, naming the caps.
    for format in ["RGB", "NV12"] {
        let err = match scale(
            "videotestsrc num-buffers=1 ! video/x-raw,format=I420,width=320,height=240",
            &format!("video/x-raw,format={format},width=160,height=120"),
        ) {
            Ok(_) => bail!("{format} out of an I420 scaler was accepted"),
            Err(e) => e.to_string(),
        };
        let want = format!("can't handle caps video/x-raw, format=(string){format}");
        assert!(err.contains(&want), "{err}");
    }
    Ok(())
}

#[test]
fn an_unsupported_input_format_does_not_link() -> Result<()> {
    init()?;
    let r = gst::parse::launch(
        "videotestsrc ! video/x-raw,format=RGB,width=320,height=240 ! showroomscale ! fakesink",
    );
    let err = match r {
        Ok(_) => bail!("RGB input linked"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("could not link") || err.contains("not link"),
        "{err}"
    );
    Ok(())
}
