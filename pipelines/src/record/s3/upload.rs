//! Background upload of finished recording files. Producers (the muxer's streaming thread, the
//! recorder task) only push a path on a queue and return: nothing here ever blocks the bus or a
//! GStreamer graph. One worker task uploads in order (a segment before the index line naming
//! it), retries a refused upload with backoff until it goes through, then deletes the local
//! copy unless `keep_local`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::client::S3Client;
use super::Bucket;

const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Job {
    path: PathBuf,
    /// Delete the local file once uploaded (finished files when not `keep_local`).
    delete_after: bool,
}

struct Queue {
    jobs: Mutex<VecDeque<Job>>,
    wake: Notify,
}

/// The producers' handle: cheap to clone.
#[derive(Clone)]
pub struct Uploader {
    queue: Arc<Queue>,
    keep_local: bool,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader")
            .field("pending", &self.pending())
            .finish()
    }
}

impl Uploader {
    /// Starts the worker (needs a tokio runtime).
    pub fn start(bucket: Bucket, keep_local: bool) -> Self {
        let queue = Arc::new(Queue {
            jobs: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
        });
        tokio::spawn(run(Arc::clone(&queue), bucket));
        Self { queue, keep_local }
    }

    /// A file that will not change again: upload it, then delete it locally unless `keep_local`.
    pub fn finished(&self, path: &Path) {
        self.push(Job {
            path: path.to_owned(),
            delete_after: !self.keep_local,
        });
    }

    /// A file that keeps changing (the index): upload its latest content, keep it locally. A
    /// queued upload of the same file is replaced (moved behind what was queued since).
    pub fn updated(&self, path: &Path) {
        let mut jobs = self.queue.jobs.lock();
        jobs.retain(|j| j.path != path);
        jobs.push_back(Job {
            path: path.to_owned(),
            delete_after: false,
        });
        drop(jobs);
        self.queue.wake.notify_one();
    }

    fn push(&self, job: Job) {
        self.queue.jobs.lock().push_back(job);
        self.queue.wake.notify_one();
    }

    /// Forgets queued uploads under `dir` (its recording is being deleted).
    pub fn forget(&self, dir: &Path) {
        self.queue.jobs.lock().retain(|j| !j.path.starts_with(dir));
    }

    /// Files waiting to be uploaded.
    pub fn pending(&self) -> usize {
        self.queue.jobs.lock().len()
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("mp4" | "m4s") => "video/mp4",
        Some("jpg") => "image/jpeg",
        _ => "text/plain; charset=utf-8",
    }
}

async fn run(queue: Arc<Queue>, bucket: Bucket) {
    loop {
        let next = queue.jobs.lock().pop_front();
        let Some(job) = next else {
            queue.wake.notified().await;
            continue;
        };
        let mut wait = FIRST_RETRY;
        let mut attempt = 1u32;
        loop {
            match upload(&bucket.client, &bucket, &job).await {
                Ok(Some(bytes)) => {
                    tracing::debug!(file = %job.path.display(), bytes, "recording uploaded to S3");
                    if !job.path.exists() {
                        // Its recording was deleted while this upload was in flight (after the
                        // delete listed the bucket): take the object back out.
                        forget_object(&bucket, &job.path).await;
                    } else if job.delete_after {
                        if let Err(e) = tokio::fs::remove_file(&job.path).await {
                            tracing::warn!(file = %job.path.display(), error = %e, "recording: local copy not deleted after upload");
                        }
                    }
                    break;
                }
                // Gone locally (its recording was deleted): nothing to upload.
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(
                        file = %job.path.display(),
                        bucket = bucket.client.bucket(),
                        attempt,
                        retry_in_s = wait.as_secs(),
                        error = %e,
                        "recording upload to S3 refused; the local file is kept and the upload retried"
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_RETRY);
                    attempt += 1;
                    // Deleted while we waited: give up on it.
                    if !job.path.exists() {
                        break;
                    }
                }
            }
        }
    }
}

async fn forget_object(bucket: &Bucket, path: &Path) {
    let Some(key) = bucket.key_for(path) else {
        return;
    };
    match bucket.client.delete_object(&key).await {
        Ok(()) => tracing::info!(key, "recording: object of a deleted recording removed"),
        Err(e) => {
            tracing::warn!(key, error = %e, "recording: object of a deleted recording not removed")
        }
    }
}

/// Uploads one file; `Ok(None)` when it no longer exists or lies outside the recordings.
async fn upload(client: &S3Client, bucket: &Bucket, job: &Job) -> Result<Option<usize>, String> {
    let Some(key) = bucket.key_for(&job.path) else {
        tracing::warn!(file = %job.path.display(), "recording: file outside the recordings root not uploaded");
        return Ok(None);
    };
    let bytes = match tokio::fs::read(&job.path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading the local file: {e}")),
    };
    let n = bytes.len();
    client
        .put_object(&key, bytes.into(), content_type(&job.path))
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(n))
}
