//! Writing one session's recording to disk.
//!
//! **Crash safety.** A segment is written to `<seq>.m4s.tmp`, fsync'd, renamed to `<seq>.m4s`,
//! and only then is its line appended to `index.tsv` (and the index fsync'd). A crash loses at
//! most the segment being written; the index never names a file that is not complete on disk.
//! The init segment is written the same way before the session's first index line.
//!
//! With S3 configured, each file is handed to the [`Uploader`] once complete (a segment before
//! the index that names it): only a path is queued, the write path never waits for the network.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::index::{segment_file, Segment};
use super::s3::Uploader;
use crate::stream::ClockAnchor;

/// The files of one recorded publish session.
pub struct SessionFiles {
    dir: PathBuf,
    index: PathBuf,
    session: String,
    anchor: ClockAnchor,
    next_seq: u64,
    init_written: bool,
    upload: Option<Uploader>,
}

/// Unix ms of a wall-clock time (0 before 1970).
pub fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl SessionFiles {
    /// Creates `<stream_dir>/<session>/` where `session` is the anchor's Unix ms.
    pub fn create(
        stream_dir: &Path,
        anchor: ClockAnchor,
        upload: Option<Uploader>,
    ) -> io::Result<Self> {
        let mut ms = unix_ms(anchor.wall);
        // Two sessions anchored in the same millisecond (never in practice): keep both.
        while stream_dir.join(ms.to_string()).exists() {
            ms += 1;
        }
        let session = ms.to_string();
        let dir = stream_dir.join(&session);
        fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            index: stream_dir.join("index.tsv"),
            session,
            anchor,
            next_seq: 1,
            init_written: false,
            upload,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn session(&self) -> &str {
        &self.session
    }

    pub fn write_init(&mut self, bytes: &[u8]) -> io::Result<()> {
        let path = self.dir.join("init.mp4");
        write_durable(&path, bytes)?;
        self.init_written = true;
        if let Some(u) = &self.upload {
            u.finished(&path);
        }
        Ok(())
    }

    /// Writes a complete segment starting at media time `pts`, then lists it in the index.
    pub fn write_segment(
        &mut self,
        pts: Duration,
        duration: Duration,
        bytes: &[u8],
    ) -> io::Result<Segment> {
        if !self.init_written {
            return Err(io::Error::other("segment before the init segment"));
        }
        let seq = self.next_seq;
        let path = self.dir.join(segment_file(seq));
        write_durable(&path, bytes)?;
        let seg = Segment {
            session: self.session.clone(),
            seq,
            pts,
            duration,
            pdt_ms: unix_ms(self.anchor.wall_at(pts)),
            bytes: bytes.len() as u64,
        };
        let mut index = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.index)?;
        index.write_all(seg.line().as_bytes())?;
        index.sync_data()?;
        self.next_seq += 1;
        if let Some(u) = &self.upload {
            u.finished(&path);
            u.updated(&self.index);
        }
        Ok(seg)
    }
}

/// Writes `path` atomically: a `.tmp` sibling, fsync, rename.
pub fn write_durable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    drop(f);
    fs::rename(&tmp, path)
}
