//! The WebSocket endpoint `/ws/{id}`: hello, replay since the client's last sequence, live
//! events, and commands with per-connection and per-user rate limits. Bad frames get an error
//! frame; the connection survives.

use crate::auth::{Actor, Role};
use crate::bus::Delivered;
use crate::error::CommerceError;
use crate::ratelimit::TokenBucket;
use crate::transport::wire::{self, Inbound};
use crate::Commerce;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::SinkExt;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{broadcast, mpsc};

/// Hard transport limit: frames above this close the socket (tungstenite); frames above
/// `max_frame_bytes` but below this get an error frame.
const HARD_FRAME_LIMIT: usize = 1 << 20;
const REPLAY_PAGE: u64 = 500;
/// Read chunk per socket. tungstenite zero-fills its read buffer up to this size before every
/// read attempt, including the ones that find nothing (each wake of the session polls the
/// socket): at its 128 KiB default that memset was over half the server's CPU with 10,000
/// subscribers, and 1.3 GB resident. Client frames are small; larger ones (up to the hard
/// limit) still arrive, the buffer grows for them.
const READ_CHUNK: usize = 4096;

/// Query of `/ws/{id}`.
#[derive(Debug, Deserialize)]
pub struct WsParams {
    /// JWT (or admin key). Absent = anonymous, read-only viewer.
    pub token: Option<String>,
    /// Last sequence the client saw; events after it are replayed first.
    pub since: Option<u64>,
}

/// `GET /ws/{id}` (upgrade).
pub async fn ws_handler(
    State(shop): State<Arc<Commerce>>,
    Path(stream_id): Path<String>,
    Query(params): Query<WsParams>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let bearer = params
        .token
        .clone()
        .or_else(|| crate::transport::rest::bearer(&headers).map(str::to_owned));
    let actor = match bearer {
        Some(t) => match shop.authenticate(&t) {
            Ok(a) => a,
            Err(e) => return crate::transport::rest::ApiError(e).into_response(),
        },
        None => Actor {
            user_id: crate::domain_id("anon"),
            name: None,
            role: Role::Viewer,
            stream: Some(stream_id.clone()),
        },
    };
    let known = match actor.require_stream(&stream_id) {
        Ok(()) => shop.require_stream_fresh(&stream_id).await,
        Err(e) => Err(e),
    };
    if let Err(e) = known {
        return crate::transport::rest::ApiError(e).into_response();
    }
    let hard = HARD_FRAME_LIMIT.max(shop.cfg.max_frame_bytes * 2);
    ws.max_message_size(hard)
        .max_frame_size(hard)
        .read_buffer_size(READ_CHUNK)
        .on_upgrade(move |socket| async move {
            let user = actor.user_id.clone();
            if let Err(e) = session(shop, socket, actor, stream_id.clone(), params.since).await {
                tracing::info!(stream_id, user, error = %e, "websocket session ended");
            }
        })
}

struct Session {
    shop: Arc<Commerce>,
    actor: Actor,
    stream_id: String,
    /// Last sequence sent to this client.
    last: u64,
}

impl Session {
    fn visible(&self, to: Option<&str>) -> bool {
        match to {
            None => true,
            // Private events (e.g. orders) also reach the stream's staff: host, moderators, admins.
            Some(u) => {
                u == self.actor.user_id || self.actor.role_on(&self.stream_id) >= Role::Moderator
            }
        }
    }

    /// Send everything after `self.last` from history (up to the present).
    async fn replay(&mut self, socket: &mut Out) -> Result<(), CommerceError> {
        loop {
            let page = self
                .shop
                .db
                .events_range(&self.stream_id, self.last, u64::MAX >> 1, REPLAY_PAGE)
                .await?;
            let n = page.len() as u64;
            for ev in page {
                let d = Delivered::of(&ev);
                self.last = d.seq;
                if self.visible(d.to.as_deref()) {
                    socket.send(d.frame).await?;
                }
            }
            if n < REPLAY_PAGE {
                return Ok(());
            }
        }
    }

    /// The reader fell more than `send_queue` events behind the stream (its socket is slow):
    /// catch it up from history, or, if it is more than `history_len` behind, send `resync`
    /// (the client reloads state over REST) and go on live from the head.
    async fn caught_up(&mut self, socket: &mut Out, skipped: u64) -> Result<(), CommerceError> {
        let head = self.shop.db.head_seq(&self.stream_id).await?;
        let behind = head.saturating_sub(self.last);
        if behind > self.shop.cfg.history_len {
            tracing::warn!(stream = %self.stream_id, user = %self.actor.user_id, skipped, behind,
                last_seq = self.last, "slow websocket reader beyond the kept history; sent resync");
            socket
                .send(wire::resync(
                    head,
                    "this connection fell behind by more than the kept history",
                ))
                .await?;
            self.last = head;
            Ok(())
        } else {
            tracing::warn!(stream = %self.stream_id, user = %self.actor.user_id, skipped, behind,
                last_seq = self.last, "slow websocket reader; replaying from history");
            self.replay(socket).await
        }
    }

    async fn live(&mut self, socket: &mut Out, d: Delivered) -> Result<(), CommerceError> {
        if d.seq <= self.last {
            return Ok(());
        }
        if d.seq > self.last + 1 {
            self.replay(socket).await?;
            if d.seq <= self.last {
                return Ok(());
            }
        }
        self.last = d.seq;
        if self.visible(d.to.as_deref()) {
            // Queued, not flushed: the caller flushes once per batch of ready events.
            socket.feed(d.frame).await?;
        }
        Ok(())
    }
}

/// Events already waiting are written with one flush (one syscall) per batch.
const BATCH: usize = 64;

/// The socket, with a deadline on every write (`ws_write_timeout_ms`). A client that stops
/// reading fills its TCP window, then the kernel's and tungstenite's buffers, and a write waits:
/// past the deadline the session ends and the socket is dropped; the client reconnects with
/// `since=<last seq>`. Only this socket's task ever waits: the stream's fan-out is a
/// `broadcast` that never waits for a reader.
struct Out {
    ws: WebSocket,
    limit: std::time::Duration,
    stream_id: String,
    user: String,
}

impl Out {
    fn deadline(
        &self,
        what: &str,
        r: Result<Result<(), axum::Error>, tokio::time::error::Elapsed>,
    ) -> Result<(), CommerceError> {
        match r {
            Ok(r) => r.map_err(|e| CommerceError::Internal(format!("{what}: {e}"))),
            Err(_) => {
                tracing::warn!(stream = %self.stream_id, user = %self.user,
                    timeout_ms = self.limit.as_millis() as u64,
                    "websocket reader stalled (write did not complete); closing the socket");
                Err(CommerceError::Internal(format!(
                    "{what}: stalled for {} ms, client not reading",
                    self.limit.as_millis()
                )))
            }
        }
    }

    async fn send(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), CommerceError> {
        let r = tokio::time::timeout(self.limit, self.ws.send(Message::Text(text.into()))).await;
        self.deadline("send", r)
    }

    async fn feed(&mut self, text: Utf8Bytes) -> Result<(), CommerceError> {
        let r = tokio::time::timeout(self.limit, self.ws.feed(Message::Text(text))).await;
        self.deadline("send", r)
    }

    async fn flush(&mut self) -> Result<(), CommerceError> {
        let r = tokio::time::timeout(self.limit, self.ws.flush()).await;
        self.deadline("flush", r)
    }
}

async fn session(
    shop: Arc<Commerce>,
    socket: WebSocket,
    actor: Actor,
    stream_id: String,
    since: Option<u64>,
) -> Result<(), CommerceError> {
    let mut socket = Out {
        ws: socket,
        limit: std::time::Duration::from_millis(shop.cfg.ws_write_timeout_ms.max(1)),
        stream_id: stream_id.clone(),
        user: actor.user_id.clone(),
    };
    let hub = shop.hub(&stream_id).await?;
    let mut rx = hub.tx.subscribe();
    let mut viewers = shop.watch_viewers(&stream_id);
    let head = shop.db.head_seq(&stream_id).await?;
    socket
        .send(wire::hello(
            &stream_id,
            &actor.user_id,
            actor.role_on(&stream_id),
            head,
        ))
        .await?;
    let mut s = Session {
        shop: shop.clone(),
        actor,
        stream_id,
        last: head,
    };
    if let Some(since) = since {
        if head.saturating_sub(since) > shop.cfg.history_len {
            socket
                .send(wire::resync(
                    head,
                    "requested sequence is older than the kept history",
                ))
                .await?;
        } else {
            s.last = since.min(head);
            s.replay(&mut socket).await?;
        }
    }
    let now = Instant::now();
    let mut conn_bucket = TokenBucket::new(shop.cfg.conn_rate_per_s, shop.cfg.conn_burst, now);
    let (res_tx, mut res_rx) = mpsc::channel::<String>(64);
    let mut strikes = 0u32;
    loop {
        tokio::select! {
            // Polled in this order, stopping at the first ready branch: a wake for a new event
            // (10,000 of them per event on a busy stream) polls only the event queue, not the
            // socket read side or the command results. A batch drains at most `BATCH` events,
            // so the socket is polled again between batches.
            biased;
            ev = rx.recv() => match ev {
                Ok(d) => {
                    s.live(&mut socket, d).await?;
                    for _ in 1..BATCH {
                        match rx.try_recv() {
                            Ok(d) => s.live(&mut socket, d).await?,
                            Err(_) => break, // empty, lagged or closed: the next recv() reports it
                        }
                    }
                    socket.flush().await?;
                }
                Err(broadcast::error::RecvError::Lagged(n)) => s.caught_up(&mut socket, n).await?,
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            incoming = socket.ws.recv() => {
                let Some(msg) = incoming else { return Ok(()) };
                let msg = msg.map_err(|e| CommerceError::Internal(format!("recv: {e}")))?;
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Binary(_) => {
                        tracing::info!(stream = %s.stream_id, user = %s.actor.user_id, "refused binary frame");
                        socket.send(wire::error(&serde_json::Value::Null, "invalid", "binary frames are not supported")).await?;
                        continue;
                    }
                    Message::Close(_) => return Ok(()),
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                match handle_frame(&s, &mut conn_bucket, text.as_str(), &res_tx) {
                    None => strikes = 0,
                    Some((reply, refused)) => {
                        strikes = if refused { strikes + 1 } else { 0 };
                        socket.send(reply).await?;
                        let max = s.shop.cfg.max_strikes;
                        if max > 0 && strikes >= max {
                            tracing::warn!(stream = %s.stream_id, user = %s.actor.user_id, strikes, "closing flooding websocket");
                            socket.send(wire::error(&serde_json::Value::Null, "flood", "too many refused frames; closing")).await?;
                            let _ = tokio::time::timeout(socket.limit, socket.ws.send(Message::Close(None))).await;
                            return Ok(());
                        }
                    }
                }
            }
            Ok(()) = viewers.changed() => {
                let v = *viewers.borrow_and_update();
                socket.send(crate::presence::frame(&s.stream_id, &v)).await?;
            }
            reply = res_rx.recv() => {
                if let Some(r) = reply {
                    socket.send(r).await?;
                }
            }
        }
    }
}

/// Validate, rate-limit and dispatch one frame. Returns an immediate reply, if any, and whether
/// it is a refusal; command results arrive later through `results`.
fn handle_frame(
    s: &Session,
    bucket: &mut TokenBucket,
    text: &str,
    results: &mpsc::Sender<String>,
) -> Option<(String, bool)> {
    let user = &s.actor.user_id;
    if text.len() > s.shop.cfg.max_frame_bytes {
        tracing::info!(stream = %s.stream_id, %user, bytes = text.len(), "refused oversized frame");
        let msg = format!(
            "frame of {} bytes exceeds the limit of {} bytes",
            text.len(),
            s.shop.cfg.max_frame_bytes
        );
        return Some((
            wire::error(&serde_json::Value::Null, "frame_too_large", &msg),
            true,
        ));
    }
    let now = Instant::now();
    let limited = match bucket.try_take(now) {
        Err(ms) => Some(("per_connection", ms)),
        Ok(()) => s
            .shop
            .take_user_token(user, now)
            .err()
            .map(|ms| ("per_user", ms)),
    };
    if let Some((limit, retry_after_ms)) = limited {
        tracing::info!(stream = %s.stream_id, %user, limit, retry_after_ms, "refused frame: rate limited");
        let e = CommerceError::RateLimited {
            limit,
            retry_after_ms,
        };
        return Some((wire::command_error(&serde_json::Value::Null, &e), true));
    }
    match wire::parse(text) {
        Err(r) => {
            tracing::info!(stream = %s.stream_id, %user, code = r.code, message = %r.message, "refused frame");
            Some((wire::error(&r.id, r.code, &r.message), true))
        }
        Ok(Inbound::Ping { id }) => Some((wire::pong(&id), false)),
        Ok(Inbound::Command { id, cmd }) => {
            let shop = s.shop.clone();
            let actor = s.actor.clone();
            let stream_id = s.stream_id.clone();
            let results = results.clone();
            tokio::spawn(async move {
                let res = match shop.take_shared_user_token(&actor.user_id).await {
                    Ok(()) => shop.execute(&actor, Some(&stream_id), cmd).await,
                    Err(e) => Err(e),
                };
                let frame = match res {
                    Ok(data) => wire::result(&id, data),
                    Err(e) => {
                        log_refusal(&stream_id, &actor.user_id, &e);
                        wire::command_error(&id, &e)
                    }
                };
                let _ = results.send(frame).await;
            });
            None
        }
    }
}

pub(crate) fn log_refusal(stream_id: &str, user: &str, e: &CommerceError) {
    if e.http_status() >= 500 {
        tracing::error!(stream_id, user, error = %e, "command failed");
    } else {
        tracing::info!(stream_id, user, code = e.code(), error = %e, "command refused");
    }
}
