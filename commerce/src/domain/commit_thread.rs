//! The group committers' own thread. Their batch loops, batch calls and kept PostgreSQL
//! connections run on a single-threaded runtime of their own, not among the request tasks: at
//! 10,000 requests/s each hop of a winner's commit (batch start, the database's answer, the
//! settlement's start) would otherwise wait behind hundreds of queued requests on the shared
//! workers. Callers on any runtime submit jobs and await answers through channels.

use std::sync::OnceLock;
use tokio::runtime::Handle;

static COMMIT: OnceLock<Handle> = OnceLock::new();

/// The committers' runtime, started on first use (one per process, for every shop). If the
/// thread cannot be started, the caller's runtime is used instead (as before this thread).
pub(crate) fn handle() -> Handle {
    COMMIT.get_or_init(start).clone()
}

fn start() -> Handle {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("showroom-commit".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => {
                    let _ = tx.send(Some(rt.handle().clone()));
                    rt.block_on(std::future::pending::<()>());
                }
                Err(e) => {
                    tracing::error!(error = %e, "group commit runtime not started");
                    let _ = tx.send(None);
                }
            }
        });
    match spawned.ok().and_then(|_| rx.recv().ok().flatten()) {
        Some(h) => h,
        None => {
            tracing::error!("group commit thread not started; committing on the caller's runtime");
            Handle::current()
        }
    }
}
