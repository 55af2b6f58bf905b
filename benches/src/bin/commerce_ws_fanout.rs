//! Fan-out load tool: N WebSocket subscribers on one stream (this process), events published
//! over REST at a fixed rate; reports deliveries/s and p50/p99/max delivery latency.
//!
//! `commerce_ws_fanout --url http://127.0.0.1:PORT --stream s1 --admin-key K
//!   [--subscribers 10000] [--events 200] [--rate 50]`
//! Each event is a chat message `bench:<send unix µs>`; latency = receive time − send time
//! (same host clock). Subscribers are anonymous viewers (read-only).

use futures::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Read chunk per socket: tungstenite zero-fills its whole read buffer before each read, so
/// its 128 KiB default made memset 70 % of this tool's CPU with 10,000 sockets.
const READ_CHUNK: usize = 4096;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.into())
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The send time in a `bench:<µs>` chat text, read in place (no JSON tree, no allocation).
fn sent_us(text: &str) -> Option<u64> {
    let i = text.find("bench:")? + 6;
    let digits = text.as_bytes()[i..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    text.get(i..i + digits)?.parse().ok()
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = arg("--url", "http://127.0.0.1:8080");
    let stream = arg("--stream", "s1");
    let admin = arg("--admin-key", "bench-admin");
    let subs: usize = arg("--subscribers", "10000").parse()?;
    let events: usize = arg("--events", "200").parse()?;
    let rate: f64 = arg("--rate", "50").parse()?;
    let ws_url = format!("{}/ws/{stream}", url.replacen("http", "ws", 1));

    let connected = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let last_delivery_us = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::with_capacity(subs);
    let t_connect = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    for _ in 0..subs {
        let (ws_url, connected, delivered, last, gate) = (
            ws_url.clone(),
            connected.clone(),
            delivered.clone(),
            last_delivery_us.clone(),
            gate.clone(),
        );
        handles.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::with_capacity(events);
            let ws = {
                let _permit = gate.acquire().await.ok();
                let config = WebSocketConfig::default().read_buffer_size(READ_CHUNK);
                match tokio_tungstenite::connect_async_with_config(&ws_url, Some(config), false)
                    .await
                {
                    Ok((ws, _)) => ws,
                    Err(e) => {
                        eprintln!("connect failed: {e}");
                        return lat;
                    }
                }
            };
            let mut rx = ws;
            // Subscribed once the server said hello (events before that are not owed to us).
            if !matches!(rx.next().await, Some(Ok(Message::Text(_)))) {
                eprintln!("no hello");
                return lat;
            }
            connected.fetch_add(1, Ordering::Relaxed);
            while let Some(Ok(m)) = rx.next().await {
                if let Message::Text(t) = m {
                    if let Some(sent) = sent_us(t.as_str()) {
                        let now = now_us();
                        lat.push(now.saturating_sub(sent).min(u32::MAX as u64) as u32);
                        delivered.fetch_add(1, Ordering::Relaxed);
                        last.fetch_max(now, Ordering::Relaxed);
                        if lat.len() == events {
                            break;
                        }
                    }
                }
            }
            lat
        }));
    }
    while (connected.load(Ordering::Relaxed) as usize) < subs {
        if t_connect.elapsed() > Duration::from_secs(120) {
            anyhow::bail!(
                "only {} of {subs} subscribers connected",
                connected.load(Ordering::Relaxed)
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
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = delivered.load(Ordering::Relaxed);
    let cpu = cpu_s().zip(cpu0).map_or(0.0, |(b, a)| b - a);
    let span_s = (last_delivery_us
        .load(Ordering::Relaxed)
        .saturating_sub(start_us)) as f64
        / 1e6;
    let mut all: Vec<u32> = Vec::with_capacity(got as usize);
    for h in handles {
        if h.is_finished() {
            if let Ok(lat) = h.await {
                all.extend(lat);
            }
        } else {
            h.abort();
        }
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "subscribers={subs} events={events} rate={rate}/s delivered={got}/{expected} span={span_s:.2}s \
         deliveries_per_s={:.0} latency_ms p50={:.1} p99={:.1} max={:.1} \
         client_cpu_s={cpu:.2} client_cpu_us_per_delivery={:.2}",
        got as f64 / span_s.max(1e-9),
        pct(0.50),
        pct(0.99),
        pct(1.0),
        cpu * 1e6 / (got.max(1) as f64)
    );
    Ok(())
}
