//! Group commit: callers hand a job to a [`Batcher`] and wait for its answer; one task takes
//! whatever jobs arrived while the previous batch was committing and runs them as one batch
//! (one SQL transaction). Each caller's answer comes after its batch's commit, so nothing is
//! acknowledged before it is stored; a failed batch answers every one of its callers. With more
//! than one lane, the next batch starts while the previous one is still committing (on another
//! connection), instead of waiting for it.

use crate::error::CommerceError;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

type Reply<R> = oneshot::Sender<Result<R, CommerceError>>;

/// Work a batch leaves for after its callers are answered (e.g. publishing its events). The
/// `after` of successive batches run in batch order, without holding up the next batch.
pub(crate) type After = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A batch's answers, one per job in order, and its [`After`] work.
pub(crate) type Committed<R> = (Vec<Result<R, CommerceError>>, Option<After>);

/// A queue of jobs `J` committed in batches, each job answered with an `R`.
pub(crate) struct Batcher<J, R> {
    tx: mpsc::UnboundedSender<(J, Reply<R>)>,
}

impl<J: Send + 'static, R: Send + 'static> Batcher<J, R> {
    /// Start the batch task. `run` gets a lane (`0..lanes`: which of the caller's kept
    /// connections to use) and at most `max` jobs, and must answer each, in order. Up to `lanes`
    /// batches are in flight at once (pipelined): jobs that arrive while every lane is busy form
    /// the next batch, started as soon as a lane is free; with one lane a batch starts when the
    /// previous one has committed. The `after` work runs in the order the batches finished. The
    /// queue is bounded by its callers: each one waits for its answer before sending another.
    pub(crate) fn spawn<F, Fut>(max: usize, lanes: usize, run: F) -> Self
    where
        F: Fn(usize, Vec<J>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Committed<R>> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<(J, Reply<R>)>();
        let lanes = lanes.max(1);
        // The loop and its batches run on the committers' own thread (see `commit_thread`).
        let rt = super::commit_thread::handle();
        rt.clone().spawn(async move {
            let run = Arc::new(run);
            let busy = Arc::new(Semaphore::new(lanes));
            let free = Arc::new(parking_lot::Mutex::new(
                (0..lanes).rev().collect::<Vec<_>>(),
            ));
            let previous: Arc<parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>> =
                Arc::default();
            while let Some(first) = rx.recv().await {
                // Wait for a lane; whatever arrives meanwhile joins this batch.
                let Ok(permit) = Arc::clone(&busy).acquire_owned().await else {
                    break;
                };
                let mut jobs = vec![first];
                while jobs.len() < max.max(1) {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                let lane = free.lock().pop().unwrap_or(0);
                let (run, free, previous) =
                    (Arc::clone(&run), Arc::clone(&free), Arc::clone(&previous));
                rt.spawn(async move {
                    let (jobs, replies): (Vec<J>, Vec<Reply<R>>) = jobs.into_iter().unzip();
                    let n = jobs.len();
                    let (results, after) = run(lane, jobs).await;
                    free.lock().push(lane);
                    drop(permit);
                    let mut results = results.into_iter();
                    for reply in replies {
                        let r = results.next().unwrap_or_else(|| {
                            Err(CommerceError::Internal(format!(
                                "batch of {n} answered fewer jobs"
                            )))
                        });
                        let _ = reply.send(r); // the caller may have gone (client disconnected)
                    }
                    if let Some(after) = after {
                        let mut prev = previous.lock();
                        let before = prev.take();
                        *prev = Some(tokio::spawn(async move {
                            if let Some(b) = before {
                                let _ = b.await;
                            }
                            after.await;
                        }));
                    }
                });
            }
        });
        Self { tx }
    }

    /// Queue `job` and wait until its batch is committed (or failed).
    pub(crate) async fn submit(&self, job: J) -> Result<R, CommerceError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((job, tx))
            .map_err(|_| CommerceError::Internal("group commit task stopped".into()))?;
        rx.await
            .map_err(|_| CommerceError::Internal("group commit task dropped a job".into()))?
    }
}

/// `rows` tuples of `cols` numbered placeholders starting after `$offset`:
/// `($1, $2), ($3, $4)` for `values(2, 2, 0)`.
pub(crate) fn values(rows: usize, cols: usize, offset: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(offset + r * cols + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

/// Answer every job of a failed batch with the same error.
pub(crate) fn fail_all<R>(
    n: usize,
    what: &str,
    e: &CommerceError,
) -> Vec<Result<R, CommerceError>> {
    tracing::error!(jobs = n, error = %e, "{what}: batch not committed; every caller gets an error");
    (0..n)
        .map(|_| {
            Err(CommerceError::Internal(format!(
                "{what}: batch not committed: {e}"
            )))
        })
        .collect()
}

/// A batch's timing for the `flash_timing` debug logs: when it started (wall clock, µs), how
/// long its oldest job had waited, and the time since start.
pub(crate) struct BatchClock {
    start: std::time::Instant,
    pub at_us: u64,
    pub waited_us: u64,
}

impl BatchClock {
    /// Starts the clock for a batch whose jobs were queued at `queued`.
    pub(crate) fn start(queued: impl Iterator<Item = std::time::Instant>) -> Self {
        let start = std::time::Instant::now();
        let waited = queued.map(|q| start - q).max().unwrap_or_default();
        Self {
            start,
            at_us: crate::now_us(),
            waited_us: waited.as_micros() as u64,
        }
    }

    /// Microseconds since the batch started.
    pub(crate) fn elapsed_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(values(2, 2, 0), "($1, $2), ($3, $4)");
        assert_eq!(values(1, 3, 1), "($2, $3, $4)");
    }

    #[tokio::test]
    async fn jobs_arriving_during_a_batch_form_the_next_one() {
        let (seen_tx, mut seen) = mpsc::unbounded_channel::<usize>();
        let b = std::sync::Arc::new(Batcher::spawn(64, 1, move |_, jobs: Vec<u32>| {
            let seen_tx = seen_tx.clone();
            async move {
                let _ = seen_tx.send(jobs.len());
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let answers = jobs
                    .into_iter()
                    .map(|j| {
                        if j == 7 {
                            Err(CommerceError::Invalid("seven".into()))
                        } else {
                            Ok(j * 2)
                        }
                    })
                    .collect();
                (answers, None)
            }
        }));
        let first = tokio::spawn({
            let b = b.clone();
            async move { b.submit(1).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let rest: Vec<_> = (2..10)
            .map(|j| {
                let b = b.clone();
                tokio::spawn(async move { b.submit(j).await })
            })
            .collect();
        assert_eq!(first.await.unwrap().unwrap(), 2);
        for (j, t) in (2..10).zip(rest) {
            match t.await.unwrap() {
                Ok(v) => assert_eq!(v, j * 2),
                Err(e) => assert_eq!((j, e.code()), (7, "invalid")),
            }
        }
        assert_eq!(seen.recv().await, Some(1));
        assert_eq!(
            seen.recv().await,
            Some(8),
            "the 8 that waited went in one batch"
        );
    }

    /// Two lanes: the jobs that arrive while a batch is in flight start the next batch at once
    /// on the other lane, without waiting for the first to finish (here the first batch cannot
    /// finish until the second has started: with one batch at a time this would time out).
    #[tokio::test]
    async fn with_two_lanes_the_next_batch_does_not_wait_for_the_previous() {
        let second_started = std::sync::Arc::new(tokio::sync::Notify::new());
        let (lanes_tx, mut lanes) = mpsc::unbounded_channel::<(usize, usize)>();
        let b = std::sync::Arc::new(Batcher::spawn(64, 2, {
            let second_started = second_started.clone();
            move |lane, jobs: Vec<u32>| {
                let (second_started, lanes_tx) = (second_started.clone(), lanes_tx.clone());
                async move {
                    let _ = lanes_tx.send((lane, jobs.len()));
                    if jobs.contains(&1) {
                        second_started.notified().await;
                    } else {
                        second_started.notify_one();
                    }
                    (jobs.into_iter().map(|j| Ok(j * 2)).collect(), None)
                }
            }
        }));
        let first = tokio::spawn({
            let b = b.clone();
            async move { b.submit(1).await }
        });
        let (lane_a, n) = lanes.recv().await.unwrap();
        assert_eq!(n, 1);
        let rest: Vec<_> = (2..6)
            .map(|j| {
                let b = b.clone();
                tokio::spawn(async move { b.submit(j).await })
            })
            .collect();
        let answered = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            assert_eq!(first.await.unwrap().unwrap(), 2);
            for (j, t) in (2..6).zip(rest) {
                assert_eq!(t.await.unwrap().unwrap(), j * 2);
            }
        })
        .await;
        assert!(answered.is_ok(), "the second batch waited for the first");
        let (lane_b, _) = lanes.recv().await.unwrap();
        assert_ne!(lane_a, lane_b, "two batches in flight on two lanes");
    }
}
