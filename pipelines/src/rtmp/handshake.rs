//! The RTMP handshake (C0/C1/C2 against S0/S1/S2), bounded in time.

use std::sync::atomic::Ordering;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::RtmpError;
use super::session::Ctx;

/// Completes the handshake within `handshake_timeout`; returns the bytes the peer sent after it.
pub(super) async fn run(tcp: &mut TcpStream, ctx: &Ctx) -> Result<Vec<u8>, RtmpError> {
    let limit = ctx.config.handshake_timeout;
    tokio::time::timeout(limit, exchange(tcp, ctx))
        .await
        .map_err(|_| RtmpError::HandshakeTimeout(limit))?
}

async fn exchange(tcp: &mut TcpStream, ctx: &Ctx) -> Result<Vec<u8>, RtmpError> {
    let mut handshake = Handshake::new(PeerType::Server);
    let mut buf = [0u8; 4096];
    loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Err(RtmpError::HandshakeClosed);
        }
        ctx.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        match handshake.process_bytes(&buf[..n])? {
            HandshakeProcessResult::InProgress { response_bytes } => {
                tcp.write_all(&response_bytes).await?;
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                tcp.write_all(&response_bytes).await?;
                return Ok(remaining_bytes);
            }
        }
    }
}
