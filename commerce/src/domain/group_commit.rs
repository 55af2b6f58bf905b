//! Group commit: callers hand a job to a [`Batcher`] and wait for its answer; one task takes
//! whatever jobs arrived while the previous batch was committing and runs them as one batch
//! (one SQL transaction). Each caller's answer comes after its batch's commit, so nothing is
//! acknowledged before it is stored; a failed batch answers every one of its callers.

use crate::error::CommerceError;
use std::future::Future;
use tokio::sync::{mpsc, oneshot};

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
    /// Start the batch task. `run` gets at most `max` jobs and must answer each, in order. The
    /// queue is bounded by its callers: each one waits for its answer before sending another.
    pub(crate) fn spawn<F, Fut>(max: usize, run: F) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + 'static,
        Fut: Future<Output = Committed<R>> + Send,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<(J, Reply<R>)>();
        tokio::spawn(async move {
            let mut previous: Option<tokio::task::JoinHandle<()>> = None;
            while let Some(first) = rx.recv().await {
                let mut jobs = vec![first];
                while jobs.len() < max.max(1) {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                let (jobs, replies): (Vec<J>, Vec<Reply<R>>) = jobs.into_iter().unzip();
                let n = jobs.len();
                let (results, after) = run(jobs).await;
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
                    let before = previous.take();
                    previous = Some(tokio::spawn(async move {
                        if let Some(b) = before {
                            let _ = b.await;
                        }
                        after.await;
                    }));
                }
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
        let b = std::sync::Arc::new(Batcher::spawn(64, move |jobs: Vec<u32>| {
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
}
