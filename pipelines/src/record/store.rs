//! The recordings on disk, as the engine serves them: the replay playlist, media files,
//! thumbnails, deletion and the retention sweep. No HTTP here: the engine maps routes to these.
//!
//! Layout: `<root>/<stream id>/index.tsv`, `<root>/<stream id>/latest.jpg`,
//! `<root>/<stream id>/<session>/{init.mp4, 00001.m4s, ..., thumbs/<pts ms>.jpg}`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::config::S3Config;
use super::error::RecordError;
use super::index::{self, valid_session, Segment};
use super::s3::{Bucket, ObjectBody, Remote, S3Client, Uploader};
use super::sprite;

/// The recordings of every stream under one root directory, and in S3 when configured.
#[derive(Debug, Clone)]
pub struct Recordings {
    root: PathBuf,
    remote: Option<Remote>,
}

/// A recording file to send: on the local disk, or streamed from S3.
pub enum Opened {
    Local(PathBuf),
    Remote(ObjectBody),
}

/// A file of a recording, with its content type.
#[derive(Debug, Clone)]
pub struct MediaFile {
    pub path: PathBuf,
    pub content_type: &'static str,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Recordings {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            remote: None,
        }
    }

    /// Uploads finished files to the bucket of `config` and reads from it what is not on the
    /// local disk. Starts the uploader and a bucket check that logs a refusal (needs a tokio
    /// runtime). A malformed endpoint or bucket name is an error.
    pub fn with_s3(mut self, config: &S3Config) -> Result<Self, RecordError> {
        let client = S3Client::new(config)?;
        let bucket = Bucket::new(client, self.root.clone(), &config.prefix);
        let check = bucket.clone();
        tokio::spawn(async move {
            let name = check.client.bucket().to_owned();
            match tokio::time::timeout(super::s3::CHECK_TIMEOUT, check.client.head_bucket()).await {
                Ok(Ok(())) => {
                    tracing::info!(bucket = %name, prefix = check.prefix(), "recording: S3 bucket reachable, finished files are uploaded there")
                }
                Ok(Err(e)) => {
                    tracing::error!(bucket = %name, error = %e, "recording: S3 bucket check failed (credentials, bucket or endpoint); recordings stay on the local disk until uploads are accepted")
                }
                Err(_) => tracing::error!(bucket = %name, "recording: S3 bucket check timed out"),
            }
        });
        self.remote = Some(Remote::start(bucket, config.keep_local));
        Ok(self)
    }

    /// The uploader, when S3 is configured.
    pub fn uploader(&self) -> Option<&Uploader> {
        self.remote.as_ref().map(|r| &r.uploader)
    }

    /// A file's content from the local disk, else from S3; `None` when neither has it.
    pub async fn read_file(&self, path: &Path) -> Result<Option<Vec<u8>>, RecordError> {
        match tokio::fs::read(path).await {
            Ok(b) => return Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        match &self.remote {
            Some(r) => Ok(r.bucket.read(path).await?.map(|b| b.to_vec())),
            None => Ok(None),
        }
    }

    /// Opens a media file: the local copy, else the S3 object (streamed).
    pub async fn open(&self, file: &MediaFile) -> Result<Opened, RecordError> {
        let remote = match &self.remote {
            Some(r) if !file.path.exists() => r,
            _ => return Ok(Opened::Local(file.path.clone())),
        };
        match remote.bucket.open(&file.path).await? {
            Some(body) => Ok(Opened::Remote(body)),
            None => Err(RecordError::NotFound),
        }
    }

    /// Before a new session appends to a stream's index that is only in S3 (recorded by
    /// another engine, or the local disk was wiped), brings the index back to the local disk.
    pub async fn restore_index(&self, id: &str) -> Result<(), RecordError> {
        let path = self.stream_dir(id)?.join("index.tsv");
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        if path.exists() {
            return Ok(());
        }
        if let Some(bytes) = remote.bucket.read(&path).await? {
            tokio::fs::create_dir_all(self.stream_dir(id)?).await?;
            tokio::fs::write(&path, bytes).await?;
            tracing::info!(
                stream = id,
                "recording: index restored from S3 before a new session"
            );
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<id>`, for a well-formed id.
    pub fn stream_dir(&self, id: &str) -> Result<PathBuf, RecordError> {
        if !valid_id(id) {
            return Err(RecordError::NotFound);
        }
        Ok(self.root.join(id))
    }

    /// Every complete segment of the stream, in recording order.
    pub async fn segments(&self, id: &str) -> Result<Vec<Segment>, RecordError> {
        Ok(index::parse(&self.index_text(id).await?))
    }

    async fn index_text(&self, id: &str) -> Result<String, RecordError> {
        let path = self.stream_dir(id)?.join("index.tsv");
        let bytes = self.read_file(&path).await?.ok_or(RecordError::NotFound)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The replay playlist (`ended`: VOD with ENDLIST, else EVENT).
    pub async fn playlist(&self, id: &str, ended: bool) -> Result<String, RecordError> {
        index::playlist(&self.segments(id).await?, ended).ok_or(RecordError::NotFound)
    }

    /// `<session>/init.mp4`, `<session>/<seq>.m4s` or `<session>/thumbs/<ms>.jpg`; any other
    /// name is not found.
    pub fn media(&self, id: &str, session: &str, file: &str) -> Result<MediaFile, RecordError> {
        if !valid_session(session) {
            return Err(RecordError::NotFound);
        }
        let dir = self.stream_dir(id)?.join(session);
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
        let (path, content_type) =
            if file == "init.mp4" || file.strip_suffix(".m4s").is_some_and(digits) {
                (dir.join(file), "video/mp4")
            } else if file
                .strip_prefix("sprite-")
                .and_then(|f| f.strip_suffix(".jpg"))
                .is_some_and(digits)
            {
                (dir.join(file), "image/jpeg")
            } else if let Some(jpg) = file
                .strip_prefix("thumbs/")
                .filter(|f| f.strip_suffix(".jpg").is_some_and(digits))
            {
                (dir.join("thumbs").join(jpg), "image/jpeg")
            } else {
                return Err(RecordError::NotFound);
            };
        Ok(MediaFile { path, content_type })
    }

    /// The newest poster thumbnail (may not exist yet).
    pub fn latest_thumbnail(&self, id: &str) -> Result<PathBuf, RecordError> {
        Ok(self.stream_dir(id)?.join("latest.jpg"))
    }

    /// A WebVTT thumbnail track for the replay scrubber: one cue per thumbnail, on the replay's
    /// timeline (sessions back to back, as in the playlist).
    pub async fn thumbnails_vtt(&self, id: &str) -> Result<String, RecordError> {
        let segments = self.segments(id).await?;
        let dir = self.stream_dir(id)?;
        let mut cues: Vec<(Duration, String)> = Vec::new();
        let mut offset = Duration::ZERO;
        let mut sessions: Vec<(&str, Duration, Duration)> = Vec::new();
        for s in &segments {
            match sessions.last_mut() {
                Some(last) if last.0 == s.session => last.2 += s.duration,
                _ => sessions.push((&s.session, s.pts, s.duration)),
            }
        }
        for (session, first_pts, length) in sessions {
            // Sprite sheets when the session's were built, else one image per cue.
            let tiles = match self.read_file(&dir.join(session).join("sprite.tsv")).await {
                Ok(Some(t)) => sprite::parse_tiles(&String::from_utf8_lossy(&t)),
                Ok(None) => Vec::new(),
                Err(e) => {
                    tracing::warn!(stream = id, session, error = %e, "recording: sprite table unreadable");
                    Vec::new()
                }
            };
            let mut images: Vec<(u64, String)> = if tiles.is_empty() {
                let thumbs = self.thumbs_of(&dir.join(session).join("thumbs")).await;
                thumbs
                    .into_iter()
                    .map(|ms| (ms, format!("{session}/thumbs/{ms}.jpg")))
                    .collect()
            } else {
                tiles
                    .into_iter()
                    .map(|t| {
                        (
                            t.ms,
                            format!("{session}/{}#xywh={},{},{},{}", t.sheet, t.x, t.y, t.w, t.h),
                        )
                    })
                    .collect()
            };
            images.sort_unstable();
            for (ms, uri) in images {
                let at = Duration::from_millis(ms).saturating_sub(first_pts);
                if at < length {
                    cues.push((offset + at, uri));
                }
            }
            offset += length;
        }
        Ok(vtt(&cues, offset))
    }

    /// The whole recording as one progressive MP4 (remuxed once, then cached). Call it only
    /// when the recording has ended. Concurrent first calls are serialized.
    pub async fn download(&self, id: &str) -> Result<MediaFile, RecordError> {
        static BUILDING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let dir = self.stream_dir(id)?;
        let _one_at_a_time = BUILDING.lock().await;
        let index = self.index_text(id).await?;
        if let Some(path) = super::download::cached(&dir, &index) {
            return Ok(MediaFile {
                path,
                content_type: "video/mp4",
            });
        }
        let segments = index::parse(&index);
        if segments.is_empty() {
            return Err(RecordError::NotFound);
        }
        let out = dir.join("download.mp4");
        super::download::remux(self, &dir, &segments, &index, &out).await?;
        tracing::info!(
            stream = id,
            segments = segments.len(),
            "recording remuxed to MP4"
        );
        Ok(MediaFile {
            path: out,
            content_type: "video/mp4",
        })
    }

    /// Deletes every recording of the stream, on disk and in S3. Returns whether there was one.
    pub async fn delete(&self, id: &str) -> Result<bool, RecordError> {
        let dir = self.stream_dir(id)?;
        let local = match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => {
                tracing::info!(stream = id, dir = %dir.display(), "recording deleted");
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(e.into()),
        };
        let Some(remote) = &self.remote else {
            return Ok(local);
        };
        remote.uploader.forget(&dir);
        let objects = remote.bucket.delete_dir(&dir).await?;
        if objects > 0 {
            tracing::info!(stream = id, objects, "recording deleted from S3");
        }
        Ok(local || objects > 0)
    }

    /// Thumbnail times in a session's `thumbs/` directory: on disk, else in S3.
    async fn thumbs_of(&self, dir: &Path) -> Vec<u64> {
        let local = thumbs_of(dir).await;
        let Some(remote) = self.remote.as_ref().filter(|_| local.is_empty()) else {
            return local;
        };
        match remote.bucket.names_in(dir).await {
            Ok(names) => names
                .iter()
                .filter_map(|n| n.strip_suffix(".jpg")?.parse().ok())
                .collect(),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "recording: thumbnails not listed from S3");
                Vec::new()
            }
        }
    }

    /// The retention sweep of the S3 side: the same policy as [`sweep`] on each stream's
    /// objects, by their newest LastModified and their total size.
    pub async fn sweep_remote(
        &self,
        now: SystemTime,
        retention: Option<Duration>,
        max_bytes: u64,
        busy: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Swept, RecordError> {
        let mut swept = Swept::default();
        let Some(remote) = &self.remote else {
            return Ok(swept);
        };
        let all = remote
            .bucket
            .streams()
            .await?
            .into_iter()
            .filter(|(_, id, _)| valid_id(id) && !busy(id))
            .collect();
        for (id, bytes, expired, over) in expired_or_over(all, now, retention, max_bytes) {
            let objects = remote.bucket.delete_dir(&self.root.join(&id)).await?;
            tracing::info!(stream = %id, bytes, objects, expired, over_quota = over, "recording removed from S3 by the retention sweep");
            swept.bytes += bytes;
            swept.streams.push(id);
        }
        Ok(swept)
    }
}

/// Which recordings a sweep removes, oldest first: those last written before
/// `now - retention`, then the least recently written while the total exceeds `max_bytes`
/// (0 = no limit). In: (last written, id, bytes). Out: (id, bytes, expired, over quota).
fn expired_or_over(
    mut all: Vec<(SystemTime, String, u64)>,
    now: SystemTime,
    retention: Option<Duration>,
    max_bytes: u64,
) -> Vec<(String, u64, bool, bool)> {
    all.sort();
    let mut total: u64 = all.iter().map(|a| a.2).sum();
    let mut out = Vec::new();
    for (written, id, bytes) in all {
        let expired =
            retention.is_some_and(|r| now.duration_since(written).is_ok_and(|age| age > r));
        let over = max_bytes > 0 && total > max_bytes;
        if expired || over {
            total -= bytes;
            out.push((id, bytes, expired, over));
        }
    }
    out
}

pub(super) async fn thumbs_of(dir: &Path) -> Vec<u64> {
    let mut out = Vec::new();
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return out;
    };
    while let Ok(Some(e)) = entries.next_entry().await {
        if let Some(ms) = e
            .file_name()
            .to_str()
            .and_then(|n| n.strip_suffix(".jpg"))
            .and_then(|n| n.parse().ok())
        {
            out.push(ms);
        }
    }
    out
}

fn vtt_time(d: Duration) -> String {
    let ms = d.as_millis();
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// WebVTT with one cue per image, each lasting until the next (the last until `end`).
pub fn vtt(cues: &[(Duration, String)], end: Duration) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for (i, (at, uri)) in cues.iter().enumerate() {
        let until = cues.get(i + 1).map(|c| c.0).unwrap_or(end).max(*at);
        out.push_str(&format!(
            "{} --> {}\n{uri}\n\n",
            vtt_time(*at),
            vtt_time(until)
        ));
    }
    out
}

/// What one retention sweep removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    pub streams: Vec<String>,
    pub bytes: u64,
}

fn size_of(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => size_of(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// Deletes recordings last written before `now - retention`, then, while all recordings exceed
/// `max_bytes` (0 = no limit), the least recently written. `busy(id)` protects a stream being
/// recorded. Blocking file I/O: run it off the async runtime. Time is an argument, so tests
/// sweep "next month" without waiting.
pub fn sweep(
    root: &Path,
    now: SystemTime,
    retention: Option<Duration>,
    max_bytes: u64,
    busy: &dyn Fn(&str) -> bool,
) -> std::io::Result<Swept> {
    let mut swept = Swept::default();
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(swept),
        Err(e) => return Err(e),
    };
    // (last written, id, bytes)
    let mut all: Vec<(SystemTime, String, u64)> = Vec::new();
    for e in entries.flatten() {
        let Some(id) = e.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let path = e.path();
        if !path.is_dir() || !valid_id(&id) || busy(&id) {
            continue;
        }
        let written = std::fs::metadata(path.join("index.tsv"))
            .or_else(|_| e.metadata())
            .and_then(|m| m.modified())
            .unwrap_or(now);
        let bytes = size_of(&path);
        all.push((written, id, bytes));
    }
    for (id, bytes, expired, over) in expired_or_over(all, now, retention, max_bytes) {
        std::fs::remove_dir_all(root.join(&id))?;
        tracing::info!(stream = %id, bytes, expired, over_quota = over, "recording removed by the retention sweep");
        swept.bytes += bytes;
        swept.streams.push(id);
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtt_cues_follow_each_other() {
        let cues = [
            (Duration::ZERO, "1/thumbs/0.jpg".to_owned()),
            (Duration::from_millis(5000), "1/thumbs/5000.jpg".to_owned()),
        ];
        let v = vtt(&cues, Duration::from_millis(7500));
        assert_eq!(v, "WEBVTT\n\n00:00:00.000 --> 00:00:05.000\n1/thumbs/0.jpg\n\n00:00:05.000 --> 00:00:07.500\n1/thumbs/5000.jpg\n\n");
    }

    #[test]
    fn media_names_cannot_escape() {
        let r = Recordings::new("/rec");
        assert!(r.media("abc", "123", "init.mp4").is_ok());
        assert!(r.media("abc", "123", "00001.m4s").is_ok());
        assert_eq!(
            r.media("abc", "123", "thumbs/5000.jpg")
                .unwrap()
                .content_type,
            "image/jpeg"
        );
        assert!(r.media("abc", "..", "init.mp4").is_err());
        assert!(r.media("../x", "123", "init.mp4").is_err());
        assert!(r.media("abc", "123", "../../etc/passwd").is_err());
        assert!(r.media("abc", "123", "thumbs/../1.jpg").is_err());
        assert!(r.media("abc", "123", ".m4s").is_err());
        assert!(r.media("abc", "123", "sprite-1.jpg").is_ok());
        assert!(r.media("abc", "123", "sprite-../1.jpg").is_err());
    }

    #[test]
    fn sweep_removes_expired_and_over_quota_but_not_busy() {
        let root = std::env::temp_dir().join(format!("showroom-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (id, size) in [
            ("old", 1000usize),
            ("busy", 1000),
            ("big", 5000),
            ("small", 10),
        ] {
            std::fs::create_dir_all(root.join(id).join("1")).unwrap();
            std::fs::write(root.join(id).join("index.tsv"), "").unwrap();
            std::fs::write(root.join(id).join("1").join("00001.m4s"), vec![0u8; size]).unwrap();
        }
        let busy = |id: &str| id == "busy";
        // Nothing is old yet, no quota: nothing goes.
        let now = SystemTime::now();
        let s = sweep(&root, now, Some(Duration::from_secs(3600)), 0, &busy).unwrap();
        assert!(s.streams.is_empty());
        // A quota of 2000 bytes over 7010 (busy not counted: 6010): the least recent go first
        // until the rest fits.
        let s = sweep(&root, now, None, 2000, &busy).unwrap();
        assert!(s.bytes >= 4000, "{s:?}");
        assert!(root.join("busy").exists());
        // Next month, everything but the busy stream is expired.
        let later = now + Duration::from_secs(31 * 86_400);
        sweep(
            &root,
            later,
            Some(Duration::from_secs(30 * 86_400)),
            0,
            &busy,
        )
        .unwrap();
        let left: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("busy")]);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
