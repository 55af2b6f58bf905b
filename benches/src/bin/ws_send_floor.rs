//! Floor of the WebSocket fan-out's send side on this machine: a minimal server that speaks just
//! enough HTTP and WebSocket for `commerce_ws_fanout` (the real load tool, so the receive side is
//! the benchmark's own) and writes each event's pre-built frame to every subscriber socket, with
//! no session tasks, no locks, no runtime: what any server's fan-out must at least pay here.
//!
//! `ws_send_floor --port 0` prints `READY http://127.0.0.1:PORT` like `commerce_server`, so
//! `benches/scripts/ws_fanout.sh EVENTS RATE 10000 PATH/ws_send_floor` runs it. Environment:
//! - `FLOOR_MODE`: `write` (default: one thread, one non-blocking `write` per socket),
//!   `threads2` (two threads, half the sockets each), `uring` (one thread, one io_uring
//!   `SEND` with `MSG_DONTWAIT` per socket, `FLOOR_BATCH` SQEs per `io_uring_enter`).
//! - `FLOOR_BATCH`: SQEs per submit in `uring` mode (default 1024).
//! - `FLOOR_CC`: TCP congestion control for the subscriber sockets (e.g. `reno`; default: the
//!   system's, `bbr` on this machine).
//! - `FLOOR_LOG`: file the per-pass summary is written to after every event (the script
//!   discards the server's stdout).
//!
//! `ws_send_floor --probe-eagain` only answers what io_uring does with a `SEND` to a full
//! O_NONBLOCK socket, with and without `MSG_DONTWAIT`: completes at once with `-EAGAIN`, or
//! waits (the kernel armed a poll) until the peer reads.
//!
//! `GET /ws/...` with `Upgrade: websocket` gets `101` and a `hello` (`head_seq` 0); `POST` to
//! any path with a JSON body containing `bench:<µs>` publishes one event (seq 1, 2, …) whose
//! frame carries that text, padded to `FRAME` bytes (about the real server's chat event).
//! Anything else gets 404. Sockets that would block keep the rest of a frame and get it before
//! the next one (counted: `partial=`); a failed socket is dropped (`failed=`).

use anyhow::Context as _;
use io_uring::{opcode, types, IoUring};
use parking_lot::Mutex;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

/// Frame size on the wire, about the real server's chat event frame.
const FRAME: usize = 250;

fn thread_cpu_ns() -> u64 {
    // First field of schedstat: time this thread spent on a CPU, ns.
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split(' ').next()?.parse().ok())
        .unwrap_or(0)
}

fn frame(seq: u64, sent: &str) -> Vec<u8> {
    let mut p = format!(
        r#"{{"v":1,"type":"event","stream_id":"s1","seq":{seq},"data":{{"text":"bench:{sent}","pad":""#
    );
    let body = FRAME - 4; // 0x81, 126, u16 length
    while p.len() < body - 3 {
        p.push('x');
    }
    p.push_str(r#""}}"#);
    let mut f = vec![0x81];
    if p.len() < 126 {
        f.push(p.len() as u8);
    } else {
        f.push(126);
        f.extend_from_slice(&(p.len() as u16).to_be_bytes());
    }
    f.extend_from_slice(p.as_bytes());
    f
}

/// One subscriber socket and the unsent rest of its last frame.
struct Sub {
    tcp: TcpStream,
    rest: Vec<u8>,
    dead: bool,
}

#[derive(Default)]
struct Stats {
    passes: u64,
    sends: u64,
    partial: u64,
    failed: u64,
    pass_wall_us: Vec<u64>,
    pass_cpu_us: Vec<u64>,
}

impl Stats {
    /// Fold one pass's figures into the run's.
    fn add(&mut self, pass: Stats) {
        self.passes += pass.passes;
        self.sends += pass.sends;
        self.partial += pass.partial;
        self.failed += pass.failed;
        self.pass_wall_us.extend(pass.pass_wall_us);
        self.pass_cpu_us.extend(pass.pass_cpu_us);
    }

    fn line(&self, mode: &str) -> String {
        let med = |v: &[u64]| {
            let mut v = v.to_vec();
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or(0)
        };
        let per = |v: &[u64]| v.iter().sum::<u64>() as f64 * 1000.0 / self.sends.max(1) as f64;
        format!(
            "mode={mode} passes={} sends={} partial={} failed={} pass_wall_ms_p50={:.1} \
             pass_cpu_ms_p50={:.1} wall_ns_per_send={:.0} cpu_ns_per_send={:.0}",
            self.passes,
            self.sends,
            self.partial,
            self.failed,
            med(&self.pass_wall_us) as f64 / 1000.0,
            med(&self.pass_cpu_us) as f64 / 1000.0,
            per(&self.pass_wall_us),
            per(&self.pass_cpu_us),
        )
    }
}

/// Plain non-blocking writes, one per socket.
fn pass_write(subs: &mut [Sub], f: &[u8], st: &mut Stats) {
    for s in subs.iter_mut().filter(|s| !s.dead) {
        let mut buf = std::mem::take(&mut s.rest);
        buf.extend_from_slice(f);
        match (&s.tcp).write(&buf) {
            Ok(n) if n == buf.len() => {}
            Ok(n) => {
                st.partial += 1;
                s.rest = buf[n..].to_vec();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                st.partial += 1;
                s.rest = buf;
            }
            Err(_) => {
                st.failed += 1;
                s.dead = true;
            }
        }
        st.sends += 1;
    }
}

/// One io_uring SEND (MSG_DONTWAIT: a full socket completes with -EAGAIN at once instead of
/// waiting) per socket, `batch` SQEs per submit.
fn pass_uring(ring: &mut IoUring, batch: usize, subs: &mut [Sub], f: &[u8], st: &mut Stats) {
    let mut bufs: Vec<Option<Vec<u8>>> = Vec::new();
    let live: Vec<usize> = (0..subs.len()).filter(|&i| !subs[i].dead).collect();
    for chunk in live.chunks(batch) {
        bufs.clear();
        for (pos, &i) in chunk.iter().enumerate() {
            let s = &mut subs[i];
            let owned = (!s.rest.is_empty()).then(|| {
                let mut b = std::mem::take(&mut s.rest);
                b.extend_from_slice(f);
                b
            });
            let (ptr, len) = owned
                .as_ref()
                .map_or((f.as_ptr(), f.len()), |b| (b.as_ptr(), b.len()));
            bufs.push(owned);
            let sqe = opcode::Send::new(types::Fd(s.tcp.as_raw_fd()), ptr, len as u32)
                .flags(msg_dontwait())
                .build()
                .user_data(pos as u64);
            // SAFETY: `f` and `bufs` outlive the submit_and_wait below, which reaps every SQE.
            while unsafe { ring.submission().push(&sqe) }.is_err() {
                let _ = ring.submit();
            }
        }
        let n = chunk.len();
        let mut done = 0;
        let _ = ring.submit_and_wait(n);
        while done < n {
            let cqes: Vec<(u64, i32)> = ring
                .completion()
                .map(|c| (c.user_data(), c.result()))
                .collect();
            if cqes.is_empty() {
                let _ = ring.submit_and_wait(1);
                continue;
            }
            for (ud, res) in cqes {
                let pos = ud as usize;
                let i = chunk[pos];
                let sent: &[u8] = bufs[pos].as_deref().unwrap_or(f);
                if res == -11 {
                    st.partial += 1;
                    subs[i].rest = sent.to_vec();
                } else if res < 0 {
                    st.failed += 1;
                    subs[i].dead = true;
                } else if (res as usize) < sent.len() {
                    st.partial += 1;
                    subs[i].rest = sent[res as usize..].to_vec();
                }
                st.sends += 1;
                done += 1;
            }
        }
    }
}

fn msg_dontwait() -> i32 {
    rustix::net::SendFlags::DONTWAIT.bits() as i32
}

/// A sender thread: its share of the sockets, one pass per event.
fn sender(
    mode: String,
    batch: usize,
    added: Arc<Mutex<Vec<Sub>>>,
    events: mpsc::Receiver<Arc<Vec<u8>>>,
    stats: Arc<Mutex<Stats>>,
    log: Option<String>,
) -> anyhow::Result<()> {
    let mut subs: Vec<Sub> = Vec::new();
    let mut ring = if mode == "uring" {
        Some(IoUring::builder().setup_single_issuer().build(4096)?)
    } else {
        None
    };
    let mut st = Stats::default();
    while let Ok(f) = events.recv() {
        subs.append(&mut added.lock());
        let (t0, c0) = (Instant::now(), thread_cpu_ns());
        match ring.as_mut() {
            Some(r) => pass_uring(r, batch, &mut subs, &f, &mut st),
            None => pass_write(&mut subs, &f, &mut st),
        }
        st.passes += 1;
        st.pass_wall_us.push(t0.elapsed().as_micros() as u64);
        st.pass_cpu_us.push((thread_cpu_ns() - c0) / 1000);
        let mut all = stats.lock();
        all.add(std::mem::take(&mut st));
        if let Some(path) = &log {
            let _ = std::fs::write(path, all.line(&mode) + "\n");
        }
    }
    Ok(())
}

/// One accepted connection: a WebSocket subscriber (handed to a sender) or HTTP publishes.
fn serve(
    tcp: TcpStream,
    shards: &[Arc<Mutex<Vec<Sub>>>],
    next: &std::sync::atomic::AtomicUsize,
    publish: &Mutex<mpsc::Sender<String>>,
) -> anyhow::Result<()> {
    tcp.set_nodelay(true)?;
    let mut rd = BufReader::new(tcp.try_clone()?);
    loop {
        let mut head = Vec::new();
        let mut content_length = 0usize;
        let mut upgrade = false;
        loop {
            let mut line = String::new();
            if rd.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let l = line.to_ascii_lowercase();
            if let Some(v) = l.strip_prefix("content-length:") {
                content_length = v.trim().parse().context("content-length")?;
            }
            upgrade |= l.starts_with("upgrade:") && l.contains("websocket");
            if line == "\r\n" {
                break;
            }
            head.push(line);
        }
        let first = head.first().cloned().unwrap_or_default();
        if upgrade && first.starts_with("GET ") {
            // The load tool sends RFC 6455's sample key; its accept value is the RFC's too.
            let mut out = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
                .to_vec();
            let hello = br#"{"v":1,"type":"hello","head_seq":0}"#;
            out.extend_from_slice(&[0x81, hello.len() as u8]);
            out.extend_from_slice(hello);
            (&tcp).write_all(&out)?;
            tcp.set_nonblocking(true)?;
            if let Ok(cc) = std::env::var("FLOOR_CC") {
                rustix::net::sockopt::set_tcp_congestion(&tcp, &cc).context("FLOOR_CC")?;
            }
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % shards.len();
            shards[i].lock().push(Sub {
                tcp,
                rest: Vec::new(),
                dead: false,
            });
            return Ok(());
        }
        let mut body = vec![0u8; content_length];
        rd.read_exact(&mut body)?;
        let text = String::from_utf8_lossy(&body);
        let sent = text.find("bench:").map(|i| {
            text[i + 6..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        });
        let status = match sent {
            Some(s) if first.starts_with("POST ") => {
                publish.lock().send(s)?;
                "200 OK"
            }
            _ => "404 Not Found",
        };
        (&tcp).write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes())?;
    }
}

/// A loopback pair whose sending side (O_NONBLOCK) is full; one io_uring SEND with `flags`:
/// its result if it completes within 500 ms, else `None` (it waits for room).
fn probe_full_send(flags: i32) -> anyhow::Result<Option<i32>> {
    let lst = TcpListener::bind("127.0.0.1:0")?;
    let peer = TcpStream::connect(lst.local_addr()?)?;
    let (tx, _) = lst.accept()?;
    tx.set_nonblocking(true)?;
    static CHUNK: [u8; 65536] = [0; 65536];
    while (&tx).write(&CHUNK).is_ok() {}
    let mut ring = IoUring::new(8)?;
    let sqe = opcode::Send::new(types::Fd(tx.as_raw_fd()), CHUNK.as_ptr(), 1024)
        .flags(flags)
        .build();
    // SAFETY: the SEND only reads `CHUNK`, which lives for the whole program (a SEND still
    // waiting when the ring is dropped is cancelled by the kernel later).
    unsafe { ring.submission().push(&sqe) }.map_err(|_| anyhow::anyhow!("queue full"))?;
    let ts = types::Timespec::new().nsec(500_000_000);
    let args = types::SubmitArgs::new().timespec(&ts);
    let _ = ring.submitter().submit_with_args(1, &args);
    let res = ring.completion().next().map(|c| c.result());
    drop(ring);
    drop(peer);
    Ok(res)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--probe-eagain") {
        for (name, flags) in [("none", 0), ("MSG_DONTWAIT", msg_dontwait())] {
            let r = probe_full_send(flags)?;
            println!(
                "io_uring SEND to a full O_NONBLOCK socket, flags {name}: {}",
                r.map_or(
                    "no completion in 500 ms (poll armed: waits for room)".into(),
                    |r| { format!("completed at once with {r}") }
                )
            );
        }
        return Ok(());
    }
    let port = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .map_or(Ok(0), |p| p.parse())?;
    let mode = std::env::var("FLOOR_MODE").unwrap_or_else(|_| "write".into());
    let batch: usize = std::env::var("FLOOR_BATCH")
        .unwrap_or_else(|_| "1024".into())
        .parse()?;
    let log = std::env::var("FLOOR_LOG").ok();
    let threads = match mode.as_str() {
        "write" | "uring" => 1,
        "threads2" => 2,
        m => anyhow::bail!("FLOOR_MODE={m}: expected write, threads2 or uring"),
    };
    let stats = Arc::new(Mutex::new(Stats::default()));
    let mut shards = Vec::new();
    let mut txs = Vec::new();
    for _ in 0..threads {
        let added = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<Arc<Vec<u8>>>();
        let (mode, added2, stats, log) = (mode.clone(), added.clone(), stats.clone(), log.clone());
        std::thread::spawn(move || {
            if let Err(e) = sender(mode, batch, added2, rx, stats, log) {
                eprintln!("sender: {e:#}");
            }
        });
        shards.push(added);
        txs.push(tx);
    }
    // Publishes: seq in arrival order, one frame per event, to every sender.
    let (ptx, prx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut seq = 0;
        while let Ok(sent) = prx.recv() {
            seq += 1;
            let f = Arc::new(frame(seq, &sent));
            for tx in &txs {
                let _ = tx.send(f.clone());
            }
        }
    });
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("READY http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let shards = Arc::new(shards);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let publish = Arc::new(Mutex::new(ptx));
    for tcp in listener.incoming() {
        let tcp = tcp?;
        let (shards, next, publish) = (shards.clone(), next.clone(), publish.clone());
        std::thread::spawn(move || {
            if let Err(e) = serve(tcp, &shards, &next, &publish) {
                eprintln!("connection: {e:#}");
            }
        });
    }
    Ok(())
}
