//! One WebSocket connection's socket, shared by its session task and its stream's fan-out
//! shard ([`super::fanout`]), with one ordered write queue.
//!
//! Every write, from either side, is a run of whole frames: it goes straight to the socket
//! (`try_write`, no task wake) when nothing is queued, and what the socket does not take is
//! queued behind. Only the session task waits: it drains the queue when the socket is writable,
//! under the `ws_write_timeout_ms` deadline. The shard never waits for a socket.
//!
//! A server frame is not masked, so an event's frame bytes are the same for every subscriber:
//! [`text_frame`] builds them once per event and every socket writes that one buffer.

use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Bytes the session's own frames (hello, replies) may queue before its writes wait.
const SESSION_QUEUE_BYTES: usize = 256 * 1024;
/// Slices per vectored write.
const MAX_SLICES: usize = 64;

/// A complete unmasked text frame (FIN, opcode 1) carrying `payload`.
pub(crate) fn text_frame(payload: &[u8]) -> Bytes {
    let n = payload.len();
    let mut b = BytesMut::with_capacity(n + 10);
    b.extend_from_slice(&[0x81]);
    if n < 126 {
        b.extend_from_slice(&[n as u8]);
    } else if n <= u16::MAX as usize {
        b.extend_from_slice(&[126]);
        b.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        b.extend_from_slice(&[127]);
        b.extend_from_slice(&(n as u64).to_be_bytes());
    }
    b.extend_from_slice(payload);
    b.freeze()
}

/// What the fan-out must know about this socket, and its queue.
#[derive(Default)]
struct State {
    /// Bytes accepted but not yet written, in order (whole frames, the first one maybe started).
    queue: VecDeque<Bytes>,
    queued_bytes: usize,
    /// Last event seq handed to this socket (written or queued, or skipped as not visible).
    last: u64,
    /// The shard writes live events itself; off while the session sends hello, replays or
    /// catches up.
    live: bool,
    /// The session must catch up from history (gap, or too many events queued).
    catch_up: bool,
    /// Session ended: the shard drops the connection.
    closed: bool,
    /// A write failed: the session ends with it.
    broken: Option<io::ErrorKind>,
}

/// One socket and its write queue.
pub(crate) struct Conn {
    tcp: TcpStream,
    state: Mutex<State>,
    /// Wakes the session: queued bytes to drain, or a catch-up to do.
    pub wake: Notify,
    /// Private events for this user reach it.
    user_id: String,
    /// Stream staff (host, moderators, admins) also receive every private event.
    staff: bool,
    /// Events queued beyond this: stop live writes, catch up from history once drained.
    max_queued_events: usize,
}

impl Conn {
    pub fn new(tcp: TcpStream, user_id: String, staff: bool, max_queued_events: usize) -> Self {
        Self {
            tcp,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            user_id,
            staff,
            max_queued_events: max_queued_events.max(1),
        }
    }

    /// Whether an event for `to` (None = everyone) reaches this socket.
    pub fn visible(&self, to: Option<&str>) -> bool {
        to.is_none_or(|u| self.staff || u == self.user_id)
    }

    /// Write `frames` in order after whatever is queued; returns whether bytes are now queued.
    fn write(&self, st: &mut State, frames: &[&Bytes]) -> bool {
        let mut written = 0;
        if st.queue.is_empty() && st.broken.is_none() {
            let r = if let [one] = frames {
                self.tcp.try_write(one)
            } else {
                let slices: Vec<IoSlice<'_>> = frames.iter().map(|f| IoSlice::new(f)).collect();
                self.tcp.try_write_vectored(&slices)
            };
            match r {
                Ok(n) => written = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => st.broken = Some(e.kind()),
            }
        }
        for f in frames {
            if written >= f.len() {
                written -= f.len();
                continue;
            }
            let rest = f.slice(written..);
            written = 0;
            st.queued_bytes += rest.len();
            st.queue.push_back(rest);
        }
        !st.queue.is_empty() || st.broken.is_some()
    }

    /// Fan-out side: offer a batch of events (in seq order). Returns false once the session has
    /// ended (the shard then drops this connection).
    pub fn offer(&self, evs: &[crate::bus::Delivered]) -> bool {
        let mut st = self.state.lock();
        if st.closed {
            return false;
        }
        if !st.live {
            return true;
        }
        let mut frames: Vec<&Bytes> = Vec::new();
        for d in evs {
            if d.seq <= st.last {
                continue;
            }
            if d.seq > st.last + 1 {
                // A gap (the shard lagged, or this socket went live behind): from history.
                st.live = false;
                st.catch_up = true;
                break;
            }
            st.last = d.seq;
            if self.visible(d.to.as_deref()) {
                frames.push(&d.wire);
            }
        }
        let mut wake = st.catch_up;
        if !frames.is_empty() {
            let was_queued = !st.queue.is_empty();
            wake |= self.write(&mut st, &frames) && !was_queued;
            if st.queue.len() > self.max_queued_events {
                // A slow reader: no more live writes; once drained, it catches up from history
                // (or gets `resync` if too far behind).
                st.live = false;
                st.catch_up = true;
                wake = true;
            }
        }
        drop(st);
        if wake {
            self.wake.notify_one();
        }
        true
    }

    /// Fan-out side: the shard itself missed events; every live socket catches up.
    pub fn lagged(&self) {
        let mut st = self.state.lock();
        if st.live {
            st.live = false;
            st.catch_up = true;
            drop(st);
            self.wake.notify_one();
        }
    }

    /// Session side: queue whole frames (event frames from history) behind the rest.
    pub fn push(&self, frames: &[&Bytes]) {
        let mut st = self.state.lock();
        self.write(&mut st, frames);
    }

    /// Session side: hand live writes to the shard from `last` on, unless the shard has already
    /// passed it (`shard_seq`, read under this lock): then false, and the session replays again.
    pub fn go_live(&self, last: u64, shard_seq: &std::sync::atomic::AtomicU64) -> bool {
        let mut st = self.state.lock();
        if shard_seq.load(std::sync::atomic::Ordering::SeqCst) > last {
            return false;
        }
        st.last = last;
        st.live = true;
        st.catch_up = false;
        true
    }

    /// Session side: whether a catch-up is due (clears the flag), and the last seq handed over.
    pub fn take_catch_up(&self) -> Option<u64> {
        let mut st = self.state.lock();
        std::mem::take(&mut st.catch_up).then_some(st.last)
    }

    /// Write queued bytes until none are left (or the socket would block: then wait for it).
    pub fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            {
                let mut st = self.state.lock();
                if let Some(kind) = st.broken {
                    return Poll::Ready(Err(io::Error::new(kind, "websocket write failed")));
                }
                if st.queue.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                let slices: Vec<IoSlice<'_>> = st
                    .queue
                    .iter()
                    .take(MAX_SLICES)
                    .map(|b| IoSlice::new(b))
                    .collect();
                match self.tcp.try_write_vectored(&slices) {
                    Ok(mut n) => {
                        st.queued_bytes -= n;
                        while n > 0 {
                            let Some(front) = st.queue.front_mut() else {
                                break;
                            };
                            if n >= front.len() {
                                n -= front.len();
                                st.queue.pop_front();
                            } else {
                                front.advance(n);
                                n = 0;
                            }
                        }
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => {
                        st.broken = Some(e.kind());
                        return Poll::Ready(Err(e));
                    }
                }
            }
            ready!(self.tcp.poll_write_ready(cx))?;
        }
    }

    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Session ended: the shard drops it at its next event; the peer sees the close now.
    pub fn close(&self) {
        self.state.lock().closed = true;
        let _ = socket2::SockRef::from(&self.tcp).shutdown(std::net::Shutdown::Both);
    }
}

/// The session's view of the socket for tungstenite: reads from the socket (bytes the HTTP
/// layer had already read first), writes through the shared queue.
pub(crate) struct ConnIo {
    pub conn: std::sync::Arc<Conn>,
    pub pre: Bytes,
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if !me.pre.is_empty() {
            let n = me.pre.len().min(buf.remaining());
            buf.put_slice(&me.pre[..n]);
            me.pre.advance(n);
            return Poll::Ready(Ok(()));
        }
        loop {
            ready!(me.conn.tcp.poll_read_ready(cx))?;
            match me.conn.tcp.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let conn = &self.conn;
        if conn.state.lock().queued_bytes > SESSION_QUEUE_BYTES {
            ready!(conn.poll_drain(cx))?;
        }
        // tungstenite writes from its buffer of whole frames and this takes all of it, so
        // every call is a run of whole frames: it never splits one of the shard's.
        conn.push(&[&Bytes::copy_from_slice(buf)]);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.conn.poll_drain(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.conn.poll_drain(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_frame_headers() {
        assert_eq!(&text_frame(b"hi")[..], b"\x81\x02hi");
        let f = text_frame(&[b'x'; 300]);
        assert_eq!(&f[..4], &[0x81, 126, 1, 44]);
        assert_eq!(f.len(), 304);
        let f = text_frame(&vec![b'y'; 70_000]);
        assert_eq!(&f[..2], &[0x81, 127]);
        assert_eq!(u64::from_be_bytes(f[2..10].try_into().unwrap()), 70_000);
    }
}
