//! The commerce HTTP/WebSocket surface, served by the engine's own router file
//! (`engine/src/http/commerce/mod.rs`) on 127.0.0.1, driven by real clients (reqwest,
//! tokio-tungstenite), on SQLite and on a real PostgreSQL and Redis.

mod commerce_common;
#[path = "../../engine/src/http/commerce/mod.rs"]
mod engine_router;

use commerce_common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use showroom_commerce::{Commerce, CommerceConfig, CommerceDb};
use showroom_tests::services::{Postgres, Redis};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const S: &str = "show-1";
type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Server {
    base: String,
    http: reqwest::Client,
    shop: Arc<Commerce>,
}

async fn serve(shop: Arc<Commerce>) -> Server {
    // A deep accept queue: the burst test opens thousands of connections at once.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(8192).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = engine_router::router(shop.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        base: format!("http://127.0.0.1:{}", addr.port()),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(1000)
            .build()
            .unwrap(),
        shop,
    }
}

impl Server {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut rq = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            rq = rq.json(&b);
        }
        let r = rq.send().await.expect("http");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }
    async fn token(&self, kind: &str, body: Value) -> String {
        let r = self
            .http
            .post(format!("{}/api/v1/streams/{S}/tokens/{kind}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["token"].as_str().unwrap().to_owned()
    }
    async fn ws(&self, token: Option<&str>, since: Option<u64>) -> Ws {
        let mut url = format!("{}/ws/{S}?", self.base.replace("http", "ws"));
        if let Some(t) = token {
            url.push_str(&format!("token={t}&"));
        }
        if let Some(s) = since {
            url.push_str(&format!("since={s}"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connect");
        ws
    }
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("frame in time")
            .expect("open")
            .expect("ws ok");
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

/// Next frame of `type` (skipping others), e.g. the `result` of a command.
async fn next_of(ws: &mut Ws, ty: &str) -> Value {
    loop {
        let f = next(ws).await;
        if f["type"] == ty {
            return f;
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

async fn product(srv: &Server, stock: i64) -> String {
    let (st, p) = srv
        .post(
            "/api/v1/products",
            ADMIN_KEY,
            json!({"title":"Bag","price_minor":5_000,"currency":"EUR","stock":stock}),
        )
        .await;
    assert_eq!(st, 200, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_protocol_errors_keep_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = CommerceConfig {
        conn_rate_per_s: 5,
        conn_burst: 10,
        ..CommerceConfig::default()
    };
    let srv = serve(
        start(
            sqlite(&dir).await,
            FakeStreams::with_stream(S, "key-1"),
            cfg,
        )
        .await,
    )
    .await;
    let viewer = srv.token("viewer", json!({"name":"ann"})).await;
    let mut ws = srv.ws(Some(&viewer), None).await;
    let hello = next(&mut ws).await;
    assert_eq!(
        (
            hello["type"].clone(),
            hello["protocol"].clone(),
            hello["role"].clone()
        ),
        (
            json!("hello"),
            json!("showroom.commerce.v1"),
            json!("viewer")
        )
    );
    ws.send(Message::Text("{not json".into())).await.unwrap();
    assert_eq!(next(&mut ws).await["code"], json!("invalid_json"));
    send(&mut ws, json!({"v":1,"id":"u","type":"teleport"})).await;
    let f = next(&mut ws).await;
    assert_eq!(
        (f["code"].clone(), f["id"].clone()),
        (json!("unknown_type"), json!("u"))
    );
    ws.send(Message::Text("x".repeat(20_000).into()))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await["code"], json!("frame_too_large"));
    send(
        &mut ws,
        json!({"id":"p","type":"pin.add","product_id":"prod_x"}),
    )
    .await;
    let f = next(&mut ws).await;
    assert_eq!(
        (f["code"].clone(), f["id"].clone()),
        (json!("forbidden"), json!("p"))
    );
    // Flood: far more than the burst; the excess gets rate_limited error frames.
    for i in 0..40 {
        send(&mut ws, json!({"id": i, "type":"ping"})).await;
    }
    let mut limited = 0;
    for _ in 0..40 {
        let f = next(&mut ws).await;
        if f["code"] == json!("rate_limited") {
            assert!(f["retry_after_ms"].as_u64().unwrap() > 0);
            limited += 1;
        }
    }
    assert!(limited >= 25, "only {limited} of 40 were limited");
    tokio::time::sleep(Duration::from_millis(500)).await;
    send(&mut ws, json!({"id":"alive","type":"ping"})).await;
    assert_eq!(
        next(&mut ws).await,
        json!({"v":1,"type":"pong","id":"alive"})
    );
    // REST: bad token, and a viewer pinning.
    let (st, e) = srv
        .post(
            &format!("/api/v1/streams/{S}/pins"),
            "garbage",
            json!({"product_id":"x"}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["code"].clone()),
        (401, json!("unauthenticated"))
    );
    let (st, e) = srv
        .post(
            &format!("/api/v1/streams/{S}/pins"),
            &viewer,
            json!({"product_id":"x"}),
        )
        .await;
    assert_eq!((st, e["error"]["code"].clone()), (403, json!("forbidden")));
    match tokio_tungstenite::connect_async(format!("{}/ws/nope", srv.base.replace("http", "ws")))
        .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status(), 404, "unknown stream refused before upgrade")
        }
        other => panic!("expected a 404, got {other:?}"),
    }
}

async fn reconnect_misses_nothing(db: CommerceDb) {
    let srv = serve(
        start(
            db,
            FakeStreams::with_stream(S, "key-1"),
            CommerceConfig::default(),
        )
        .await,
    )
    .await;
    let host = srv.token("host", json!({"stream_key":"key-1"})).await;
    let pid = product(&srv, 10).await;
    let viewer = srv.token("viewer", json!({"name":"bob"})).await;
    let mut ws = srv.ws(Some(&viewer), None).await;
    assert_eq!(next(&mut ws).await["head_seq"], json!(0));
    srv.post(
        &format!("/api/v1/streams/{S}/pins"),
        &host,
        json!({"product_id":pid}),
    )
    .await;
    let ev = next_of(&mut ws, "event").await;
    assert_eq!(
        (ev["seq"].clone(), ev["kind"].clone()),
        (json!(1), json!("pin.added"))
    );
    drop(ws);
    // While away: a poll, votes, an unpin, chat.
    let (_, poll) = srv
        .post(
            &format!("/api/v1/streams/{S}/polls"),
            &host,
            json!({"question":"?","options":["a","b"]}),
        )
        .await;
    let pid_poll = poll["id"].as_str().unwrap();
    for i in 0..5 {
        let v = srv.token("viewer", json!({"name": format!("v{i}")})).await;
        let (st, _) = srv
            .post(
                &format!("/api/v1/streams/{S}/polls/{pid_poll}/votes"),
                &v,
                json!({"choices":[i % 2]}),
            )
            .await;
        assert_eq!(st, 200);
    }
    srv.call(
        reqwest::Method::DELETE,
        &format!("/api/v1/streams/{S}/pins/{pid}"),
        &host,
        None,
    )
    .await;
    let mut ws = srv.ws(Some(&viewer), Some(1)).await;
    assert_eq!(next(&mut ws).await["head_seq"], json!(8));
    let mut kinds = vec![];
    for want in 2..=8 {
        let ev = next_of(&mut ws, "event").await;
        assert_eq!(ev["seq"], json!(want));
        kinds.push(ev["kind"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        kinds,
        [
            "poll.created",
            "poll.results",
            "poll.results",
            "poll.results",
            "poll.results",
            "poll.results",
            "pin.removed"
        ]
    );
    // ... and live events continue after the replay, over the same socket, with commands too.
    send(
        &mut ws,
        json!({"id":1,"type":"chat.send","text":"back again"}),
    )
    .await;
    let mut got_result = false;
    let mut got_event = false;
    while !(got_result && got_event) {
        let f = next(&mut ws).await;
        match f["type"].as_str() {
            Some("result") => got_result = true,
            Some("event") if f["kind"] == "chat.message" => {
                assert_eq!(f["seq"], json!(9));
                got_event = true;
            }
            _ => panic!("unexpected {f}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reconnect_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    reconnect_misses_nothing(sqlite(&dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reconnect_misses_nothing() {
    let pg = Postgres::start().expect("PostgreSQL");
    reconnect_misses_nothing(postgres(&pg.url()).await).await;
}

/// 5,000 concurrent purchase attempts over HTTP on 100 units: exactly 100 orders; retries with
/// the same Idempotency-Key return the same orders.
async fn flash_burst(db: CommerceDb, count_sql: &str) {
    let streams = FakeStreams::with_stream(S, "key-1");
    streams.set_clock(S, 1, 10_000, SystemTime::now());
    let shop = start(db.clone(), streams, CommerceConfig::default()).await;
    let srv = Arc::new(serve(shop).await);
    let host = srv.token("host", json!({"stream_key":"key-1"})).await;
    let pid = product(&srv, 1).await;
    let (_, sale) = srv.post(&format!("/api/v1/streams/{S}/flash-sales"), &host,
        json!({"product_id":pid,"sale_price_minor":999,"stock":100,"per_customer_limit":1,"duration_s":600})).await;
    let sid = sale["id"].as_str().unwrap().to_owned();
    let (st, _) = srv
        .post(
            &format!("/api/v1/streams/{S}/flash-sales/{sid}/start"),
            &host,
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    let mut tokens = Vec::new();
    for i in 0..5_000 {
        let t = srv
            .shop
            .issue_viewer_token(S, Some(format!("buyer{i}")))
            .unwrap();
        tokens.push(t["token"].as_str().unwrap().to_owned());
    }
    // At most 1,000 connections at once: 5,000 (client + server side: 10,000 descriptors) next
    // to another test in this process meet the 20,000 descriptor limit ("Too many open files").
    let gate = Arc::new(tokio::sync::Semaphore::new(1_000));
    let buy = |srv: Arc<Server>, token: String, key: String, sid: String| {
        let gate = gate.clone();
        async move {
            let _p = gate.acquire().await.unwrap();
            let r = srv
                .http
                .post(format!(
                    "{}/api/v1/streams/{S}/flash-sales/{sid}/purchase",
                    srv.base
                ))
                .bearer_auth(&token)
                .header("Idempotency-Key", key)
                .json(&json!({"quantity":1}))
                .send()
                .await
                .expect("http");
            let st = r.status().as_u16();
            (st, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let t0 = std::time::Instant::now();
    let mut tasks = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        tasks.push(tokio::spawn(buy(
            srv.clone(),
            t.clone(),
            format!("key-{i}"),
            sid.clone(),
        )));
    }
    let won = winners(tasks).await;
    eprintln!("5000 attempts in {:?}", t0.elapsed());
    assert_eq!(won.len(), 100);
    // Retries of the winners (same key) get the same order back.
    for (i, order) in won.iter().take(20) {
        let (st, body) = buy(
            srv.clone(),
            tokens[*i].clone(),
            format!("key-{i}"),
            sid.clone(),
        )
        .await;
        assert_eq!((st, body["id"].as_str().unwrap()), (200, order.as_str()));
        assert_eq!(body["replayed"], json!(true));
    }
    let n: i64 = match &db {
        CommerceDb::Sqlite(p) => sqlx::query_scalar(count_sql).fetch_one(p).await.unwrap(),
        CommerceDb::Postgres(p) => sqlx::query_scalar(count_sql).fetch_one(p).await.unwrap(),
    };
    assert_eq!(n, 100, "orders in the database");
}

const COUNT: &str = "SELECT COUNT(*) FROM commerce_orders WHERE source LIKE 'flash:%'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_flash_burst_5000_on_100() {
    let dir = tempfile::tempdir().unwrap();
    flash_burst(sqlite(&dir).await, COUNT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_flash_burst_5000_on_100() {
    let pg = Postgres::start().expect("PostgreSQL");
    flash_burst(postgres(&pg.url()).await, COUNT).await;
}

/// Two commerce instances (as two engine processes would be) on one PostgreSQL and one Redis:
/// an event caused on one reaches WebSocket clients of the other, in sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_events_over_redis() {
    let pg = Postgres::start().expect("PostgreSQL");
    let redis = Redis::start().expect("redis-server");
    let cfg = CommerceConfig {
        redis_url: Some(redis.url()),
        ..CommerceConfig::default()
    };
    let a = serve(
        start(
            postgres(&pg.url()).await,
            FakeStreams::with_stream(S, "key-1"),
            cfg.clone(),
        )
        .await,
    )
    .await;
    let b = serve(
        start(
            postgres(&pg.url()).await,
            FakeStreams::with_stream(S, "key-1"),
            cfg,
        )
        .await,
    )
    .await;
    let host = a.token("host", json!({"stream_key":"key-1"})).await;
    let pid = product(&a, 5).await;
    let mut on_b = b
        .ws(Some(&b.token("viewer", json!({"name":"bea"})).await), None)
        .await;
    let mut on_a = a
        .ws(Some(&a.token("viewer", json!({"name":"al"})).await), None)
        .await;
    next(&mut on_b).await;
    next(&mut on_a).await;
    let (st, _) = a
        .post(
            &format!("/api/v1/streams/{S}/pins"),
            &host,
            json!({"product_id":pid}),
        )
        .await;
    assert_eq!(st, 200);
    let ev = next_of(&mut on_b, "event").await;
    assert_eq!(
        (ev["kind"].clone(), ev["seq"].clone()),
        (json!("pin.added"), json!(1))
    );
    // And the other way: chat sent through B's socket reaches A's client.
    send(
        &mut on_b,
        json!({"id":1,"type":"chat.send","text":"hi from b"}),
    )
    .await;
    let ev = next_of(&mut on_a, "event").await;
    let ev = if ev["kind"] == "pin.added" {
        next_of(&mut on_a, "event").await
    } else {
        ev
    };
    assert_eq!(
        (
            ev["kind"].clone(),
            ev["seq"].clone(),
            ev["data"]["text"].clone()
        ),
        (json!("chat.message"), json!(2), json!("hi from b"))
    );
    // Interleaved writers on both instances: both clients see 3..=22 in order, no gaps.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (srv_base, tok) = if i % 2 == 0 {
            (a.base.clone(), host.clone())
        } else {
            (b.base.clone(), host.clone())
        };
        let http = a.http.clone();
        tasks.push(tokio::spawn(async move {
            http.post(format!("{srv_base}/api/v1/streams/{S}/chat"))
                .bearer_auth(tok)
                .json(&json!({"text": format!("m{i}")}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    for ws in [&mut on_a, &mut on_b] {
        let mut want = 3;
        while want <= 22 {
            let ev = next_of(ws, "event").await;
            if ev["seq"].as_u64().unwrap() < want {
                continue; // the pin/chat above on A's socket
            }
            assert_eq!(ev["seq"], json!(want));
            want += 1;
        }
    }
}

/// With `max_strikes` set, a socket that keeps sending refused frames is closed after a `flood`
/// error frame; an accepted frame resets the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_strikes_closes_a_flooding_socket() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = CommerceConfig {
        max_strikes: 3,
        ..CommerceConfig::default()
    };
    let srv = serve(
        start(
            sqlite(&dir).await,
            FakeStreams::with_stream(S, "key-1"),
            cfg,
        )
        .await,
    )
    .await;
    let mut ws = srv.ws(None, None).await;
    assert_eq!(next(&mut ws).await["type"], json!("hello"));
    for _ in 0..2 {
        ws.send(Message::Text("nope".into())).await.unwrap();
        assert_eq!(next(&mut ws).await["code"], json!("invalid_json"));
    }
    send(&mut ws, json!({"type":"ping","id":1})).await; // resets the count
    assert_eq!(next(&mut ws).await["type"], json!("pong"));
    for _ in 0..2 {
        ws.send(Message::Text("nope".into())).await.unwrap();
        assert_eq!(next(&mut ws).await["code"], json!("invalid_json"));
    }
    ws.send(Message::Text("nope".into())).await.unwrap();
    assert_eq!(next(&mut ws).await["code"], json!("invalid_json"));
    assert_eq!(next(&mut ws).await["code"], json!("flood"));
    let end = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("closed in time");
    assert!(
        matches!(end, None | Some(Ok(Message::Close(_))) | Some(Err(_))),
        "{end:?}"
    );
}

/// A real WebSocket client with a 4 KiB receive buffer that reads nothing after `hello`.
async fn stalled_reader(srv: &Server, token: &str) -> Ws {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock
        .connect(srv.base.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap();
    let url = format!("{}/ws/{S}?token={token}", srv.base.replace("http", "ws"));
    let (mut ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await["type"], json!("hello"));
    ws
}

impl Server {
    /// The stream's newest seq.
    async fn shop_head(&self) -> u64 {
        let (_, tl) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/streams/{S}/timeline?limit=1"),
                ADMIN_KEY,
                None,
            )
            .await;
        tl["head_seq"].as_u64().unwrap()
    }
}

/// `n` chat messages of `chars` characters each, by the host; their sequence numbers.
async fn flood_chat(srv: &Server, n: usize, chars: usize) -> Vec<u64> {
    let host = host(&srv.shop);
    let head = srv.shop_head().await;
    for i in 0..n {
        let text = format!("{i:05}{}", "x".repeat(chars - 5));
        ok(&srv.shop, &host, json!({"type":"chat.send","text":text})).await;
    }
    (head + 1..=head + n as u64).collect()
}

/// Every `event` frame until the socket ends or `until` is seen: their seqs, and whether a
/// `resync` frame came (its `head_seq`).
async fn drain(ws: &mut Ws, until: u64) -> (Vec<u64>, Option<u64>, bool) {
    let (mut seqs, mut resync) = (Vec::new(), None);
    loop {
        let m = match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(_))) | Ok(None) => return (seqs, resync, true),
            Err(_) => panic!("no frame in 10 s (got {} events)", seqs.len()),
        };
        let Message::Text(t) = m else {
            if matches!(m, Message::Close(_)) {
                return (seqs, resync, true);
            }
            continue;
        };
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        match v["type"].as_str() {
            Some("event") => seqs.push(v["seq"].as_u64().unwrap()),
            Some("resync") => resync = v["head_seq"].as_u64(),
            _ => {}
        }
        if seqs.last() == Some(&until) || resync == Some(until) {
            return (seqs, resync, false);
        }
    }
}

/// A server on SQLite with a small per-socket queue, the given write deadline and history,
/// a viewer token, and that viewer's [`stalled_reader`].
async fn slow_setup(
    write_timeout_ms: u64,
    history_len: u64,
) -> (tempfile::TempDir, Server, String, Ws) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = CommerceConfig {
        send_queue: 16,
        ws_write_timeout_ms: write_timeout_ms,
        history_len,
        max_chat_chars: 50_000,
        ..CommerceConfig::default()
    };
    let shop = start(
        sqlite(&dir).await,
        FakeStreams::with_stream(S, "key-1"),
        cfg,
    )
    .await;
    let srv = serve(shop).await;
    let viewer = srv.token("viewer", json!({"name":"slow"})).await;
    let slow = stalled_reader(&srv, &viewer).await;
    (dir, srv, viewer, slow)
}

/// A subscriber that stops reading never holds up the stream: a second subscriber gets every
/// event at once while the first one's writes wait; after `ws_write_timeout_ms` the server
/// closes the stalled socket. What the stalled client did receive has no gap, and reconnecting
/// with `since=<its last seq>` replays the rest from history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_reader_is_closed_and_resumes_from_its_last_seq() {
    let (_dir, srv, viewer, mut slow) = slow_setup(1_500, 10_000).await;
    let mut fast = srv.ws(Some(&viewer), None).await;
    assert_eq!(next(&mut fast).await["type"], json!("hello"));
    // 200 × 48 KB: more than the stalled socket's TCP window and write buffers hold.
    let (n, t0) = (200, std::time::Instant::now());
    let last = srv.shop_head().await + n as u64;
    let reader = tokio::spawn(async move {
        let r = drain(&mut fast, last).await;
        (r, t0.elapsed())
    });
    let seqs = flood_chat(&srv, n, 48_000).await;
    assert_eq!(*seqs.last().unwrap(), last);
    let ((got, resync, ended), fast_done) = reader.await.unwrap();
    assert!(!ended && resync.is_none());
    assert_eq!(
        got, seqs,
        "the reading subscriber got every event, in order"
    );
    // The stalled socket is closed by the server once its write has waited 1.5 s.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (partial, resync, ended) = drain(&mut slow, last).await;
    assert!(ended, "the stalled socket was closed");
    assert!(resync.is_none());
    assert!(
        partial.len() < n,
        "it stalled before the end: {} of {n}",
        partial.len()
    );
    assert_eq!(partial[..], seqs[..partial.len()], "no gap in what it got");
    assert!(
        fast_done < Duration::from_secs(30),
        "fan-out was not held up: {fast_done:?}"
    );
    // Resume from the last seq it processed: the rest, from history, then live.
    let since = partial.last().copied().unwrap_or(seqs[0] - 1);
    let mut again = srv.ws(Some(&viewer), Some(since)).await;
    assert_eq!(next(&mut again).await["type"], json!("hello"));
    let (rest, _, ended) = drain(&mut again, last).await;
    assert!(!ended);
    assert_eq!(rest[..], seqs[partial.len()..], "nothing missed");
}

/// A subscriber that falls behind by more than `history_len` while its socket is slow (but
/// not stalled past the write deadline) gets a `resync` frame with the head to resume from,
/// then goes on live; one within the history is replayed from it (no gap either way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_beyond_history_gets_resync() {
    let (_dir, srv, _viewer, mut slow) = slow_setup(60_000, 40).await;
    let seqs = flood_chat(&srv, 200, 48_000).await;
    let last = *seqs.last().unwrap();
    // Reading again: the buffered events, then `resync` (more than 40 behind), then live.
    let (got, resync, ended) = drain(&mut slow, last).await;
    assert!(!ended);
    let head = resync.expect("a resync frame");
    assert!(
        head > *got.last().unwrap_or(&0) + 40,
        "resync after a gap of more than the history"
    );
    assert_eq!(
        got[..],
        seqs[..got.len()],
        "no silent gap before the resync"
    );
    let more = flood_chat(&srv, 3, 100).await;
    let (live, _, _) = drain(&mut slow, *more.last().unwrap()).await;
    assert_eq!(live.last(), more.last(), "live again after the resync");
}
