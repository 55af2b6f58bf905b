//! Fan-out load tool: N WebSocket subscribers on one stream (this process), events published
//! over REST at a fixed rate; reports deliveries/s and p50/p99/max delivery latency.
//!
//! `commerce_ws_fanout --url http://127.0.0.1:PORT --stream s1 --admin-key K
//!   [--subscribers 10000] [--events 200] [--rate 50] [--io uring|epoll] [--uring-wait 32]`
//! Each event is a chat message `bench:<send unix µs>`; latency = receive time − send time
//! (same host clock). Subscribers are anonymous viewers (read-only), all on one thread
//! ([`showroom_benches::ws_subscribers`]: connects through one epoll loop, then reads the live
//! sockets through io_uring by default, `--io epoll` for the older loop), which checks every
//! delivery's sequence number; the publisher runs on a current-thread runtime. Besides p50/p99
//! it reports, per event, the latency of the first delivery (the publish path: REST → commit →
//! bus → first write) and last − first (the fan-out's spread).

use showroom_benches::ws_subscribers::{self, now_us, Io, Progress, Target};
use std::net::ToSocketAddrs;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.into())
}

/// CPU seconds (user + system) this process has used so far: /proc/self/stat fields 14 and 15,
/// in USER_HZ (100 on Linux). `None` elsewhere.
fn cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; fields after it follow the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut f = rest.split(' ').skip(11);
    let user: f64 = f.next()?.parse().ok()?;
    let system: f64 = f.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let url = arg("--url", "http://127.0.0.1:8080");
    let stream = arg("--stream", "s1");
    let admin = arg("--admin-key", "bench-admin");
    let subs: usize = arg("--subscribers", "10000").parse()?;
    let events: usize = arg("--events", "200").parse()?;
    let rate: f64 = arg("--rate", "50").parse()?;
    let mut io: Io = arg("--io", "uring").parse().map_err(anyhow::Error::msg)?;
    if let Io::Uring { wait_batch } = &mut io {
        *wait_batch = arg("--uring-wait", &wait_batch.to_string()).parse()?;
    }
    let host = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("--url must be http://HOST:PORT"))?
        .trim_end_matches('/');
    let addr = host
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host} does not resolve"))?;

    let progress = Arc::new(Progress::default());
    let target = Target {
        addr,
        path: format!("/ws/{stream}"),
        subscribers: subs,
        events,
        io,
    };
    let reader = {
        let progress = progress.clone();
        std::thread::spawn(move || ws_subscribers::run(target, progress))
    };
    let t_connect = Instant::now();
    while (progress.connected.load(Ordering::Relaxed) as usize) < subs {
        let failed = progress.failed.load(Ordering::Relaxed);
        if t_connect.elapsed() > Duration::from_secs(120) || failed > 0 || reader.is_finished() {
            progress.stop.store(true, Ordering::Relaxed);
            anyhow::bail!(
                "only {} of {subs} subscribers connected ({failed} failed)",
                progress.connected.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("{subs} subscribers connected in {:?}", t_connect.elapsed());
    tokio::time::sleep(Duration::from_millis(500)).await;

    let http = reqwest::Client::new();
    let chat = format!("{url}/api/v1/streams/{stream}/chat");
    let period = Duration::from_secs_f64(1.0 / rate);
    let start_us = now_us();
    let cpu0 = cpu_s();
    let t0 = Instant::now();
    // Publishes are fired on schedule without waiting for the previous answer, so a slow
    // publish (database commit) does not lower the offered event rate.
    let mut pubs = Vec::with_capacity(events);
    for i in 0..events {
        let due = t0 + period * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (http, chat, admin) = (http.clone(), chat.clone(), admin.clone());
        pubs.push(tokio::spawn(async move {
            let body = serde_json::json!({ "text": format!("bench:{}", now_us()) });
            http.post(&chat)
                .bearer_auth(&admin)
                .json(&body)
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    let publish_s = t0.elapsed().as_secs_f64();
    for p in pubs {
        let st = p.await??;
        anyhow::ensure!(st.is_success(), "publish failed: {st}");
    }
    eprintln!(
        "published {events} events in {publish_s:.2}s (all answered after {:.2}s)",
        t0.elapsed().as_secs_f64()
    );
    let expected = (subs * events) as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while progress.delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = progress.delivered.load(Ordering::Relaxed);
    let cpu = cpu_s().zip(cpu0).map_or(0.0, |(b, a)| b - a);
    progress.stop.store(true, Ordering::Relaxed);
    let mut out = reader
        .join()
        .map_err(|_| anyhow::anyhow!("subscriber thread panicked"))??;
    let span_s = (progress
        .last_delivery_us
        .load(Ordering::Relaxed)
        .saturating_sub(start_us)) as f64
        / 1e6;
    // Per event: its first delivery (the publish path) and last − first (the fan-out's spread).
    let (mut first, mut spread): (Vec<u32>, Vec<u32>) =
        out.per_event.values().map(|&(a, b)| (a, b - a)).unzip();
    first.sort_unstable();
    spread.sort_unstable();
    let mid = |v: &[u32]| v.get(v.len() / 2).copied().unwrap_or(0) as f64 / 1000.0;
    let top = |v: &[u32]| v.last().copied().unwrap_or(0) as f64 / 1000.0;
    let all = &mut out.latencies_us;
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "io={} subscribers={subs} events={events} rate={rate}/s delivered={got}/{expected} span={span_s:.2}s \
         deliveries_per_s={:.0} latency_ms p50={:.1} p99={:.1} max={:.1} \
         first_delivery_ms p50={:.1} max={:.1} event_spread_ms p50={:.1} max={:.1} \
         client_cpu_s={cpu:.2} client_cpu_us_per_delivery={:.2} \
         incomplete_subscribers={} seq_gaps={} repeats={} resyncs={} closed={} bad_frames={}",
        out.io_used,
        got as f64 / span_s.max(1e-9),
        pct(0.50),
        pct(0.99),
        pct(1.0),
        mid(&first),
        top(&first),
        mid(&spread),
        top(&spread),
        cpu * 1e6 / (got.max(1) as f64),
        out.incomplete,
        out.gaps,
        out.repeats,
        out.resyncs,
        out.closed,
        out.bad_frames,
    );
    anyhow::ensure!(
        out.errors() == 0,
        "deliveries lost, repeated or corrupt (see the counts above)"
    );
    Ok(())
}
