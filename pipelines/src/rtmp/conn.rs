//! One TCP connection: handshake, then the session loop with its idle timeout.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::error::RtmpError;
use super::handshake;
use super::session::{Ctx, RtmpSession};

const READ_BUFFER: usize = 64 * 1024;
/// How long a refused peer gets to read our status before the socket closes.
const LINGER: Duration = Duration::from_secs(2);

/// Serves one connection until the peer leaves (`Ok`) or is refused (`Err`). On `Err`, `out`
/// may hold a status for the peer: the caller logs, then calls [`close_refused`].
pub(super) async fn run(
    tcp: &mut TcpStream,
    remote: SocketAddr,
    ctx: Arc<Ctx>,
    out: &mut Vec<u8>,
) -> Result<(), RtmpError> {
    let leftover = handshake::run(tcp, &ctx).await?;
    let mut session = RtmpSession::new(Arc::clone(&ctx), remote.to_string(), out)?;
    let mut result = session.input(&leftover, Instant::now().into_std(), out);
    let mut buf = vec![0u8; READ_BUFFER];
    let idle = ctx.config.idle_timeout;
    let mut last_rx = Instant::now();
    while result.is_ok() {
        flush(tcp, out, idle).await?;
        let idle_at = last_rx + idle;
        let wake = session
            .next_deadline()
            .map_or(idle_at, |d| idle_at.min(Instant::from_std(d)));
        let read = tokio::time::timeout_at(wake, tcp.read(&mut buf)).await;
        let now = Instant::now();
        result = match read {
            Err(_) if now >= idle_at && session.finished() => return Ok(()),
            Err(_) if now >= idle_at => Err(RtmpError::IdleTimeout(idle)),
            Err(_) => session.tick(now.into_std(), out),
            Ok(Ok(0)) => {
                if session.is_publishing() {
                    tracing::warn!(%remote, "publisher vanished: connection closed without unpublish");
                }
                return Ok(());
            }
            Ok(Ok(n)) => {
                ctx.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                last_rx = now;
                session.input(&buf[..n], now.into_std(), out)
            }
            Ok(Err(e)) => Err(e.into()),
        };
    }
    // Dropping the session here ends the publish session: readers see `End` at once.
    result
}

/// Sends what is left in `out` (the refusal status), half-closes, and drains the peer's bytes
/// for a moment so the kernel does not reset the connection (discarding our status) while the
/// peer is still sending. Best effort: the peer may already be gone.
pub(super) async fn close_refused(tcp: &mut TcpStream, out: &mut Vec<u8>) {
    let _ = flush(tcp, out, LINGER).await;
    let _ = tcp.shutdown().await;
    let mut buf = [0u8; 16 * 1024];
    let deadline = Instant::now() + LINGER;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
        if n == 0 {
            break;
        }
    }
}

async fn flush(tcp: &mut TcpStream, out: &mut Vec<u8>, limit: Duration) -> Result<(), RtmpError> {
    if out.is_empty() {
        return Ok(());
    }
    tokio::time::timeout(limit, tcp.write_all(out))
        .await
        .map_err(|_| RtmpError::IdleTimeout(limit))??;
    out.clear();
    Ok(())
}
