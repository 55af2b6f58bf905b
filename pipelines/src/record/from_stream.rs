//! The recorder's reader on the stream bus: per publish session, a [`Muxer`] (and a
//! [`Thumbnailer`] when the session has video).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::config::RecordConfig;
use super::files::SessionFiles;
use super::muxer::Muxer;
use super::s3::Uploader;
use super::store::Recordings;
use super::thumbs::Thumbnailer;
use crate::stream::{Event, Reader, Session, Stream};
use crate::unit::{Codec, TrackKind};

/// How long a finished session may take to flush its last segment.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// One stream's recorder. Cheap to share; its task ends when the stream's bus is dropped.
pub struct Recorder {
    dir: PathBuf,
    recording: AtomicBool,
}

impl Recorder {
    /// The stream's recording directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Whether a session is being written right now (its last segment may still come).
    pub fn is_recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }
}

/// Starts recording `stream` into `<root>/<stream id>/` of `recordings` (and its S3 bucket,
/// when it has one). Needs a tokio runtime.
pub fn spawn(stream: &Stream, recordings: &Recordings, config: RecordConfig) -> Arc<Recorder> {
    let reader = stream.subscribe("recorder", config.queue_units);
    let recorder = Arc::new(Recorder {
        dir: recordings.root().join(stream.id()),
        recording: AtomicBool::new(false),
    });
    tokio::spawn(run(
        reader,
        Arc::clone(&recorder),
        stream.id().to_owned(),
        config,
        recordings.clone(),
    ));
    recorder
}

struct Live {
    epoch: u64,
    dir: PathBuf,
    muxer: Muxer,
    thumbs: Option<Thumbnailer>,
}

async fn run(
    mut reader: Reader,
    recorder: Arc<Recorder>,
    id: String,
    config: RecordConfig,
    recordings: Recordings,
) {
    let upload = recordings.uploader().cloned();
    let mut live: Option<Live> = None;
    while let Some(event) = reader.recv().await {
        match event {
            Event::Start(session) => {
                if let Some(old) = live.take() {
                    finish(old, &id, upload.as_ref()).await;
                }
                if let Err(e) = recordings.restore_index(&id).await {
                    tracing::warn!(stream = %id, error = %e, "recording: index not restored from S3; this session's index starts afresh");
                }
                live = start(&recorder, &id, &session, &config, upload.clone());
                recorder.recording.store(live.is_some(), Ordering::Relaxed);
            }
            Event::Unit(unit) => {
                if let Some(l) = live.as_mut() {
                    l.muxer.push(&unit);
                    if unit.track == TrackKind::Video {
                        if let Some(t) = l.thumbs.as_mut() {
                            t.offer(&unit);
                        }
                    }
                }
            }
            Event::End { epoch } => {
                if live.as_ref().is_some_and(|l| l.epoch == epoch) {
                    if let Some(old) = live.take() {
                        finish(old, &id, upload.as_ref()).await;
                    }
                    recorder.recording.store(false, Ordering::Relaxed);
                }
            }
        }
    }
    if let Some(old) = live.take() {
        finish(old, &id, upload.as_ref()).await;
    }
    recorder.recording.store(false, Ordering::Relaxed);
    tracing::debug!(stream = %id, "recorder ended");
}

fn start(
    recorder: &Recorder,
    id: &str,
    session: &Session,
    config: &RecordConfig,
    upload: Option<Uploader>,
) -> Option<Live> {
    if let Err(e) = crate::gst_init::init() {
        tracing::error!(stream = id, error = %e, "recording: GStreamer unavailable");
        return None;
    }
    let files = match SessionFiles::create(&recorder.dir, session.anchor, upload) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(stream = id, dir = %recorder.dir.display(), error = %e, "recording: cannot create the session directory, session not recorded");
            return None;
        }
    };
    let session_dir = files.dir().to_owned();
    let name = format!("{id}-{}", session.epoch);
    let muxer = match Muxer::start(&name, session, files, config.segment_duration()) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(stream = id, epoch = session.epoch, error = %e, "recording: graph failed to start, session not recorded");
            let _ = std::fs::remove_dir(&session_dir);
            return None;
        }
    };
    let thumbs = match (config.thumbnail_interval(), session.track(TrackKind::Video)) {
        (Some(every), Some(track)) if matches!(track.codec, Codec::H264 { .. }) => {
            match Thumbnailer::start(
                &name,
                track,
                config.thumbnail_width,
                every,
                session_dir.clone(),
                recorder.dir.join("latest.jpg"),
            ) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!(stream = id, error = %e, "recording: thumbnailer failed to start, no thumbnails");
                    None
                }
            }
        }
        _ => None,
    };
    tracing::info!(stream = id, epoch = session.epoch, session = %muxer.session(), "recording: session started");
    Some(Live {
        epoch: session.epoch,
        dir: session_dir,
        muxer,
        thumbs,
    })
}

async fn finish(live: Live, id: &str, upload: Option<&Uploader>) {
    if let Some(t) = live.thumbs {
        t.finish(FLUSH_TIMEOUT).await;
        let thumbs = super::store::thumbs_of(&live.dir.join("thumbs")).await;
        match super::sprite::build(&live.dir, thumbs).await {
            Ok(sheets) => tracing::debug!(stream = id, sheets, "recording: sprite sheets built"),
            Err(e) => {
                tracing::warn!(stream = id, error = %e, "recording: no sprite sheet, the thumbnail track lists single images")
            }
        }
    }
    let session = live.muxer.session();
    let segments = live.muxer.finish(FLUSH_TIMEOUT).await;
    tracing::info!(stream = id, epoch = live.epoch, session = %session, segments, "recording: session finished");
    // The session's images are final now (the sprite sheets were built from the thumbnails).
    if let Some(u) = upload {
        for ms in super::store::thumbs_of(&live.dir.join("thumbs")).await {
            u.finished(&live.dir.join("thumbs").join(format!("{ms}.jpg")));
        }
        // The sheets before the table that names them.
        let mut sheets = Vec::new();
        if let Ok(mut entries) = tokio::fs::read_dir(&live.dir).await {
            while let Ok(Some(e)) = entries.next_entry().await {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("sprite-") && name.ends_with(".jpg") {
                    sheets.push(e.path());
                }
            }
        }
        sheets.sort();
        sheets.push(live.dir.join("sprite.tsv"));
        for path in sheets {
            u.finished(&path);
        }
    }
}
