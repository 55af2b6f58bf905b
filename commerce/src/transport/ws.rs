//! The WebSocket endpoint `/ws/{id}`: hello, replay since the client's last sequence, live
//! events, and commands with per-connection and per-user rate limits. Bad frames get an error
//! frame; the connection survives.

use crate::auth::{Actor, Role};
use crate::bus::Delivered;
use crate::error::CommerceError;
use crate::ratelimit::TokenBucket;
use crate::transport::fanout::Shard;
use crate::transport::wire::{self, Inbound};
use crate::transport::ws_conn::{Conn, ConnIo};
use crate::transport::ws_upgrade;
use crate::Commerce;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::{Role as WsRole, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// Hard transport limit: frames above this close the socket (tungstenite); frames above
/// `max_frame_bytes` but below this get an error frame.
const HARD_FRAME_LIMIT: usize = 1 << 20;
const REPLAY_PAGE: u64 = 500;
/// Read chunk per socket. tungstenite zero-fills its read buffer up to this size before every
/// read attempt, including the ones that find nothing: at its 128 KiB default that memset was
/// over half the server's CPU with 10,000 subscribers, and 1.3 GB resident. Client frames are
/// small; larger ones (up to the hard limit) still arrive, the buffer grows for them.
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
    req: Request,
) -> Response {
    let bearer = params
        .token
        .clone()
        .or_else(|| crate::transport::rest::bearer(req.headers()).map(str::to_owned));
    let (switching, on_upgrade) = match ws_upgrade::upgrade(req) {
        Ok(u) => u,
        Err(e) => {
            tracing::info!(stream_id, reason = e.0, "refused websocket upgrade");
            return e.into_response();
        }
    };
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
    // The stream position is taken before the 101 goes out: every event committed after the
    // client sees its upgrade reaches it (the session replays from here if the fan-out is ahead).
    let start = match shop.hub(&stream_id).await {
        Ok(hub) => shop.db.head_seq(&stream_id).await.map(|head| (hub, head)),
        Err(e) => Err(e),
    };
    let (hub, head) = match start {
        Ok(s) => s,
        Err(e) => return crate::transport::rest::ApiError(e).into_response(),
    };
    tokio::spawn(async move {
        let user = actor.user_id.clone();
        let r = match ws_upgrade::tcp_stream(on_upgrade).await {
            Ok((tcp, pre)) => {
                let at = Start {
                    hub,
                    head,
                    since: params.since,
                };
                session(shop, tcp, pre, actor, stream_id.clone(), at).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            tracing::info!(stream_id, user, error = %e, "websocket session ended");
        }
    });
    switching
}

struct Session {
    shop: Arc<Commerce>,
    actor: Actor,
    stream_id: String,
    /// Last sequence sent to this client.
    last: u64,
}

impl Session {
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
                if socket.conn.visible(d.to.as_deref()) {
                    socket.conn.push(&[&d.wire]);
                }
            }
            socket.drain().await?;
            if n < REPLAY_PAGE {
                return Ok(());
            }
        }
    }

    /// The socket fell more than `send_queue` events behind the stream (it is slow), or the
    /// fan-out saw a gap: catch it up from history, or, if it is more than `history_len`
    /// behind, send `resync` (the client reloads state over REST) and go on live from the head.
    async fn caught_up(&mut self, socket: &mut Out) -> Result<(), CommerceError> {
        let head = self.shop.db.head_seq(&self.stream_id).await?;
        let behind = head.saturating_sub(self.last);
        if behind > self.shop.cfg.history_len {
            tracing::warn!(stream = %self.stream_id, user = %self.actor.user_id, behind,
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
            tracing::warn!(stream = %self.stream_id, user = %self.actor.user_id, behind,
                last_seq = self.last, "slow websocket reader; replaying from history");
            self.replay(socket).await
        }
    }

    /// Hand live events to the stream's fan-out shard from `self.last` on; if the shard has
    /// already passed that point, replay what it passed first.
    async fn go_live(&mut self, socket: &mut Out, shard: &Shard) -> Result<(), CommerceError> {
        while !socket.conn.go_live(self.last, &shard.seq) {
            self.replay(socket).await?;
        }
        Ok(())
    }
}

/// The socket, with a deadline on every write (`ws_write_timeout_ms`). A client that stops
/// reading fills its TCP window, then the kernel's buffers and this socket's queue, and a write
/// waits: past the deadline the session ends and the socket is closed; the client reconnects
/// with `since=<last seq>`. Only this socket's task ever waits: the stream's fan-out shards
/// never wait for a socket.
struct Out {
    ws: WebSocketStream<ConnIo>,
    conn: Arc<Conn>,
    limit: std::time::Duration,
    stream_id: String,
    user: String,
}

impl Out {
    fn deadline<E: std::fmt::Display>(
        &self,
        what: &str,
        r: Result<Result<(), E>, tokio::time::error::Elapsed>,
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

    /// Write out what is queued on the socket (fan-out events, replayed events).
    async fn drain(&mut self) -> Result<(), CommerceError> {
        let conn = &self.conn;
        let r =
            tokio::time::timeout(self.limit, std::future::poll_fn(|cx| conn.poll_drain(cx))).await;
        self.deadline("write", r)
    }
}

/// Ends the socket on every way out of a session; its shard then drops it.
struct CloseOnDrop(Arc<Conn>, Arc<Shard>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
        self.1.closed.notify_one();
    }
}

/// Where a session starts: the stream's hub and head when the upgrade was answered, and the
/// client's `since`.
struct Start {
    hub: Arc<crate::bus::Hub>,
    head: u64,
    since: Option<u64>,
}

async fn session(
    shop: Arc<Commerce>,
    tcp: TcpStream,
    pre: Bytes,
    actor: Actor,
    stream_id: String,
    at: Start,
) -> Result<(), CommerceError> {
    let Start { hub, head, since } = at;
    let staff = actor.role_on(&stream_id) >= Role::Moderator;
    let conn = Arc::new(Conn::new(
        tcp,
        actor.user_id.clone(),
        staff,
        shop.cfg.send_queue,
    ));
    // Not live yet: it goes live from `head` once nothing after it was missed (`go_live`).
    let shard = hub.fanout.add(conn.clone());
    let _close = CloseOnDrop(conn.clone(), shard.clone());
    let hard = HARD_FRAME_LIMIT.max(shop.cfg.max_frame_bytes * 2);
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_CHUNK)
        .max_message_size(Some(hard))
        .max_frame_size(Some(hard));
    let io = ConnIo {
        conn: conn.clone(),
        pre,
    };
    let mut socket = Out {
        ws: WebSocketStream::from_raw_socket(io, WsRole::Server, Some(config)).await,
        conn,
        limit: std::time::Duration::from_millis(shop.cfg.ws_write_timeout_ms.max(1)),
        stream_id: stream_id.clone(),
        user: actor.user_id.clone(),
    };
    let mut viewers = shop.watch_viewers(&stream_id);
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
    s.go_live(&mut socket, &shard).await?;
    let now = Instant::now();
    let mut conn_bucket = TokenBucket::new(shop.cfg.conn_rate_per_s, shop.cfg.conn_burst, now);
    let (res_tx, mut res_rx) = mpsc::channel::<String>(64);
    let mut strikes = 0u32;
    let wake = socket.conn.clone();
    loop {
        tokio::select! {
            // Live events do not wake this task: the shard writes them. It is woken only when
            // the socket did not take them at once (drain the queue) or must catch up.
            biased;
            _ = wake.wake.notified() => {
                socket.drain().await?;
                if let Some(last) = socket.conn.take_catch_up() {
                    s.last = last;
                    s.caught_up(&mut socket).await?;
                    s.go_live(&mut socket, &shard).await?;
                }
            }
            incoming = socket.ws.next() => {
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
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
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
