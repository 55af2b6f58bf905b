//! Recordings in S3-compatible object storage (`[recording.s3]`): a small client of our own
//! ([`client`], signed with [`sigv4`]), the background [`upload`] of finished files, and the
//! read side the store falls back to when a file is not on the local disk.
//!
//! **Layout.** A local file `<recordings root>/<rel path>` is the object `<prefix><rel path>`:
//! `<prefix><stream id>/index.tsv`, `<prefix><stream id>/<session>/{init.mp4, 00001.m4s, ...,
//! thumbs/<ms>.jpg, sprite-<n>.jpg, sprite.tsv}`. The disk is the writer's staging area: files
//! are written there first (crash-safe, see [`super::files`]), then uploaded.

pub mod client;
pub mod sigv4;
pub mod upload;
mod xml;

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

pub use client::{ObjectBody, ObjectInfo, S3Client, S3Error};
pub use upload::Uploader;

/// A bucket seen as a mirror of the recordings root.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub client: S3Client,
    root: PathBuf,
    prefix: String,
}

impl Bucket {
    pub fn new(client: S3Client, root: PathBuf, prefix: &str) -> Self {
        // A string prefix, as S3 has them: "recordings/" makes folders, "rec-" does not.
        let prefix = prefix.trim_start_matches('/').to_owned();
        Self {
            client,
            root,
            prefix,
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The object key of a local path under the root (`None` outside it).
    pub fn key_for(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let mut key = self.prefix.clone();
        for (i, c) in rel.components().enumerate() {
            let Component::Normal(part) = c else {
                return None;
            };
            if i > 0 {
                key.push('/');
            }
            key.push_str(part.to_str()?);
        }
        Some(key)
    }

    fn key_of(&self, path: &Path) -> Result<String, S3Error> {
        self.key_for(path)
            .ok_or_else(|| S3Error::Config(format!("{} is not under the root", path.display())))
    }

    /// The object of a local path, whole; `None` when missing.
    pub async fn read(&self, path: &Path) -> Result<Option<Bytes>, S3Error> {
        self.client.get_bytes(&self.key_of(path)?).await
    }

    /// The object of a local path, streamed; `None` when missing.
    pub async fn open(&self, path: &Path) -> Result<Option<ObjectBody>, S3Error> {
        self.client.get_object(&self.key_of(path)?).await
    }

    /// The file names directly under a local directory's prefix.
    pub async fn names_in(&self, dir: &Path) -> Result<Vec<String>, S3Error> {
        let prefix = format!("{}/", self.key_of(dir)?);
        Ok(self
            .client
            .list(&prefix)
            .await?
            .into_iter()
            .filter_map(|o| {
                let name = o.key.strip_prefix(&prefix)?;
                (!name.contains('/')).then(|| name.to_owned())
            })
            .collect())
    }

    /// Deletes every object under a local directory's prefix; returns how many there were.
    pub async fn delete_dir(&self, dir: &Path) -> Result<usize, S3Error> {
        let prefix = format!("{}/", self.key_of(dir)?);
        let objects = self.client.list(&prefix).await?;
        let n = objects.len();
        // A few at a time: one DeleteObject each (no Content-MD5 needed, any S3 server).
        use futures::StreamExt;
        let results: Vec<Result<(), S3Error>> = futures::stream::iter(objects)
            .map(|o| async move { self.client.delete_object(&o.key).await })
            .buffer_unordered(8)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), S3Error>>()?;
        Ok(n)
    }

    /// Per stream id under the prefix: (newest LastModified, total bytes).
    pub async fn streams(&self) -> Result<Vec<(SystemTime, String, u64)>, S3Error> {
        let mut by_id: std::collections::BTreeMap<String, (SystemTime, u64)> = Default::default();
        for o in self.client.list(&self.prefix).await? {
            let Some(id) = o
                .key
                .strip_prefix(&self.prefix)
                .and_then(|rest| rest.split_once('/'))
                .map(|(id, _)| id.to_owned())
            else {
                continue;
            };
            let e = by_id.entry(id).or_insert((SystemTime::UNIX_EPOCH, 0));
            e.0 = e.0.max(o.last_modified);
            e.1 += o.size;
        }
        Ok(by_id.into_iter().map(|(id, (t, b))| (t, id, b)).collect())
    }
}

/// The S3 side of the recordings: where to read and the uploader that writes.
#[derive(Debug, Clone)]
pub struct Remote {
    pub bucket: Bucket,
    pub uploader: Uploader,
}

impl Remote {
    /// Starts the uploader (needs a tokio runtime).
    pub fn start(bucket: Bucket, keep_local: bool) -> Self {
        let uploader = Uploader::start(bucket.clone(), keep_local);
        Self { bucket, uploader }
    }
}

/// How long after start a bucket check is given.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::config::S3Config;

    #[test]
    fn keys_mirror_the_root() {
        let client = S3Client::new(&S3Config {
            bucket: "b".into(),
            endpoint: "http://127.0.0.1:9".into(),
            ..Default::default()
        })
        .unwrap();
        let b = Bucket::new(client.clone(), "/data/rec".into(), "/showroom/");
        assert_eq!(b.prefix(), "showroom/");
        assert_eq!(
            b.key_for(Path::new("/data/rec/s1/1700/00001.m4s"))
                .as_deref(),
            Some("showroom/s1/1700/00001.m4s")
        );
        assert_eq!(b.key_for(Path::new("/data/other/x")), None);
        assert_eq!(b.key_for(Path::new("/data/rec/s1/../x")), None);
        let b = Bucket::new(client, "/data/rec".into(), "rec-");
        assert_eq!(
            b.key_for(Path::new("/data/rec/s1/index.tsv")).as_deref(),
            Some("rec-s1/index.tsv")
        );
    }
}
