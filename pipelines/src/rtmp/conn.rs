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
const LINGER: Duration = Duration::from_millis(500);

/// Serves one connection until the peer leaves (`Ok`) or is refused (`Err`).
pub(super) async fn run(
    mut tcp: TcpStream,
    remote: SocketAddr,
    ctx: Arc<Ctx>,
) -> Result<(), RtmpError> {
    let leftover = handshake::run(&mut tcp, &ctx).await?;
    let mut out = Vec::with_capacity(4096);
    let mut session = RtmpSession::new(Arc::clone(&ctx), remote.to_string(), &mut out)?;
    let mut result = session.input(&leftover, Instant::now().into_std(), &mut out);
    let mut buf = vec![0u8; READ_BUFFER];
    let idle = ctx.config.idle_timeout;
    let mut last_rx = Instant::now();
    while result.is_ok() {
        flush(&mut tcp, &mut out, idle).await?;
        let idle_at = last_rx + idle;
        let wake = session
            .next_deadline()
            .map_or(idle_at, |d| idle_at.min(Instant::from_std(d)));
        let read = tokio::time::timeout_at(wake, tcp.read(&mut buf)).await;
        let now = Instant::now();
        result = match read {
            Err(_) if now >= idle_at && session.finished() => return Ok(()),
            Err(_) if now >= idle_at => Err(RtmpError::IdleTimeout(idle)),
            Err(_) => session.tick(now.into_std(), &mut out),
            Ok(Ok(0)) => {
                if session.is_publishing() {
                    tracing::warn!(%remote, "publisher vanished: connection closed without unpublish");
                }
                return Ok(());
            }
            Ok(Ok(n)) => {
                ctx.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                last_rx = now;
                session.input(&buf[..n], now.into_std(), &mut out)
            }
            Ok(Err(e)) => Err(e.into()),
        };
    }
    // End the publish session first: readers see `End` without waiting for the peer.
    drop(session);
    if result.is_err() {
        // Best effort: the peer may already be gone.
        let _ = flush(&mut tcp, &mut out, LINGER).await;
        linger_close(&mut tcp, &mut buf).await;
    }
    result
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

/// Half-closes and drains the peer's bytes for a moment, so the kernel does not reset the
/// connection (and discard our status message) while the peer is still sending.
async fn linger_close(tcp: &mut TcpStream, buf: &mut [u8]) {
    let _ = tcp.shutdown().await;
    let deadline = Instant::now() + LINGER;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, tcp.read(buf)).await {
        if n == 0 {
            break;
        }
    }
}
