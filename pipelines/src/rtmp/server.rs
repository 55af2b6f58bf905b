//! The accept loop: one task per connection, failures stay in their task.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::config::RtmpConfig;
use super::conn;
use super::session::Ctx;
use super::stats::RtmpStats;
use crate::ingest::PublishTarget;

/// An RTMP ingest server. Build it, keep [`RtmpServer::stats`], then run [`RtmpServer::serve`].
pub struct RtmpServer {
    ctx: Arc<Ctx>,
}

impl RtmpServer {
    pub fn new(target: Arc<dyn PublishTarget>, config: RtmpConfig) -> Self {
        Self {
            ctx: Arc::new(Ctx {
                target,
                config,
                stats: Arc::new(RtmpStats::default()),
            }),
        }
    }

    /// The server's counters (shared; read them at any time).
    pub fn stats(&self) -> Arc<RtmpStats> {
        Arc::clone(&self.ctx.stats)
    }

    /// Accepts connections forever, one tokio task each.
    pub async fn serve(self, listener: TcpListener) {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, app = %self.ctx.config.app, "rtmp server listening");
        }
        loop {
            match listener.accept().await {
                Ok((tcp, remote)) => {
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!(%remote, error = %e, "set_nodelay failed");
                    }
                    let ctx = Arc::clone(&self.ctx);
                    ctx.stats
                        .connections_accepted
                        .fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(connection(tcp, remote, ctx));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "rtmp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Runs an RTMP server on `listener` forever (see [`RtmpServer`] to read its stats).
pub async fn serve(listener: TcpListener, target: Arc<dyn PublishTarget>, config: RtmpConfig) {
    RtmpServer::new(target, config).serve(listener).await
}

/// Decrements the open-connection gauge even if the connection task panics.
struct OpenGuard(Arc<RtmpStats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connection(mut tcp: tokio::net::TcpStream, remote: SocketAddr, ctx: Arc<Ctx>) {
    ctx.stats.connections_open.fetch_add(1, Ordering::Relaxed);
    let _open = OpenGuard(Arc::clone(&ctx.stats));
    tracing::debug!(%remote, "rtmp connection accepted");
    let mut out = Vec::with_capacity(4096);
    match conn::run(&mut tcp, remote, Arc::clone(&ctx), &mut out).await {
        Ok(()) => tracing::info!(%remote, "rtmp connection closed"),
        Err(e) => {
            let kind = e.kind();
            ctx.stats.count_refusal(kind);
            tracing::warn!(%remote, reason = %e, kind = kind.label(), "rtmp connection refused or ended");
            if !out.is_empty() {
                conn::close_refused(&mut tcp, &mut out).await;
            }
        }
    }
}
