//! The whole recording as one progressive MP4, remuxed without re-encoding:
//! each session's `init.mp4` + segments are joined into one fragmented file, then
//! `splitmuxsrc` (sessions back to back on one timeline) `→ h264parse/aacparse → mp4mux
//! (faststart) → filesink`. Runs once per recording; the result is cached as `download.mp4`
//! (on the local disk, also when the segments are in S3) until the index changes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gst::prelude::*;
use tokio::io::AsyncWriteExt;

use super::error::RecordError;
use super::index::Segment;
use super::store::Recordings;

/// Longest a remux may take.
const REMUX_TIMEOUT: Duration = Duration::from_secs(600);

/// Joins each session into `work/<n>.mp4` (init + its segments, in order), reading each file
/// from the local disk or, when it is only there, from S3.
async fn join_sessions(
    recordings: &Recordings,
    dir: &Path,
    segments: &[Segment],
    work: &Path,
) -> Result<usize, RecordError> {
    tokio::fs::create_dir_all(work).await?;
    let mut n = 0;
    let mut current: Option<(&str, tokio::io::BufWriter<tokio::fs::File>)> = None;
    let read = |path: PathBuf| async move {
        recordings
            .read_file(&path)
            .await?
            .ok_or_else(|| RecordError::Gst(format!("{} is missing", path.display())))
    };
    for s in segments {
        if current.as_ref().map(|c| c.0) != Some(s.session.as_str()) {
            if let Some((_, mut f)) = current.take() {
                f.flush().await?;
            }
            n += 1;
            let mut f = tokio::io::BufWriter::new(
                tokio::fs::File::create(work.join(format!("{n:05}.mp4"))).await?,
            );
            f.write_all(&read(dir.join(&s.session).join("init.mp4")).await?)
                .await?;
            current = Some((&s.session, f));
        }
        if let Some((_, f)) = current.as_mut() {
            f.write_all(&read(dir.join(&s.session).join(s.file_name())).await?)
                .await?;
        }
    }
    if let Some((_, mut f)) = current.take() {
        f.flush().await?;
    }
    Ok(n)
}

/// Builds `out` from the recording in `dir` whose index text is `index` (the remux runs on
/// GStreamer threads and is awaited). `download.index` records which index it was built from.
pub async fn remux(
    recordings: &Recordings,
    dir: &Path,
    segments: &[Segment],
    index: &str,
    out: &Path,
) -> Result<(), RecordError> {
    crate::gst_init::init().map_err(|e| RecordError::Gst(e.to_string()))?;
    let work = dir.join("download.work");
    let _ = tokio::fs::remove_dir_all(&work).await;
    let joined = join_sessions(recordings, dir, segments, &work).await;
    if let Err(e) = joined {
        let _ = tokio::fs::remove_dir_all(&work).await;
        return Err(e);
    }
    let tmp = out.with_extension("mp4.tmp");
    let result = run_graph(&work, &tmp).await;
    let _ = std::fs::remove_dir_all(&work);
    match result {
        Ok(()) => {
            std::fs::rename(&tmp, out)?;
            std::fs::write(dir.join("download.index"), index)?;
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

async fn run_graph(work: &Path, out: &Path) -> Result<(), RecordError> {
    let pipeline = gst::Pipeline::with_name("record-download");
    let src = gst::ElementFactory::make("splitmuxsrc")
        .property("location", work.join("*.mp4").to_string_lossy().to_string())
        .build()?;
    let mux = gst::ElementFactory::make("mp4mux")
        .property("faststart", true)
        .build()?;
    let sink = gst::ElementFactory::make("filesink")
        .property("location", out.to_string_lossy().to_string())
        .build()?;
    pipeline.add_many([&src, &mux, &sink])?;
    mux.link(&sink)?;
    let weak_pipe = pipeline.downgrade();
    let weak_mux = mux.downgrade();
    src.connect_pad_added(move |_, pad| {
        let (Some(pipeline), Some(mux)) = (weak_pipe.upgrade(), weak_mux.upgrade()) else {
            return;
        };
        let name = pad.name();
        let (parser, template) = if name.starts_with("video") {
            ("h264parse", "video_%u")
        } else if name.starts_with("audio") {
            ("aacparse", "audio_%u")
        } else {
            return;
        };
        let linked = (|| -> Result<(), RecordError> {
            let parse = gst::ElementFactory::make(parser).build()?;
            pipeline.add(&parse)?;
            parse.sync_state_with_parent()?;
            let sink = parse
                .static_pad("sink")
                .ok_or_else(|| RecordError::Gst("parser without sink".into()))?;
            pad.link(&sink)?;
            let mux_pad = mux
                .request_pad_simple(template)
                .ok_or_else(|| RecordError::Gst("mp4mux refused a pad".into()))?;
            let src = parse
                .static_pad("src")
                .ok_or_else(|| RecordError::Gst("parser without src".into()))?;
            src.link(&mux_pad)?;
            Ok(())
        })();
        if let Err(e) = linked {
            tracing::error!(pad = %name, error = %e, "download remux: cannot link");
        }
    });
    let bus = pipeline
        .bus()
        .ok_or_else(|| RecordError::Gst("pipeline without bus".into()))?;
    pipeline.set_state(gst::State::Playing)?;
    let end = tokio::time::timeout(
        REMUX_TIMEOUT,
        crate::gst_bus::wait_end(bus, "download remux", "record-download"),
    )
    .await;
    let _ = pipeline.set_state(gst::State::Null);
    match end {
        Ok(crate::gst_bus::GraphEnd::Eos) => Ok(()),
        Ok(_) => Err(RecordError::Gst("remux failed (see the log)".into())),
        Err(_) => Err(RecordError::Gst("remux timed out".into())),
    }
}

/// `<stream dir>/download.mp4`, when it was built from this very index.
pub fn cached(dir: &Path, index: &str) -> Option<PathBuf> {
    let out = dir.join("download.mp4");
    let built_from = std::fs::read_to_string(dir.join("download.index")).ok()?;
    (built_from == index && out.exists()).then_some(out)
}
