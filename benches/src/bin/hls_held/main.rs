//! hls_held: thousands of concurrent blocking LL-HLS playlist requests on one stream.
//!
//! `hls_held URL [--clients 2000] [--parts 20] [--pid ENGINE_PID] [--gzip]`
//!
//! URL is a multivariant or media playlist on a loopback origin. Each simulated viewer keeps one
//! HTTP/1.1 connection. For each of `--parts` rounds, a control connection reads the playlist,
//! then every viewer asks at once for the part after the newest (`_HLS_msn`/`_HLS_part`), the
//! origin holds them all, and answers when the part exists (`--gzip`: with
//! `Accept-Encoding: gzip`, as browsers send). Per
//! part: how long the first answer was held, and the spread of the answers against the first
//! (target: all within 50 ms). With `--pid`, the engine's CPU% and RSS (from /proc) over the run.
//! Prints one line per part, a JSON summary line, and a final `hls_held:` line.

mod http;
mod playlist;
mod procstat;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use tokio::sync::{mpsc, watch};

use http::Conn;

struct Args {
    url: String,
    clients: usize,
    parts: usize,
    pid: Option<u32>,
    gzip: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        url: String::new(),
        clients: 2000,
        parts: 20,
        pid: None,
        gzip: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--clients" => a.clients = value()?.parse()?,
            "--parts" => a.parts = value()?.parse()?,
            "--pid" => a.pid = Some(value()?.parse()?),
            "--gzip" => a.gzip = true,
            s if s.starts_with("--") => bail!("unknown option {s}"),
            s => a.url = s.to_owned(),
        }
    }
    ensure!(
        !a.url.is_empty(),
        "usage: hls_held URL [--clients N] [--parts N] [--pid PID] [--gzip]"
    );
    ensure!(
        a.clients > 0 && a.parts > 0,
        "--clients and --parts must be > 0"
    );
    Ok(a)
}

/// (loopback address, path) of an `http://127.x.x.x:port/path` URL; other hosts are refused.
fn split_url(url: &str) -> anyhow::Result<(SocketAddr, String)> {
    let rest = url
        .strip_prefix("http://")
        .context("only http:// URLs are supported")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = authority.replace("localhost", "127.0.0.1");
    let addr: SocketAddr = authority
        .parse()
        .with_context(|| format!("{authority} is not ip:port"))?;
    ensure!(
        addr.ip().is_loopback(),
        "refusing non-loopback target {addr}"
    );
    Ok((
        addr,
        if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
    ))
}

/// What a viewer reports for one round.
struct Report {
    viewer: usize,
    status: u16,
    done: Instant,
}

/// One viewer: waits for each round's path, asks for it, reports the answer.
async fn viewer(
    id: usize,
    mut conn: Conn,
    mut rounds: watch::Receiver<Arc<String>>,
    out: mpsc::UnboundedSender<Result<Report, String>>,
) {
    while rounds.changed().await.is_ok() {
        let path = rounds.borrow_and_update().clone();
        let r = match conn.get(&path).await {
            Ok(a) => Ok(Report {
                viewer: id,
                status: a.status,
                done: a.done,
            }),
            Err(e) => Err(format!("viewer {id}: {e:#}")),
        };
        if out.send(r).is_err() {
            return;
        }
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = (sorted.len() - 1) as f64 * p / 100.0;
    let (f, c) = (
        k.floor() as usize,
        (k.ceil() as usize).min(sorted.len() - 1),
    );
    sorted[f] + (sorted[c] - sorted[f]) * (k - f as f64)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    procstat::raise_nofile(args.clients as u64 + 256)?;
    let (addr, mut path) = split_url(&args.url)?;
    let mut control = Conn::open(addr).await?;
    let first = control.get(&path).await?;
    ensure!(first.status == 200, "GET {path}: {}", first.status);
    let mut text = String::from_utf8_lossy(&first.body).into_owned();
    if let Some(variant) = playlist::first_variant(&text) {
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        path = format!("{dir}{variant}");
        let media = control.get(&path).await?;
        ensure!(media.status == 200, "GET {path}: {}", media.status);
        text = String::from_utf8_lossy(&media.body).into_owned();
    }
    playlist::next_part(&text).context("media playlist has no MEDIA-SEQUENCE")?;

    eprintln!("hls_held: opening {} connections to {addr}", args.clients);
    let (round_tx, round_rx) = watch::channel(Arc::new(String::new()));
    let gzip = args.gzip;
    let (report_tx, mut reports) = mpsc::unbounded_channel();
    for batch in (0..args.clients).collect::<Vec<_>>().chunks(100) {
        let conns = futures_join(batch.iter().map(|_| Conn::open(addr))).await;
        for (id, conn) in batch.iter().zip(conns) {
            let mut conn = conn?;
            conn.gzip = gzip;
            tokio::spawn(viewer(*id, conn, round_rx.clone(), report_tx.clone()));
        }
    }
    drop(report_tx);

    let cpu = args.pid.map(procstat::CpuWindow::start).transpose()?;
    let mut rss_peak: f64 = 0.0;
    let (mut spreads, mut p95s, mut holds) = (Vec::new(), Vec::new(), Vec::new());
    let (mut errors, mut non_200, mut not_held) = (0usize, 0usize, 0usize);
    let t_run = Instant::now();
    for _ in 0..args.parts {
        let now = control.get(&path).await?;
        ensure!(now.status == 200, "GET {path}: {}", now.status);
        let (msn, part) = playlist::next_part(&String::from_utf8_lossy(&now.body))
            .context("answer is not a media playlist")?;
        let query = format!("{path}?_HLS_msn={msn}&_HLS_part={part}");
        let sent = Instant::now();
        round_tx.send(Arc::new(query))?;
        let mut done = Vec::with_capacity(args.clients);
        for _ in 0..args.clients {
            let r = tokio::time::timeout(Duration::from_secs(15), reports.recv())
                .await
                .context("a viewer gave no answer in 15 s")?
                .context("viewers gone")?;
            match r {
                Ok(rep) if rep.status == 200 => done.push(rep.done),
                Ok(rep) => {
                    non_200 += 1;
                    eprintln!("viewer {}: HTTP {}", rep.viewer, rep.status);
                }
                Err(e) => {
                    errors += 1;
                    eprintln!("{e}");
                }
            }
        }
        if let Some(pid) = args.pid {
            rss_peak = rss_peak.max(procstat::rss_mib(pid)?);
        }
        let first = done.iter().min().copied().context("no answer at all")?;
        let mut after: Vec<f64> = done
            .iter()
            .map(|d| d.duration_since(first).as_secs_f64() * 1000.0)
            .collect();
        after.sort_by(f64::total_cmp);
        let held = first.duration_since(sent).as_secs_f64() * 1000.0;
        if held < 5.0 {
            not_held += 1;
        }
        let (p50, p95, max) = (pct(&after, 50.0), pct(&after, 95.0), pct(&after, 100.0));
        println!(
            "part {msn}.{part}: first answer held {held:.0} ms; after it: p50 {p50:.1} ms, p95 {p95:.1} ms, last {max:.1} ms ({} answers)",
            done.len()
        );
        spreads.push(max);
        p95s.push(p95);
        holds.push(held);
    }
    let wall = t_run.elapsed().as_secs_f64();
    let cpu_pct = cpu.as_ref().map(|c| c.percent()).transpose()?;
    let answers = (args.clients * args.parts - errors - non_200) as f64;
    let cpu_per_1k = cpu
        .as_ref()
        .map(|c| c.seconds())
        .transpose()?
        .map(|s| s * 1000.0 / answers.max(1.0) * 1000.0);
    spreads.sort_by(f64::total_cmp);
    p95s.sort_by(f64::total_cmp);
    holds.sort_by(f64::total_cmp);
    let within = spreads.iter().filter(|s| **s <= 50.0).count();
    println!(
        "{{\"tool\":\"hls_held\",\"gzip\":{gzip},\"clients\":{},\"parts\":{},\"wall_s\":{wall:.1},\
         \"spread_last_ms\":{{\"p50\":{:.1},\"p95\":{:.1},\"max\":{:.1}}},\
         \"spread_p95_ms\":{{\"p50\":{:.1},\"max\":{:.1}}},\"held_first_ms\":{{\"p50\":{:.1}}},\
         \"parts_within_50ms\":{within},\"not_held_rounds\":{not_held},\"errors\":{errors},\"non_200\":{non_200},\
         \"engine_cpu_pct\":{},\"engine_cpu_ms_per_1k_answers\":{},\"engine_rss_peak_mib\":{}}}",
        args.clients,
        args.parts,
        pct(&spreads, 50.0),
        pct(&spreads, 95.0),
        pct(&spreads, 100.0),
        pct(&p95s, 50.0),
        pct(&p95s, 100.0),
        pct(&holds, 50.0),
        cpu_pct.map_or("null".into(), |c| format!("{c:.1}")),
        cpu_per_1k.map_or("null".into(), |c| format!("{c:.1}")),
        if args.pid.is_some() { format!("{rss_peak:.1}") } else { "null".into() },
    );
    println!(
        "hls_held: {} clients x {} parts; last answer after first p50 {:.1} ms p95 {:.1} ms max {:.1} ms; {within}/{} parts within 50 ms; errors {errors}, non-200 {non_200}",
        args.clients,
        args.parts,
        pct(&spreads, 50.0),
        pct(&spreads, 95.0),
        pct(&spreads, 100.0),
        args.parts
    );
    ensure!(
        errors == 0 && non_200 == 0,
        "{errors} errors, {non_200} non-200 answers"
    );
    Ok(())
}

/// Awaits all futures concurrently (tokio's JoinSet keeps no order; this does).
async fn futures_join<F, T>(futs: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}
