//! str0m fan-out peer for the WebRTC benchmark (bench only, never linked into the engine).
//!
//! Serves WHEP viewers (`POST /whep/bench`, SDP offer → 201 + answer) with one str0m `Rtc` per
//! viewer in RTP mode, all on ONE UDP socket and ONE task (sans-IO: the task owns every `Rtc`,
//! feeds it datagrams and timeouts, and sends what it outputs). The media is plain RTP received on
//! two UDP ports (H.264 and Opus), e.g. the engine's own forwarded packets sent there by
//! `webrtc_fanout server` (its `v=`/`a=` taps), so it forwards exactly what the engine forwards.
//! Each packet's payload is one `Arc<[u8]>` shared by every viewer; str0m rewrites SSRC and
//! payload type per viewer and encrypts (SRTP) per viewer, as any SFU must.
//!
//! Sends are batched: the datagrams str0m outputs while one input is handled (for a media packet:
//! one SRTP datagram per viewer) are queued and leave in `sendmmsg` calls (rustix's safe wrapper),
//! one syscall per up to 1,024 datagrams instead of one `sendto` each. `--send-each` keeps the
//! unbatched path (one `sendto` per datagram) as the peer to compare with.
//!
//! ```text
//! str0m_fanout <http-port> <video-rtp-port> <audio-rtp-port> [--send-each]
//! ```

use std::collections::HashMap;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rustix::net::{sendmmsg, MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny};
use str0m::change::SdpOffer;
use str0m::format::Codec;
use str0m::media::{MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Receive buffer asked for on the viewers' socket.
const RECV_BUFFER: usize = 4 << 20;

/// A negotiated outgoing media of one viewer: its mid and payload type.
#[derive(Clone, Copy)]
struct Route {
    mid: Mid,
    pt: str0m::media::Pt,
}

struct Viewer {
    rtc: Rtc,
    video: Option<Route>,
    audio: Option<Route>,
    next: Instant,
}

#[derive(Default)]
struct Stats {
    rtp_in: AtomicU64,
    written: AtomicU64,
    datagrams_out: AtomicU64,
    send_errors: AtomicU64,
    /// Send syscalls (`sendmmsg` or `sendto`).
    syscalls: AtomicU64,
}

/// Datagrams waiting for the socket. Batched: queued, then sent by `flush` with `sendmmsg`;
/// `each`: sent at once, one `sendto` per datagram.
struct Outbox {
    each: bool,
    queue: Vec<(SocketAddrAny, Vec<u8>)>,
}

impl Outbox {
    fn push(&mut self, sock: &UdpSocket, stats: &Stats, to: SocketAddr, datagram: Vec<u8>) {
        if !self.each {
            self.queue.push((SocketAddrAny::from(to), datagram));
            return;
        }
        stats.syscalls.fetch_add(1, Ordering::Relaxed);
        if sock.try_send_to(&datagram, to).is_ok() {
            stats.datagrams_out.fetch_add(1, Ordering::Relaxed);
        } else {
            stats.send_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends every queued datagram, as few `sendmmsg` calls as the kernel allows (it takes up to
    /// 1,024 per call). A datagram the kernel refuses (e.g. a full socket buffer: the socket is
    /// non-blocking) is counted and dropped, as `try_send_to` would; the rest still go.
    fn flush(&mut self, sock: &UdpSocket, stats: &Stats) {
        if self.queue.is_empty() {
            return;
        }
        let iovs: Vec<[IoSlice<'_>; 1]> =
            self.queue.iter().map(|(_, d)| [IoSlice::new(d)]).collect();
        let mut no_control: Vec<SendAncillaryBuffer<'_, '_, '_>> = self
            .queue
            .iter()
            .map(|_| SendAncillaryBuffer::default())
            .collect();
        let mut msgs: Vec<MMsgHdr<'_>> = self
            .queue
            .iter()
            .zip(&iovs)
            .zip(&mut no_control)
            .map(|(((to, _), iov), control)| MMsgHdr::new_with_addr(to, iov, control))
            .collect();
        let mut next = 0;
        while let Some(rest) = msgs.get_mut(next..).filter(|r| !r.is_empty()) {
            stats.syscalls.fetch_add(1, Ordering::Relaxed);
            match sendmmsg(sock, rest, SendFlags::empty()) {
                Ok(sent) if sent > 0 => {
                    stats
                        .datagrams_out
                        .fetch_add(sent as u64, Ordering::Relaxed);
                    next += sent;
                }
                // Nothing sent: the first datagram is the one refused; drop it, go on.
                Ok(_) | Err(_) => {
                    stats.send_errors.fetch_add(1, Ordering::Relaxed);
                    next += 1;
                }
            }
        }
        drop(msgs);
        self.queue.clear();
    }
}

/// Extends 16-bit RTP sequence numbers to str0m's 64-bit `SeqNo` (once per source packet).
#[derive(Default)]
struct SeqExt(Option<u64>);

impl SeqExt {
    fn extend(&mut self, seq: u16) -> u64 {
        let next = match self.0 {
            None => u64::from(seq),
            Some(last) => {
                // Reinterpret the 16-bit distance as signed: reordering goes back, wrap goes on.
                let step = seq.wrapping_sub(last as u16) as i16;
                last.saturating_add_signed(i64::from(step))
            }
        };
        self.0 = Some(next);
        next
    }
}

/// The parts of an RTP packet a forwarder needs.
struct Rtp<'a> {
    marker: bool,
    seq: u16,
    ts: u32,
    payload: &'a [u8],
}

fn parse_rtp(b: &[u8]) -> Option<Rtp<'_>> {
    if b.len() < 12 || b[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(b[0] & 0x0f);
    let mut start = 12 + 4 * cc;
    if b[0] & 0x10 != 0 {
        let ext = b.get(start + 2..start + 4)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    let mut end = b.len();
    if b[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*b.last()?))?;
    }
    Some(Rtp {
        marker: b[1] & 0x80 != 0,
        seq: u16::from_be_bytes([b[2], b[3]]),
        ts: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        payload: b.get(start..end)?,
    })
}

fn route_for(rtc: &Rtc, mid: Mid, kind: MediaKind) -> Option<Route> {
    let remote = rtc.media(mid)?.remote_pts().to_vec();
    let pt = remote.iter().find_map(|pt| {
        rtc.codec_config()
            .find(|p| {
                p.pt() == *pt
                    && match kind {
                        MediaKind::Video => {
                            p.spec().codec == Codec::H264
                                && p.spec().format.packetization_mode == Some(1)
                        }
                        MediaKind::Audio => p.spec().codec == Codec::Opus,
                    }
            })
            .map(|p| p.pt())
    })?;
    Some(Route { mid, pt })
}

/// Runs one viewer's `Rtc` until it wants to wait: queues its datagrams, notes its media.
fn drain(v: &mut Viewer, sock: &UdpSocket, out: &mut Outbox, stats: &Stats) {
    loop {
        match v.rtc.poll_output() {
            Ok(Output::Timeout(t)) => {
                v.next = t;
                return;
            }
            Ok(Output::Transmit(t)) => out.push(sock, stats, t.destination, t.contents.into()),
            Ok(Output::Event(Event::MediaAdded(m))) => {
                let route = route_for(&v.rtc, m.mid, m.kind);
                match m.kind {
                    MediaKind::Video => v.video = route,
                    MediaKind::Audio => v.audio = route,
                }
            }
            Ok(Output::Event(Event::IceConnectionStateChange(
                IceConnectionState::Disconnected,
            ))) => {
                v.rtc.disconnect();
            }
            Ok(Output::Event(_)) => {}
            Err(e) => {
                eprintln!("str0m_fanout: viewer error: {e}");
                v.rtc.disconnect();
                return;
            }
        }
    }
}

struct Media {
    sock: Arc<UdpSocket>,
    local: SocketAddr,
    viewers: Vec<Viewer>,
    by_addr: HashMap<SocketAddr, usize>,
    out: Outbox,
    stats: Arc<Stats>,
}

impl Media {
    fn forward(&mut self, kind: MediaKind, seq: u64, rtp: &Rtp<'_>, now: Instant) {
        self.stats.rtp_in.fetch_add(1, Ordering::Relaxed);
        let payload: Arc<[u8]> = Arc::from(rtp.payload);
        for v in &mut self.viewers {
            if !v.rtc.is_connected() {
                continue;
            }
            let route = match kind {
                MediaKind::Video => v.video,
                MediaKind::Audio => v.audio,
            };
            let Some(route) = route else { continue };
            let mut api = v.rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(route.mid, None) else {
                continue;
            };
            tx.write_rtp(
                RtpWrite::new(route.pt, seq.into(), rtp.ts, now, Arc::clone(&payload))
                    .marker(rtp.marker)
                    .nackable(kind == MediaKind::Video),
            );
            self.stats.written.fetch_add(1, Ordering::Relaxed);
            drain(v, &self.sock, &mut self.out, &self.stats);
        }
        self.out.flush(&self.sock, &self.stats);
    }

    fn receive(&mut self, source: SocketAddr, data: &[u8], now: Instant) {
        let Ok(contents) = data.try_into() else {
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        let idx = match self.by_addr.get(&source) {
            Some(i) => Some(*i),
            None => {
                let found = self.viewers.iter().position(|v| v.rtc.accepts(&input));
                if let Some(i) = found {
                    self.by_addr.insert(source, i);
                }
                found
            }
        };
        let Some(v) = idx.and_then(|i| self.viewers.get_mut(i)) else {
            return;
        };
        if v.rtc.handle_input(input).is_err() {
            v.rtc.disconnect();
        }
        drain(v, &self.sock, &mut self.out, &self.stats);
        self.out.flush(&self.sock, &self.stats);
    }

    fn timeouts(&mut self, now: Instant) {
        let mut dead = false;
        for v in &mut self.viewers {
            if v.next <= now {
                if v.rtc.handle_input(Input::Timeout(now)).is_err() {
                    v.rtc.disconnect();
                }
                drain(v, &self.sock, &mut self.out, &self.stats);
            }
            dead |= !v.rtc.is_alive();
        }
        self.out.flush(&self.sock, &self.stats);
        if dead {
            self.viewers.retain(|v| v.rtc.is_alive());
            self.by_addr.clear();
        }
    }

    fn next_timeout(&self) -> Instant {
        self.viewers
            .iter()
            .map(|v| v.next)
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_millis(100))
    }
}

#[derive(Clone)]
struct Http {
    local: SocketAddr,
    new_viewers: mpsc::UnboundedSender<Rtc>,
}

async fn whep(State(h): State<Http>, offer: String) -> Response {
    match answer(&h, &offer) {
        Ok(sdp) => (
            StatusCode::CREATED,
            [
                (header::CONTENT_TYPE, "application/sdp"),
                (header::LOCATION, "/whep/bench/session"),
            ],
            sdp,
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e:#}")).into_response(),
    }
}

fn answer(h: &Http, offer: &str) -> Result<String> {
    let offer = SdpOffer::from_sdp_string(offer).context("malformed SDP offer")?;
    let mut rtc = RtcConfig::new()
        .set_rtp_mode(true)
        .set_ice_lite(true)
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false)
        .build(Instant::now());
    let cand = Candidate::host(h.local, "udp").context("host candidate")?;
    rtc.add_local_candidate(cand);
    let answer = rtc.sdp_api().accept_offer(offer).context("offer refused")?;
    h.new_viewers
        .send(rtc)
        .map_err(|_| anyhow!("media task ended"))?;
    Ok(answer.to_sdp_string())
}

async fn media_loop(
    mut media: Media,
    video: UdpSocket,
    audio: UdpSocket,
    mut new_viewers: mpsc::UnboundedReceiver<Rtc>,
) -> Result<()> {
    let (mut vbuf, mut abuf, mut rbuf) = (vec![0u8; 2048], vec![0u8; 2048], vec![0u8; 2048]);
    let (mut vseq, mut aseq) = (SeqExt::default(), SeqExt::default());
    let sock = Arc::clone(&media.sock);
    loop {
        let deadline = tokio::time::Instant::from_std(media.next_timeout());
        tokio::select! {
            r = video.recv_from(&mut vbuf) => {
                let (n, _) = r?;
                if let Some(rtp) = vbuf.get(..n).and_then(parse_rtp) {
                    let seq = vseq.extend(rtp.seq);
                    media.forward(MediaKind::Video, seq, &rtp, Instant::now());
                }
            }
            r = audio.recv_from(&mut abuf) => {
                let (n, _) = r?;
                if let Some(rtp) = abuf.get(..n).and_then(parse_rtp) {
                    let seq = aseq.extend(rtp.seq);
                    media.forward(MediaKind::Audio, seq, &rtp, Instant::now());
                }
            }
            r = sock.recv_from(&mut rbuf) => {
                let (n, source) = r?;
                if let Some(data) = rbuf.get(..n) {
                    media.receive(source, data, Instant::now());
                }
            }
            Some(rtc) = new_viewers.recv() => {
                let mut v = Viewer { rtc, video: None, audio: None, next: Instant::now() };
                drain(&mut v, &media.sock, &mut media.out, &media.stats);
                media.out.flush(&media.sock, &media.stats);
                media.viewers.push(v);
            }
            _ = tokio::time::sleep_until(deadline) => {
                media.timeouts(Instant::now());
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port = |i: usize| -> Result<u16> {
        args.get(i).and_then(|v| v.parse().ok()).ok_or_else(|| {
            anyhow!("usage: str0m_fanout <http-port> <video-rtp-port> <audio-rtp-port>")
        })
    };
    let (http_port, video_port, audio_port) = (port(1)?, port(2)?, port(3)?);
    let each = match args.get(4).map(String::as_str) {
        None => false,
        Some("--send-each") => true,
        Some(other) => return Err(anyhow!("unknown option {other:?} (expected --send-each)")),
    };
    str0m::crypto::from_feature_flags().install_process_default();

    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    // Every viewer's STUN, DTLS and RTCP arrive on this one socket: with the default 208 KiB
    // buffer, a burst of 200 viewers' feedback while the task is descheduled (a shared machine)
    // overflowed it (~35k drops per run), which stalled DTLS handshakes. Ask for 4 MiB (the
    // kernel caps it at net.core.rmem_max; the effective size is logged).
    rustix::net::sockopt::set_socket_recv_buffer_size(&*sock, RECV_BUFFER).context("SO_RCVBUF")?;
    let rcvbuf = rustix::net::sockopt::socket_recv_buffer_size(&*sock).context("SO_RCVBUF")?;
    let local = sock.local_addr()?;
    let video = UdpSocket::bind(("127.0.0.1", video_port)).await?;
    let audio = UdpSocket::bind(("127.0.0.1", audio_port)).await?;
    let stats = Arc::new(Stats::default());
    let (tx, rx) = mpsc::unbounded_channel();
    let media = Media {
        sock,
        local,
        viewers: Vec::new(),
        by_addr: HashMap::new(),
        out: Outbox {
            each,
            queue: Vec::new(),
        },
        stats: Arc::clone(&stats),
    };
    let task = tokio::spawn(media_loop(media, video, audio, rx));

    let app = axum::Router::new()
        .route("/whep/bench", axum::routing::post(whep))
        .with_state(Http {
            local,
            new_viewers: tx,
        });
    let http = tokio::net::TcpListener::bind(("127.0.0.1", http_port)).await?;
    tokio::spawn(async move { axum::serve(http, app).await });
    eprintln!(
        "str0m_fanout ready: pid {} whep http://127.0.0.1:{http_port}/whep/bench media {local} \
         (receive buffer {rcvbuf} bytes) sends {}",
        std::process::id(),
        if each {
            "one sendto each"
        } else {
            "batched sendmmsg"
        }
    );
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tokio::pin!(task);
    loop {
        tokio::select! {
            _ = tick.tick() => eprintln!(
                "str0m_fanout: rtp_in {} written {} datagrams_out {} send_errors {} syscalls {}",
                stats.rtp_in.load(Ordering::Relaxed),
                stats.written.load(Ordering::Relaxed),
                stats.datagrams_out.load(Ordering::Relaxed),
                stats.send_errors.load(Ordering::Relaxed),
                stats.syscalls.load(Ordering::Relaxed),
            ),
            r = &mut task => return r.context("media task panicked")?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batched: datagrams to two receivers leave in one `sendmmsg`, each arrives whole and in
    /// order; a datagram the kernel refuses (too big for UDP) is counted and the rest still go.
    #[tokio::test]
    async fn batched_sends_arrive_in_one_syscall_and_a_refused_one_is_skipped() -> Result<()> {
        let sock = UdpSocket::bind("127.0.0.1:0").await?;
        let (a, b) = (
            UdpSocket::bind("127.0.0.1:0").await?,
            UdpSocket::bind("127.0.0.1:0").await?,
        );
        let stats = Stats::default();
        let mut out = Outbox {
            each: false,
            queue: Vec::new(),
        };
        out.push(&sock, &stats, a.local_addr()?, vec![1; 1200]);
        out.push(&sock, &stats, b.local_addr()?, vec![2; 1200]);
        out.push(&sock, &stats, a.local_addr()?, vec![3; 70_000]); // > 65,507: EMSGSIZE
        out.push(&sock, &stats, a.local_addr()?, vec![4; 20]);
        assert_eq!(
            stats.syscalls.load(Ordering::Relaxed),
            0,
            "queued, not sent yet"
        );
        out.flush(&sock, &stats);
        assert!(out.queue.is_empty());
        let mut buf = [0u8; 2048];
        let n = a.recv(&mut buf).await?;
        assert_eq!(buf.get(..n), Some(&[1u8; 1200][..]));
        let n = a.recv(&mut buf).await?;
        assert_eq!(
            buf.get(..n),
            Some(&[4u8; 20][..]),
            "the refused one is skipped"
        );
        let n = b.recv(&mut buf).await?;
        assert_eq!(buf.get(..n), Some(&[2u8; 1200][..]));
        assert_eq!(stats.datagrams_out.load(Ordering::Relaxed), 3);
        assert_eq!(stats.send_errors.load(Ordering::Relaxed), 1);
        // One call for the first two, one that fails on the big one, one for the last.
        assert_eq!(stats.syscalls.load(Ordering::Relaxed), 3);
        Ok(())
    }

    #[test]
    fn sequence_numbers_extend_across_wrap_and_reorder() {
        let mut s = SeqExt::default();
        // (16-bit in, 64-bit out): on through the wrap, back for a late packet.
        let steps = [
            (65_534, 65_534),
            (65_535, 65_535),
            (0, 65_536),
            (65_535, 65_535),
            (1, 65_537),
        ];
        for (seq, want) in steps {
            assert_eq!(s.extend(seq), want, "seq {seq}");
        }
    }

    #[test]
    fn rtp_header_csrc_extension_and_padding_are_skipped() {
        // V=2 P=1 X=1 CC=1, M=1 PT=96, seq 0x0102, ts 0x01020304.
        let mut p = vec![0xb1, 0xe0, 0x01, 0x02, 1, 2, 3, 4, 0, 0, 0, 9];
        p.extend([0, 0, 0, 7]); // CSRC
        p.extend([0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]); // one-word extension
        p.extend([0x65, 0xaa, 0xbb]); // payload
        p.extend([0, 0, 3]); // padding, its count last
        let rtp = parse_rtp(&p).expect("valid packet");
        assert!(rtp.marker);
        assert_eq!((rtp.seq, rtp.ts), (0x0102, 0x0102_0304));
        assert_eq!(rtp.payload, &[0x65, 0xaa, 0xbb]);
        assert!(parse_rtp(&p[..11]).is_none(), "short header");
        let mut bad = p.clone();
        bad[0] = 0x31; // version 0
        assert!(parse_rtp(&bad).is_none());
        let mut pad = p.clone();
        if let Some(last) = pad.last_mut() {
            *last = 200; // padding longer than the packet
        }
        assert!(parse_rtp(&pad).is_none());
    }
}
