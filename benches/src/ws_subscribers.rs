//! Many WebSocket subscribers on one thread: one `mio` poll loop for connects and handshakes,
//! then the live sockets read through that loop (`Io::Epoll`) or through io_uring
//! (`Io::Uring`, [`uring`]), and a minimal parser for the server's unmasked frames. Used by `commerce_ws_fanout`,
//! which shares the machine with the server it measures, so each delivery must cost it little
//! (a tokio-tungstenite stream per subscriber cost it 6–8 µs of CPU per delivery).
//!
//! Every delivery is still checked: each subscriber's `event` frames must carry consecutive
//! sequence numbers starting right after the `head_seq` of its `hello`; a gap, a repeat, a
//! `resync`, a close or a malformed frame is counted and reported. Receive time is read once
//! per `read()` or completion (the frames it returns arrived together).

use memchr::memmem::Finder;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod uring;

/// Handshakes in flight at once (the server's accept queue and our SYNs stay small).
const CONNECT_PARALLEL: usize = 256;
const READ_CHUNK: usize = 64 * 1024;

/// What to connect to.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// e.g. `/ws/s1`.
    pub path: String,
    pub subscribers: usize,
    /// Event frames each subscriber must receive.
    pub events: usize,
    /// How the live subscribers are read (connects and handshakes always go through epoll).
    pub io: Io,
}

/// How the live subscribers' sockets are read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Io {
    /// One epoll loop: a wake-up, then one `recv` per ready socket.
    Epoll,
    /// io_uring ([`uring`]): one multishot recv per socket into a ring of provided buffers,
    /// completions taken `wait_batch` at a time (or after 1 ms): no syscall per socket. Falls
    /// back to epoll (with a log line) where io_uring is unavailable.
    Uring { wait_batch: usize },
}

impl std::str::FromStr for Io {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "epoll" => Ok(Io::Epoll),
            "uring" => Ok(Io::Uring { wait_batch: 32 }),
            _ => Err(format!("--io {s}: expected epoll or uring")),
        }
    }
}

/// Progress shared with the thread that publishes.
#[derive(Debug, Default)]
pub struct Progress {
    /// Subscribers that received their `hello`.
    pub connected: AtomicU64,
    /// Subscribers whose connection or handshake failed.
    pub failed: AtomicU64,
    pub delivered: AtomicU64,
    /// Unix µs of the latest delivery.
    pub last_delivery_us: AtomicU64,
    /// Set by the caller to end [`run`].
    pub stop: AtomicBool,
}

/// What the subscribers saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Receive − send time of every delivery, µs.
    pub latencies_us: Vec<u32>,
    /// Subscribers that did not receive exactly `events` events.
    pub incomplete: u64,
    /// Events skipped (sequence gaps) over all subscribers.
    pub gaps: u64,
    /// Events received twice or out of order.
    pub repeats: u64,
    pub resyncs: u64,
    /// Connections the server closed (close frame or EOF) or that failed on read.
    pub closed: u64,
    /// Frames that are not what the server should send (masked, fragmented, binary, no seq…).
    pub bad_frames: u64,
    /// How the live subscribers were read: `epoll` or `uring`.
    pub io_used: &'static str,
    /// Per event (keyed by its send time): the latency of its first and of its last delivery,
    /// µs. The first is the publish path (REST → commit → bus → first write); last − first is
    /// the fan-out's spread.
    pub per_event: HashMap<u64, (u32, u32)>,
}

impl Outcome {
    /// Any sign of a lost, repeated or corrupt delivery.
    pub fn errors(&self) -> u64 {
        self.gaps + self.repeats + self.resyncs + self.closed + self.bad_frames
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Connecting,
    Upgrading,
    Hello,
    Live,
    Dead,
}

struct Sub {
    sock: TcpStream,
    phase: Phase,
    buf: Vec<u8>,
    last_seq: u64,
    first_seq: u64,
    got: u32,
}

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The keys the checks look for, each searched with a prebuilt (SIMD) substring finder: the
/// payload's keys are sorted (`"type"` comes near the end), and a byte-by-byte window compare
/// per key was most of this tool's CPU per delivery.
struct Keys {
    kind: Finder<'static>,
    head_seq: Finder<'static>,
    seq: Finder<'static>,
    sent: Finder<'static>,
}

impl Keys {
    fn new() -> Self {
        Self {
            kind: Finder::new(br#""type":""#),
            head_seq: Finder::new(br#""head_seq":"#),
            seq: Finder::new(br#""seq":"#),
            sent: Finder::new(b"bench:"),
        }
    }

    /// The frame's `type` value (the bytes between its quotes), if any.
    fn kind<'t>(&self, text: &'t [u8]) -> Option<&'t [u8]> {
        let rest = &text[self.kind.find(text)? + self.kind.needle().len()..];
        Some(&rest[..memchr::memchr(b'"', rest)?])
    }
}

/// The unsigned integer right after `key` in `text` (e.g. `"seq":`), read in place.
fn number_after(text: &[u8], key: &Finder<'_>) -> Option<u64> {
    let i = key.find(text)? + key.needle().len();
    let digits = text[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    std::str::from_utf8(&text[i..i + digits]).ok()?.parse().ok()
}

/// One complete server frame at the start of `buf`: (opcode, fin, masked, payload range, frame
/// length), or `None` if more bytes are needed.
fn frame_at(buf: &[u8]) -> Option<(u8, bool, bool, std::ops::Range<usize>, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (len, head): (usize, usize) = match b1 & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(b) as usize, 10)
        }
        n => (n as usize, 2),
    };
    let masked = b1 & 0x80 != 0;
    let head = head + if masked { 4 } else { 0 };
    let end = head.checked_add(len)?;
    (buf.len() >= end).then_some((b0 & 0x0f, b0 & 0x80 != 0, masked, head..end, end))
}

struct Loop {
    target: Target,
    progress: Arc<Progress>,
    poll: Poll,
    subs: Vec<Sub>,
    out: Outcome,
    request: Vec<u8>,
    keys: Keys,
}

impl Loop {
    fn open(&mut self) -> std::io::Result<()> {
        let i = self.subs.len();
        let mut sock = TcpStream::connect(self.target.addr)?;
        self.poll.registry().register(
            &mut sock,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.subs.push(Sub {
            sock,
            phase: Phase::Connecting,
            buf: Vec::with_capacity(1024),
            last_seq: 0,
            first_seq: 0,
            got: 0,
        });
        Ok(())
    }

    fn fail(&mut self, i: usize, why: &str) {
        let s = &mut self.subs[i];
        if s.phase == Phase::Dead {
            return;
        }
        if s.phase == Phase::Live {
            self.out.closed += 1;
        } else {
            self.progress.failed.fetch_add(1, Ordering::Relaxed);
            eprintln!("subscriber {i}: {why}");
        }
        s.phase = Phase::Dead;
        let _ = self.poll.registry().deregister(&mut s.sock);
    }

    fn writable(&mut self, i: usize) {
        if self.subs[i].phase != Phase::Connecting {
            return;
        }
        let s = &mut self.subs[i];
        let sent = match (s.sock.take_error(), s.sock.peer_addr()) {
            (Ok(Some(e)), _) | (Err(e), _) => Err(format!("connect: {e}")),
            (_, Err(e)) if e.kind() == ErrorKind::NotConnected => return, // not yet
            (_, Err(e)) => Err(format!("connect: {e}")),
            (_, Ok(_)) => {
                let _ = s.sock.set_nodelay(true);
                // A fresh socket's send buffer takes the small request whole.
                match s.sock.write(&self.request) {
                    Ok(n) if n == self.request.len() => self
                        .poll
                        .registry()
                        .reregister(&mut s.sock, Token(i), Interest::READABLE)
                        .map_err(|e| format!("reregister: {e}")),
                    Ok(_) => Err("short write of the upgrade request".into()),
                    Err(e) => Err(format!("write: {e}")),
                }
            }
        };
        match sent {
            Ok(()) => self.subs[i].phase = Phase::Upgrading,
            Err(why) => self.fail(i, &why),
        }
    }

    fn readable(&mut self, i: usize, scratch: &mut [u8]) {
        loop {
            let s = &mut self.subs[i];
            if matches!(s.phase, Phase::Dead | Phase::Connecting) {
                return;
            }
            match s.sock.read(scratch) {
                Ok(0) => return self.fail(i, "closed by the server"),
                Ok(n) => {
                    self.received(i, &scratch[..n], now_us());
                    if n < scratch.len() {
                        // A short read emptied the receive queue: data arriving later raises a
                        // new edge, so the read that would only return `WouldBlock` is saved.
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return self.fail(i, &format!("read: {e}")),
            }
        }
    }

    /// Bytes read from subscriber `i`'s socket at `now`: check the frames they complete.
    fn received(&mut self, i: usize, data: &[u8], now: u64) {
        if self.subs[i].buf.is_empty() {
            // Nothing pending (the usual case): check in place, keep only an incomplete tail.
            let used = self.frames(i, data, now).min(data.len());
            self.subs[i].buf.extend_from_slice(&data[used..]);
            return;
        }
        let mut buf = std::mem::take(&mut self.subs[i].buf);
        buf.extend_from_slice(data);
        let used = self.frames(i, &buf, now);
        buf.drain(..used.min(buf.len()));
        self.subs[i].buf = buf;
    }

    /// Handle the complete frames (and the upgrade answer) at the start of `buf`; returns the
    /// bytes consumed.
    fn frames(&mut self, i: usize, buf: &[u8], now: u64) -> usize {
        let mut used = 0;
        if self.subs[i].phase == Phase::Upgrading {
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                return 0;
            };
            if !buf.starts_with(b"HTTP/1.1 101") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                self.fail(i, &format!("upgrade refused: {head}"));
                return buf.len();
            }
            used = end + 4;
            self.subs[i].phase = Phase::Hello;
        }
        while let Some((op, fin, masked, payload, len)) = frame_at(&buf[used..]) {
            let text = &buf[used + payload.start..used + payload.end];
            used += len;
            if masked || !fin || op == 0 || op == 2 || op > 10 {
                self.out.bad_frames += 1;
                continue;
            }
            match op {
                8 => {
                    self.fail(i, "close frame");
                    return buf.len();
                }
                9 | 10 => continue, // the server does not ping; a pong needs no answer
                _ => {}
            }
            let kind = self.keys.kind(text);
            let s = &mut self.subs[i];
            if s.phase == Phase::Hello {
                match number_after(text, &self.keys.head_seq) {
                    Some(head) if kind == Some(b"hello") => {
                        s.last_seq = head;
                        s.first_seq = head + 1;
                        s.phase = Phase::Live;
                        self.progress.connected.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => self.out.bad_frames += 1,
                }
                continue;
            }
            match kind {
                Some(b"event") => {}
                Some(b"resync") => {
                    self.out.resyncs += 1;
                    continue;
                }
                Some(_) => continue, // e.g. `viewers`
                None => {
                    self.out.bad_frames += 1;
                    continue;
                }
            }
            let (Some(seq), Some(sent)) = (
                number_after(text, &self.keys.seq),
                number_after(text, &self.keys.sent),
            ) else {
                self.out.bad_frames += 1;
                continue;
            };
            if seq <= s.last_seq {
                self.out.repeats += 1;
                continue;
            }
            self.out.gaps += seq - s.last_seq - 1;
            s.last_seq = seq;
            s.got += 1;
            let lat = now.saturating_sub(sent).min(u32::MAX as u64) as u32;
            self.out.latencies_us.push(lat);
            let span = self.out.per_event.entry(sent).or_insert((lat, lat));
            *span = (span.0.min(lat), span.1.max(lat));
            self.progress.delivered.fetch_add(1, Ordering::Relaxed);
            self.progress
                .last_delivery_us
                .fetch_max(now, Ordering::Relaxed);
        }
        used
    }
}

/// Connect `target.subscribers` subscribers, then read until `progress.stop` is set.
pub fn run(target: Target, progress: Arc<Progress>) -> std::io::Result<Outcome> {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        target.path, target.addr
    )
    .into_bytes();
    let n = target.subscribers;
    let mut lp = Loop {
        out: Outcome {
            latencies_us: Vec::with_capacity(n * target.events),
            ..Outcome::default()
        },
        target,
        progress,
        poll: Poll::new()?,
        subs: Vec::with_capacity(n),
        request,
        keys: Keys::new(),
    };
    let mut events = Events::with_capacity(4096);
    let mut scratch = vec![0u8; READ_CHUNK];
    lp.out.io_used = "epoll";
    let mut uring_wait = match lp.target.io {
        Io::Uring { wait_batch } => Some(wait_batch),
        Io::Epoll => None,
    };
    while !lp.progress.stop.load(Ordering::Relaxed) {
        // Every subscriber live (none failed: the caller stops on a failure): io_uring from here.
        if lp.progress.connected.load(Ordering::Relaxed) as usize == n {
            if let Some(wait_batch) = uring_wait.take() {
                match uring::Reader::new() {
                    Ok(reader) => {
                        lp.out.io_used = "uring";
                        reader.run(&mut lp, wait_batch)?;
                        break;
                    }
                    Err(e) => eprintln!("io_uring unavailable ({e}): reading with epoll"),
                }
            }
        }
        let settled = (lp.progress.connected.load(Ordering::Relaxed)
            + lp.progress.failed.load(Ordering::Relaxed)) as usize;
        while lp.subs.len() < n && lp.subs.len() - settled.min(lp.subs.len()) < CONNECT_PARALLEL {
            if let Err(e) = lp.open() {
                eprintln!("connect: {e}");
                lp.progress.failed.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
        match lp.poll.poll(&mut events, Some(Duration::from_millis(20))) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            let i = ev.token().0;
            if ev.is_writable() {
                lp.writable(i);
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                lp.readable(i, &mut scratch);
            }
        }
    }
    let events = lp.target.events as u32;
    for s in &lp.subs {
        if s.got != events || s.last_seq != s.first_seq + u64::from(events) - 1 {
            lp.out.incomplete += 1;
        }
    }
    lp.out.incomplete += (n - lp.subs.len()) as u64;
    Ok(lp.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_fields() {
        let payload =
            br#"{"v":1,"type":"event","stream_id":"s1","seq":42,"data":{"text":"bench:17"}}"#;
        let mut f = vec![0x81, payload.len() as u8];
        f.extend_from_slice(payload);
        let (op, fin, masked, range, len) = frame_at(&f).unwrap();
        assert_eq!((op, fin, masked, len), (1, true, false, f.len()));
        let keys = Keys::new();
        assert_eq!(number_after(&f[range.clone()], &keys.seq), Some(42));
        assert_eq!(number_after(&f[range.clone()], &keys.sent), Some(17));
        assert_eq!(keys.kind(&f[range]), Some(&b"event"[..]));
        assert_eq!(keys.kind(br#"{"type":"resync"}"#), Some(&b"resync"[..]));
        assert_eq!(keys.kind(br#"{"type":"resync}"#), None);
        assert!(frame_at(&f[..f.len() - 1]).is_none());
        let mut big = vec![0x81, 126, 0x01, 0x00];
        big.extend(std::iter::repeat_n(b'x', 256));
        assert_eq!(frame_at(&big).map(|f| f.4), Some(260));
    }
}
