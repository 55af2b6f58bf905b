//! Viewer count and studio stats with the real binary: two engine processes on one PostgreSQL and
//! one Redis, ffmpeg publishing over RTMP to engine A, ffmpeg reading LL-HLS from A as a player
//! (no `cid`: counted by address + User-Agent), an HTTP poller with a `cid` as a second player,
//! WebSocket clients on B. B's `/info` and `viewers` frames show A's players (summed over Redis);
//! a host token reads `/stats` and receives the viewer's private order events; a viewer token is
//! refused.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use showroom_tests::clients::{ffmpeg_publish, FfmpegPublish, Proc};
use showroom_tests::services::{Postgres, Redis};
use showroom_tests::Engine;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const ADMIN: &str = "viewers-test-admin-key";

async fn call(e: &Engine, method: Method, path: &str, token: &str, body: Value) -> (u16, Value) {
    let mut req = e.http.request(method.clone(), e.url(path));
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if method != Method::GET {
        req = req.json(&body);
    }
    let r = req.send().await.expect("http");
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn ok(e: &Engine, method: Method, path: &str, token: &str, body: Value) -> Value {
    let (st, v) = call(e, method, path, token, body).await;
    assert!((200..300).contains(&st), "{path}: {st} {v}");
    v
}

async fn ws(e: &Engine, stream: &str, token: &str) -> Ws {
    let url = format!("ws://127.0.0.1:{}/ws/{stream}?token={token}", e.http_port);
    tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect")
        .0
}

/// The next frame of `ty` whose JSON satisfies `want`, within `secs`.
async fn frame(ws: &mut Ws, secs: u64, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the expected frame in time")
            .expect("open")
            .expect("ok");
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).expect("json frame");
            if want(&v) {
                return v;
            }
        }
    }
}

async fn info(e: &Engine, id: &str) -> Value {
    ok(
        e,
        Method::GET,
        &format!("/api/v1/streams/{id}/info"),
        "",
        Value::Null,
    )
    .await
}

async fn wait_info(e: &Engine, id: &str, secs: u64, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = info(e, id).await;
        if want(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "/info never matched: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// ffmpeg playing the stream's LL-HLS (a real HLS client; it sends no `cid`).
fn ffmpeg_play(url: &str) -> Proc {
    Proc(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i", url])
            .args(["-f", "null", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg"),
    )
}

/// Two engines sharing PostgreSQL, Redis, the admin key and the token secret (one load-balanced
/// deployment).
async fn two_engines() -> (Postgres, Redis, Engine, Engine) {
    let pg = Postgres::start().expect("PostgreSQL");
    let redis = Redis::start().expect("redis-server");
    let (db_url, redis_url) = (pg.url(), redis.url());
    let shared = [
        ("SHOWROOM_DATABASE__URL", db_url.as_str()),
        ("SHOWROOM_COMMERCE__REDIS_URL", redis_url.as_str()),
        ("SHOWROOM_ADMIN_KEY", ADMIN),
        ("SHOWROOM_JWT_SECRET", "viewers-test-jwt-secret-0123"),
    ];
    let a = Engine::start_with(&shared).await.expect("engine A");
    let b = Engine::start_with(&shared).await.expect("engine B");
    (pg, redis, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_summed_over_engines_and_staff_stats() {
    let (_pg, _redis, a, b) = two_engines().await;
    let s = a.create_stream("viewers").await.expect("stream");
    let id = s["id"].as_str().unwrap().to_owned();
    let key = s["stream_key"].as_str().unwrap().to_owned();
    let _ = b.stream(&id).await.expect("B sees the stream");

    // Nobody yet.
    let i = info(&b, &id).await;
    assert_eq!(i["viewers"], json!(0), "{i}");

    let host = ok(
        &b,
        Method::POST,
        &format!("/api/v1/streams/{id}/tokens/host"),
        "",
        json!({ "stream_key": key }),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut host_ws = ws(&b, &id, &host).await;

    let _publisher = ffmpeg_publish(&a.rtmp_url(&key), &FfmpegPublish::default());
    let playlist = a.url(&format!("/hls/{id}/index.m3u8"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !a
        .http
        .get(&playlist)
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "A never served the playlist");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Player 1: ffmpeg on A (address + User-Agent). Player 2: a poller with a cid on A.
    let mut player = ffmpeg_play(&playlist);
    let poll_url = a.url(&format!("/hls/{id}/video.m3u8?cid=poller-1"));
    let http = a.http.clone();
    let poller = tokio::spawn(async move {
        loop {
            let _ = http.get(&poll_url).send().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });

    // B has no player of its own: its /info and its WebSocket clients see A's, via Redis.
    let i = wait_info(&b, &id, 20, |v| v["viewers"] == json!(2)).await;
    assert_eq!(i["audience"]["llhls"], json!(2), "{i}");
    assert_eq!(i["audience"]["webrtc"], json!(0), "{i}");
    assert!(
        i["audience"]["connected"].as_u64() >= Some(1),
        "B's host socket counts as a connection: {i}"
    );
    let f = frame(&mut host_ws, 10, |v| {
        v["type"] == "viewers" && v["viewers"] == json!(2)
    })
    .await;
    assert_eq!(
        (f["v"].clone(), f["stream_id"].clone()),
        (json!(1), json!(id))
    );
    let on_a = info(&a, &id).await;
    assert_eq!(on_a["viewers"], json!(2), "A agrees: {on_a}");

    // The poller leaves: within the window (6 s) plus a report (2 s) the count drops to 1.
    poller.abort();
    wait_info(&b, &id, 15, |v| v["viewers"] == json!(1)).await;
    frame(&mut host_ws, 10, |v| {
        v["type"] == "viewers" && v["viewers"] == json!(1)
    })
    .await;

    // A viewer buys on A; the host on B receives the private order event and reads the stats.
    let p = ok(
        &a,
        Method::POST,
        "/api/v1/products",
        ADMIN,
        json!({"title":"Scarf","price_minor":2_500,"currency":"EUR","stock":5}),
    )
    .await;
    let pid = p["id"].as_str().unwrap();
    ok(
        &b,
        Method::PUT,
        &format!("/api/v1/streams/{id}/products"),
        &host,
        json!({ "product_ids": [pid] }),
    )
    .await;
    let viewer = ok(
        &a,
        Method::POST,
        &format!("/api/v1/streams/{id}/tokens/viewer"),
        "",
        json!({"name":"vic"}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &a,
        Method::PUT,
        &format!("/api/v1/streams/{id}/cart/{pid}"),
        &viewer,
        json!({"quantity": 2}),
    )
    .await;
    let order = ok(
        &a,
        Method::POST,
        &format!("/api/v1/streams/{id}/checkout"),
        &viewer,
        json!({}),
    )
    .await;
    let ev = frame(&mut host_ws, 10, |v| {
        v["type"] == "event" && v["kind"] == "order.updated"
    })
    .await;
    assert_eq!(ev["data"]["status"], json!("paid"), "{ev} / {order}");
    let stats = ok(
        &b,
        Method::GET,
        &format!("/api/v1/streams/{id}/stats"),
        &host,
        Value::Null,
    )
    .await;
    assert_eq!(stats["orders"]["paid"], json!(1), "{stats}");
    assert_eq!(
        stats["revenue"],
        json!([{"currency":"EUR","total_minor":5_000}]),
        "{stats}"
    );
    assert_eq!(stats["viewers"]["viewers"], json!(1), "{stats}");
    let (st, _) = call(
        &b,
        Method::GET,
        &format!("/api/v1/streams/{id}/stats"),
        &viewer,
        Value::Null,
    )
    .await;
    assert_eq!(st, 403, "a viewer token must not read the stats");
    let (st, _) = call(
        &b,
        Method::GET,
        &format!("/api/v1/streams/{id}/stats"),
        "",
        Value::Null,
    )
    .await;
    assert_eq!(st, 401);

    // The last player stops: 0.
    player.kill();
    wait_info(&a, &id, 25, |v| v["viewers"] == json!(0)).await;
}
