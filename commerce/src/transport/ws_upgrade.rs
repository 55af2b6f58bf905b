//! The WebSocket opening handshake (RFC 6455 §4.2) done here rather than by axum's
//! `WebSocketUpgrade`, so the session gets the connection's `TcpStream` itself: the stream's
//! fan-out shards write event frames straight to it ([`super::fanout`]).

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why a request is not a valid WebSocket upgrade (400, except the method: 405).
#[derive(Debug, Clone, PartialEq)]
pub struct NotUpgrade(pub &'static str);

impl IntoResponse for NotUpgrade {
    fn into_response(self) -> Response {
        let status = if self.0.starts_with("method") {
            StatusCode::METHOD_NOT_ALLOWED
        } else {
            StatusCode::BAD_REQUEST
        };
        (status, self.0).into_response()
    }
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// Check the upgrade request; the `Sec-WebSocket-Accept` value to answer with.
pub fn accept_key(method: &Method, headers: &HeaderMap) -> Result<String, NotUpgrade> {
    if method != Method::GET {
        return Err(NotUpgrade("method must be GET for a WebSocket upgrade"));
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(NotUpgrade("Connection header did not include 'upgrade'"));
    }
    if !has_token(headers, header::UPGRADE, "websocket") {
        return Err(NotUpgrade("Upgrade header did not include 'websocket'"));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(NotUpgrade("Sec-WebSocket-Version must be 13"));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(NotUpgrade("Sec-WebSocket-Key header missing"))?;
    Ok(tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

/// The `101 Switching Protocols` answer.
pub fn switching(accept: &str) -> Response {
    let mut r = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

/// After the 101: the connection's socket and the bytes the HTTP layer had already read past
/// the request. Only for axum/hyper serving a `TcpStream` (as the engine does).
pub async fn tcp_stream(
    on: hyper::upgrade::OnUpgrade,
) -> Result<(TcpStream, Bytes), crate::error::CommerceError> {
    let upgraded = on
        .await
        .map_err(|e| crate::error::CommerceError::Internal(format!("upgrade: {e}")))?;
    // axum serves through hyper-util's auto connection, which wraps the IO: its own downcast.
    match hyper_util::server::conn::auto::upgrade::downcast::<TokioIo<TcpStream>>(upgraded) {
        Ok(parts) => Ok((parts.io.into_inner(), parts.read_buf)),
        Err(_) => Err(crate::error::CommerceError::Internal(
            "websocket upgrade on a connection that is not a TcpStream".into(),
        )),
    }
}

/// The handshake of `req`: the 101 response and the pending upgrade, or why not.
pub fn upgrade(mut req: Request) -> Result<(Response, hyper::upgrade::OnUpgrade), NotUpgrade> {
    let accept = accept_key(req.method(), req.headers())?;
    let on = req
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or(NotUpgrade("connection cannot be upgraded"))?;
    Ok((switching(&accept), on))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn accepts_rfc_example_and_refuses_bad_requests() {
        let ok = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        assert_eq!(
            accept_key(&Method::GET, &ok).unwrap(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(accept_key(&Method::POST, &ok).is_err());
        let no_key = headers(&[
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
        ]);
        assert_eq!(
            accept_key(&Method::GET, &no_key).unwrap_err(),
            NotUpgrade("Sec-WebSocket-Key header missing")
        );
        let v8 = headers(&[
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "8"),
            ("sec-websocket-key", "x"),
        ]);
        assert!(accept_key(&Method::GET, &v8).is_err());
    }
}
