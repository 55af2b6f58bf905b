//! The replay scrubber's sprite sheets: at the end of a session its thumbnails are tiled
//! (`filesrc → jpegdec → imagefreeze` per tile → `compositor → jpegenc`) into
//! `sprite-<n>.jpg` sheets of [`COLS`]×[`ROWS`], and `sprite.tsv` lists where each thumbnail
//! sits (`ms TAB sheet TAB x TAB y TAB w TAB h`), for `#xywh=` cues in the WebVTT track.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use gst::prelude::*;

use super::error::RecordError;

pub const COLS: usize = 10;
pub const ROWS: usize = 10;
const BUILD_TIMEOUT: Duration = Duration::from_secs(60);

/// One tile of a sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    pub ms: u64,
    pub sheet: String,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// Width and height from a baseline/progressive JPEG's SOF segment.
pub fn jpeg_size(b: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    while i + 9 < b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        if matches!(marker, 0xC0..=0xC3) {
            let h = u16::from_be_bytes([b[i + 5], b[i + 6]]);
            let w = u16::from_be_bytes([b[i + 7], b[i + 8]]);
            return Some((u32::from(w), u32::from(h)));
        }
        i += 2 + len;
    }
    None
}

/// Parses `sprite.tsv`.
pub fn parse_tiles(text: &str) -> Vec<Tile> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let [ms, sheet, x, y, w, h] = f.as_slice() else {
                return None;
            };
            Some(Tile {
                ms: ms.parse().ok()?,
                sheet: (*sheet).to_owned(),
                x: x.parse().ok()?,
                y: y.parse().ok()?,
                w: w.parse().ok()?,
                h: h.parse().ok()?,
            })
        })
        .collect()
}

/// Builds the sheets of `session_dir` from `thumbs/<ms>.jpg` (sorted by `ms`).
pub async fn build(session_dir: &Path, mut thumbs: Vec<u64>) -> Result<usize, RecordError> {
    thumbs.sort_unstable();
    let Some(first) = thumbs.first() else {
        return Ok(0);
    };
    let first = std::fs::read(session_dir.join("thumbs").join(format!("{first}.jpg")))?;
    let (w, h) =
        jpeg_size(&first).ok_or_else(|| RecordError::Gst("thumbnail is not a JPEG".into()))?;
    let mut index = String::new();
    for (n, chunk) in thumbs.chunks(COLS * ROWS).enumerate() {
        let sheet = format!("sprite-{}.jpg", n + 1);
        let jpeg = tile(session_dir, chunk, w, h).await?;
        super::files::write_durable(&session_dir.join(&sheet), &jpeg)?;
        for (i, ms) in chunk.iter().enumerate() {
            let (x, y) = ((i % COLS) as u32 * w, (i / COLS) as u32 * h);
            let _ = writeln!(index, "{ms}\t{sheet}\t{x}\t{y}\t{w}\t{h}");
        }
    }
    super::files::write_durable(&session_dir.join("sprite.tsv"), index.as_bytes())?;
    Ok(thumbs.len().div_ceil(COLS * ROWS))
}

async fn tile(dir: &Path, thumbs: &[u64], w: u32, h: u32) -> Result<Vec<u8>, RecordError> {
    let rows = thumbs.len().div_ceil(COLS).max(1) as u32;
    let cols = thumbs.len().min(COLS) as u32;
    let pipeline = gst::Pipeline::with_name("record-sprite");
    let comp = gst::ElementFactory::make("compositor")
        .property_from_str("background", "black")
        .build()?;
    let size = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("width", (cols * w) as i32)
                .field("height", (rows * h) as i32)
                .field("framerate", gst::Fraction::new(1, 1))
                .build(),
        )
        .build()?;
    let convert = gst::ElementFactory::make("videoconvert").build()?;
    let jpeg = gst::ElementFactory::make("jpegenc")
        .property("quality", 75i32)
        .build()?;
    let sink = gst_app::AppSink::builder()
        .sync(false)
        .max_buffers(1)
        .build();
    let tail = [&comp, &size, &convert, &jpeg, sink.upcast_ref()];
    pipeline.add_many(tail)?;
    gst::Element::link_many(tail)?;
    for (i, ms) in thumbs.iter().enumerate() {
        let src = gst::ElementFactory::make("filesrc")
            .property(
                "location",
                dir.join("thumbs")
                    .join(format!("{ms}.jpg"))
                    .to_string_lossy()
                    .to_string(),
            )
            .build()?;
        let dec = gst::ElementFactory::make("jpegdec").build()?;
        let conv = gst::ElementFactory::make("videoconvert").build()?;
        let freeze = gst::ElementFactory::make("imagefreeze")
            .property("num-buffers", 1i32)
            .build()?;
        let branch = [&src, &dec, &conv, &freeze];
        pipeline.add_many(branch)?;
        gst::Element::link_many(branch)?;
        let pad = comp
            .request_pad_simple("sink_%u")
            .ok_or_else(|| RecordError::Gst("compositor refused a pad".into()))?;
        pad.set_property("xpos", ((i % COLS) as u32 * w) as i32);
        pad.set_property("ypos", ((i / COLS) as u32 * h) as i32);
        freeze
            .static_pad("src")
            .ok_or_else(|| RecordError::Gst("imagefreeze without src".into()))?
            .link(&pad)?;
    }
    pipeline.set_state(gst::State::Playing)?;
    let pulled = tokio::task::spawn_blocking(move || {
        sink.try_pull_sample(gst::ClockTime::from_seconds(BUILD_TIMEOUT.as_secs()))
            .and_then(|s| {
                s.buffer()
                    .and_then(|b| b.map_readable().ok().map(|m| m.to_vec()))
            })
    })
    .await
    .map_err(|e| RecordError::Gst(e.to_string()))?;
    let _ = pipeline.set_state(gst::State::Null);
    pulled.ok_or_else(|| RecordError::Gst("sprite sheet not produced (see the log)".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_round_trip_and_bad_jpeg_has_no_size() {
        let t = parse_tiles("5000\tsprite-1.jpg\t320\t0\t320\t180\nbad line\n");
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].ms, t[0].x, t[0].w, t[0].h), (5000, 320, 320, 180));
        assert_eq!(jpeg_size(b"not a jpeg at all"), None);
    }
}
