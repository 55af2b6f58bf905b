//! Flash-sale burst load tool: many buyers hit one flash sale at once over REST; reports
//! attempts/s, p50/p99 latency, and checks there is no oversell (orders == stock, remaining 0),
//! through the API and, with `--db`, by counting the sale's order rows in PostgreSQL.
//!
//! `commerce_flash_burst --url http://127.0.0.1:PORT --stream s1 --admin-key K
//!   [--attempts 5000] [--stock 100] [--concurrency 256] [--runs 1] [--db postgres://...]
//!   [--warm-connections] [--rate R [--max-in-flight 4096]]`
//!
//! Closed loop (the default): at most `--concurrency` attempts in flight, each sent as soon as
//! one finishes, latency measured from its send. It saturates the server by design, so the
//! latency it reports is the queueing at saturation (Little's law: mean ≈ C / throughput).
//!
//! Open loop (`--rate R`, attempts per second): attempt i is scheduled at t0 + i/R and sent then,
//! however many are in flight (a safety cap, `--max-in-flight`, is reported if ever reached);
//! latency is measured **from the scheduled time**, so a late send counts against the server
//! (no coordinated omission). The tool's own lag (send time − scheduled time) is reported, and
//! `schedule_kept=no` when its p99 is over 5 ms (the load generator, not the server, fell
//! behind). `--concurrency` then only sizes the idle connection pool and `--warm-connections`.
//!
//! `--warm-connections` opens the `concurrency` keep-alive connections before the clock starts
//! (buyers whose page already talks to the shop), so the first wave does not also pay for TCP
//! connection setup; without it every one of the first `concurrency` attempts opens one.
//!
//! Each run is a fresh sale (tokens are issued before the clock starts); with `--runs N` the
//! last line gives the medians.

use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.into())
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let r = http.post(url).bearer_auth(token).json(&body).send().await?;
    let st = r.status();
    let v: Value = r.json().await?;
    anyhow::ensure!(st.is_success(), "{url}: {st} {v}");
    Ok(v)
}

/// The tool's own send lag above which an open-loop run does not measure the asked rate.
const MAX_SEND_LAG_P99: Duration = Duration::from_millis(5);

/// Value at quantile `p` (0..=1) of sorted durations, in ms; 0 when empty.
fn quantile_ms(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// `p50=.. p90=.. p99=.. max=..` of `v` (sorted in place), in ms.
fn spread(v: &mut [Duration]) -> String {
    v.sort_unstable();
    format!(
        "p50={:.1} p90={:.1} p99={:.1} max={:.1}",
        quantile_ms(v, 0.5),
        quantile_ms(v, 0.9),
        quantile_ms(v, 0.99),
        quantile_ms(v, 1.0)
    )
}

/// Open-loop schedule: `rate` attempts/s, at most `cap` in flight.
#[derive(Clone, Copy)]
struct OpenLoop {
    rate: f64,
    cap: usize,
}

/// What one attempt saw: status (0 = transport error), latency, how late it was sent, and
/// whether it had to wait for the in-flight cap.
struct Outcome {
    status: u16,
    latency: Duration,
    send_lag: Duration,
    capped: bool,
}

struct Run {
    attempts_per_s: f64,
    p50: f64,
    p99: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = arg("--runs", "1").parse()?;
    let db = std::env::args()
        .any(|a| a == "--db")
        .then(|| arg("--db", ""));
    let pool = match db {
        Some(url) => Some(sqlx::PgPool::connect(&url).await?),
        None => None,
    };
    let mut all = Vec::new();
    for _ in 0..runs.max(1) {
        all.push(run(pool.as_ref()).await?);
    }
    let median = |f: fn(&Run) -> f64| {
        let mut v: Vec<f64> = all.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "median of {} runs: attempts_per_s={:.0} p50={:.1} ms p99={:.1} ms",
        all.len(),
        median(|r| r.attempts_per_s),
        median(|r| r.p50),
        median(|r| r.p99)
    );
    Ok(())
}

/// Opens `n` keep-alive connections to the server (concurrent requests each need their own),
/// left idle in the client's pool for the burst. Any answer keeps its connection (a 404 here).
async fn warm(http: &reqwest::Client, url: &str, n: usize) {
    let reqs = (0..n).map(|_| http.get(format!("{url}/warm-up")).send());
    let opened = futures::future::join_all(reqs)
        .await
        .into_iter()
        .filter(|r| r.is_ok())
        .count();
    eprintln!("warm-up: {opened} of {n} connections opened before the burst");
}

async fn run(pool: Option<&sqlx::PgPool>) -> anyhow::Result<Run> {
    let url = arg("--url", "http://127.0.0.1:8080");
    let stream = arg("--stream", "s1");
    let admin = arg("--admin-key", "bench-admin");
    let attempts: usize = arg("--attempts", "5000").parse()?;
    let stock: i64 = arg("--stock", "100").parse()?;
    let conc: usize = arg("--concurrency", "256").parse()?;
    let open = match std::env::args().any(|a| a == "--rate") {
        true => Some(OpenLoop {
            rate: arg("--rate", "").parse()?,
            cap: arg("--max-in-flight", "4096").parse()?,
        }),
        false => None,
    };
    anyhow::ensure!(
        open.is_none_or(|o| o.rate > 0.0 && o.cap > 0),
        "--rate and --max-in-flight must be positive"
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(open.map_or(conc, |o| o.cap))
        .timeout(Duration::from_secs(60))
        .build()?;
    let api = format!("{url}/api/v1");
    let p = post(
        &http,
        &format!("{api}/products"),
        &admin,
        json!({"title":"Burst","price_minor":1000,"currency":"EUR","stock":1}),
    )
    .await?;
    let sale = post(&http, &format!("{api}/streams/{stream}/flash-sales"), &admin,
        json!({"product_id":p["id"],"sale_price_minor":500,"stock":stock,"per_customer_limit":1,"duration_s":3600})).await?;
    let sid = sale["id"].as_str().unwrap_or_default().to_owned();
    post(
        &http,
        &format!("{api}/streams/{stream}/flash-sales/{sid}/start"),
        &admin,
        json!({}),
    )
    .await?;
    let mut tokens = Vec::with_capacity(attempts);
    for i in 0..attempts {
        let t = post(
            &http,
            &format!("{api}/tokens"),
            &admin,
            json!({"role":"viewer","name":format!("b{i}")}),
        )
        .await?;
        tokens.push(t["token"].as_str().unwrap_or_default().to_owned());
    }
    let buy_url = Arc::new(format!("{api}/streams/{stream}/flash-sales/{sid}/purchase"));
    if std::env::args().any(|a| a == "--warm-connections") {
        warm(&http, &url, conc).await;
    }
    let gate = Arc::new(tokio::sync::Semaphore::new(open.map_or(conc, |o| o.cap)));
    // Open loop: the tasks are spawned before the clock, each sleeping until its slot.
    let t0 = Instant::now() + open.map_or(Duration::ZERO, |_| Duration::from_millis(50));
    let mut tasks = Vec::with_capacity(attempts);
    for (i, tok) in tokens.into_iter().enumerate() {
        let (http, buy_url, gate) = (http.clone(), buy_url.clone(), gate.clone());
        let slot = open.map(|o| t0 + Duration::from_secs_f64(i as f64 / o.rate));
        tasks.push(tokio::spawn(async move {
            if let Some(slot) = slot {
                tokio::time::sleep_until(slot.into()).await;
            }
            let (_p, capped) = match gate.clone().try_acquire_owned() {
                Ok(p) => (Some(p), false),
                Err(_) => (gate.acquire_owned().await.ok(), slot.is_some()),
            };
            let sent = Instant::now();
            let t = slot.unwrap_or(sent);
            let r = http
                .post(buy_url.as_str())
                .bearer_auth(tok)
                .header("Idempotency-Key", format!("k{i}"))
                .json(&json!({"quantity":1}))
                .send()
                .await;
            let status = match r {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            };
            Outcome {
                status,
                latency: t.elapsed(),
                send_lag: sent - t,
                capped,
            }
        }));
    }
    let mut lat = Vec::with_capacity(attempts);
    // Where the tail comes from: winners vs refusals, and the first `conc` attempts (each
    // opening a new connection) vs the rest (kept-alive connections).
    let (mut won_lat, mut refused_lat, mut first_wave, mut later) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut ok, mut sold_out, mut other) = (0usize, 0usize, 0usize);
    let (mut lags, mut capped) = (Vec::with_capacity(attempts), 0usize);
    for (i, t) in tasks.into_iter().enumerate() {
        let o = t.await?;
        let d = o.latency;
        lat.push(d);
        lags.push(o.send_lag);
        capped += usize::from(o.capped);
        match o.status {
            200 => {
                ok += 1;
                won_lat.push(d);
            }
            409 => {
                sold_out += 1;
                refused_lat.push(d);
            }
            _ => other += 1,
        }
        if i < conc {
            first_wave.push(d);
        } else {
            later.push(d);
        }
    }
    let wall = t0.elapsed();
    if let Some(o) = open {
        // The last attempt was scheduled at (n-1)/R; it was sent `lag` later.
        let last_send = Duration::from_secs_f64((attempts.saturating_sub(1)) as f64 / o.rate)
            + lags.last().copied().unwrap_or_default();
        lags.sort_unstable();
        let kept = Duration::from_secs_f64(quantile_ms(&lags, 0.99) / 1000.0) <= MAX_SEND_LAG_P99;
        println!(
            "open_loop rate={:.0} sent_per_s={:.0} send_lag_ms p50={:.1} p99={:.1} max={:.1} \
             capped_at_{}={capped} schedule_kept={}",
            o.rate,
            attempts as f64 / last_send.as_secs_f64().max(1e-9),
            quantile_ms(&lags, 0.5),
            quantile_ms(&lags, 0.99),
            quantile_ms(&lags, 1.0),
            o.cap,
            if kept { "yes" } else { "no" }
        );
        if !kept {
            eprintln!(
                "WARNING: the load tool sent late (send lag p99 > {MAX_SEND_LAG_P99:?}): \
                 this run did not offer {:.0} attempts/s",
                o.rate
            );
        }
    }
    println!(
        "percentiles_ms all {} winners {}",
        spread(&mut lat),
        spread(&mut won_lat.clone())
    );
    let pct = |p: f64| quantile_ms(&lat, p);
    let pct_of = |v: &mut Vec<Duration>, p: f64| {
        v.sort_unstable();
        quantile_ms(v, p)
    };
    println!(
        "breakdown_ms winners_p50={:.1} winners_max={:.1} refusals_p99={:.1} first_{conc}_p99={:.1} later_p99={:.1}",
        pct_of(&mut won_lat, 0.5),
        pct_of(&mut won_lat, 1.0),
        pct_of(&mut refused_lat, 0.99),
        pct_of(&mut first_wave, 0.99),
        pct_of(&mut later, 0.99)
    );
    let sales = http
        .get(format!("{api}/streams/{stream}/flash-sales"))
        .bearer_auth(&admin)
        .send()
        .await?
        .json::<Value>()
        .await?;
    let remaining = sales["flash_sales"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["id"] == json!(sid)))
        .map(|s| s["remaining"].clone());
    println!(
        "attempts={attempts} {} stock={stock} orders={ok} sold_out={sold_out} other={other} remaining={} \
         wall={:.2}s attempts_per_s={:.0} latency_ms p50={:.1} p99={:.1} max={:.1} oversell={}",
        open.map_or(format!("concurrency={conc}"), |o| format!(
            "rate={:.0}",
            o.rate
        )),
        remaining.unwrap_or(Value::Null),
        wall.as_secs_f64(),
        attempts as f64 / wall.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        pct(1.0),
        ok as i64 > stock
    );
    anyhow::ensure!(
        ok as i64 == stock,
        "expected exactly {stock} orders, got {ok}"
    );
    if let Some(pool) = pool {
        let source = format!("flash:{sid}");
        let rows: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM commerce_orders WHERE source = $1")
                .bind(&source)
                .fetch_one(pool)
                .await?;
        let left: i64 =
            sqlx::query_scalar("SELECT remaining FROM commerce_flash_sales WHERE id = $1")
                .bind(&sid)
                .fetch_one(pool)
                .await?;
        println!("db: orders={rows} remaining={left}");
        anyhow::ensure!(
            rows == stock && left == 0,
            "database: {rows} orders, {left} left for a stock of {stock}"
        );
    }
    Ok(Run {
        attempts_per_s: attempts as f64 / wall.as_secs_f64(),
        p50: pct(0.5),
        p99: pct(0.99),
    })
}
