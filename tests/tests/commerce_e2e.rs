//! Commerce end to end with the real `showroom` binary (spawned by `showroom_tests::Engine`),
//! real HTTP/WebSocket clients, a real redis-server and PostgreSQL.

use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use showroom_tests::services::{Postgres, Redis};
use showroom_tests::Engine;

mod commerce_common;
use commerce_common::{rate_limited_ms, winners};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn call(e: &Engine, method: Method, path: &str, token: &str, body: Value) -> (u16, Value) {
    let r = e
        .http
        .request(method, e.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("http");
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn ok(e: &Engine, method: Method, path: &str, token: &str, body: Value) -> Value {
    let (st, v) = call(e, method, path, token, body).await;
    assert_eq!(st, 200, "{path}: {v}");
    v
}

async fn ws(e: &Engine, stream: &str, token: &str, since: Option<u64>) -> Ws {
    let mut url = format!("ws://127.0.0.1:{}/ws/{stream}?token={token}", e.http_port);
    if let Some(s) = since {
        url.push_str(&format!("&since={s}"));
    }
    tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connect")
        .0
}

async fn next_event(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("frame in time")
            .expect("open")
            .expect("ok");
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "event" {
                return v;
            }
        }
    }
}

/// One purchase attempt over HTTP: status and body.
async fn purchase(http: &reqwest::Client, url: String, token: String, key: String) -> (u16, Value) {
    let r = http
        .post(url)
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({}))
        .send()
        .await
        .expect("http");
    let st = r.status().as_u16();
    (st, r.json::<Value>().await.unwrap_or(Value::Null))
}

/// Two engine processes on one PostgreSQL and one Redis.
async fn two_engines(pg: &Postgres, redis: &Redis) -> (Engine, Engine) {
    two_engines_with(pg, redis, &[]).await
}

/// As [`two_engines`], with more environment for both.
async fn two_engines_with(
    pg: &Postgres,
    redis: &Redis,
    extra: &[(&str, &str)],
) -> (Engine, Engine) {
    let (db, bus) = (pg.url(), redis.url());
    let mut env = vec![
        ("SHOWROOM_DATABASE__URL", db.as_str()),
        ("SHOWROOM_COMMERCE__REDIS_URL", bus.as_str()),
    ];
    env.extend_from_slice(extra);
    let a = Engine::start_with(&env).await.expect("engine A");
    let b = Engine::start_with(&env).await.expect("engine B");
    (a, b)
}

/// A token of `kind` (`host`, `viewer`) for stream `id`, issued by `e` for `body`.
async fn token(e: &Engine, id: &str, kind: &str, body: Value) -> String {
    let path = format!("/api/v1/streams/{id}/tokens/{kind}");
    let v = ok(e, Method::POST, &path, "", body).await;
    v["token"].as_str().unwrap().to_owned()
}

/// Stream + host token + a product on it.
async fn setup(e: &Engine) -> (String, String, String) {
    let s = e.create_stream("shop").await.expect("stream");
    let id = s["id"].as_str().unwrap().to_owned();
    let key = s["stream_key"].as_str().unwrap();
    let host = token(e, &id, "host", json!({"stream_key": key})).await;
    let p = ok(
        e,
        Method::POST,
        "/api/v1/products",
        &e.admin_key,
        json!({"title":"Jacket","price_minor":8_000,"currency":"EUR","stock":10}),
    )
    .await;
    (id, host, p["id"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_flash_sale_5000_attempts_100_units() {
    let e = Engine::start().await.expect("engine");
    let (id, host, pid) = setup(&e).await;
    let (st, refused) = call(
        &e,
        Method::POST,
        &format!("/api/v1/streams/{id}/tokens/host"),
        "",
        json!({"stream_key":"wrong"}),
    )
    .await;
    assert_eq!(
        (st, refused["error"]["code"].clone()),
        (401, json!("unauthenticated"))
    );
    let sale = ok(&e, Method::POST, &format!("/api/v1/streams/{id}/flash-sales"), &host,
        json!({"product_id":pid,"sale_price_minor":2_500,"stock":100,"per_customer_limit":1,"duration_s":600})).await;
    let sid = sale["id"].as_str().unwrap().to_owned();
    let started = ok(
        &e,
        Method::POST,
        &format!("/api/v1/streams/{id}/flash-sales/{sid}/start"),
        &host,
        json!({}),
    )
    .await;
    assert_eq!(
        started["window"]["start_pts_ms"],
        Value::Null,
        "not live: wall-time window"
    );
    let mut tokens = Vec::new();
    for i in 0..5_000 {
        let t = ok(
            &e,
            Method::POST,
            "/api/v1/tokens",
            &e.admin_key,
            json!({"role":"viewer","name":format!("b{i}")}),
        )
        .await;
        tokens.push(t["token"].as_str().unwrap().to_owned());
    }
    let url = e.url(&format!("/api/v1/streams/{id}/flash-sales/{sid}/purchase"));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    // At most 1,000 connections opening at once: beyond that a loaded 2-core host resets
    // some at the TCP accept queue, which is not what this test is about.
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(1_000));
    let buy = |tok: String, key: String| {
        let (http, url, gate) = (http.clone(), url.clone(), gate.clone());
        async move {
            let _p = gate.acquire().await.unwrap();
            purchase(&http, url, tok, key).await
        }
    };
    let tasks: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| tokio::spawn(buy(t.clone(), format!("k{i}"))))
        .collect();
    let won = winners(tasks).await;
    assert_eq!(won.len(), 100, "exactly 100 orders");
    for (i, order) in &won[..10] {
        let (st, body) = buy(tokens[*i].clone(), format!("k{i}")).await;
        assert_eq!(
            (st, body["id"].as_str().unwrap()),
            (200, order.as_str()),
            "retry returns the first order"
        );
    }
    let sales = ok(
        &e,
        Method::GET,
        &format!("/api/v1/streams/{id}/flash-sales"),
        &host,
        Value::Null,
    )
    .await;
    assert_eq!(sales["flash_sales"][0]["remaining"], json!(0));
    let mine = ok(
        &e,
        Method::GET,
        "/api/v1/orders",
        &tokens[won[0].0],
        Value::Null,
    )
    .await;
    assert_eq!(
        mine["orders"].as_array().unwrap().len(),
        1,
        "the retries made no second order"
    );
    let tl = ok(
        &e,
        Method::GET,
        &format!("/api/v1/streams/{id}/timeline"),
        &host,
        Value::Null,
    )
    .await;
    let kinds: Vec<_> = tl["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "flash.stock").count(), 100);
    assert!(kinds.contains(&"flash.started".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_reconnect_with_last_seq_misses_nothing() {
    let e = Engine::start().await.expect("engine");
    let (id, host, pid) = setup(&e).await;
    let v = ok(
        &e,
        Method::POST,
        &format!("/api/v1/streams/{id}/tokens/viewer"),
        "",
        json!({"name":"vic"}),
    )
    .await;
    let viewer = v["token"].as_str().unwrap().to_owned();
    let mut sock = ws(&e, &id, &viewer, None).await;
    ok(
        &e,
        Method::POST,
        &format!("/api/v1/streams/{id}/pins"),
        &host,
        json!({"product_id":pid}),
    )
    .await;
    let first = next_event(&mut sock).await;
    assert_eq!(
        (first["seq"].clone(), first["kind"].clone()),
        (json!(1), json!("pin.added"))
    );
    sock.close(None).await.ok();
    drop(sock);
    ok(
        &e,
        Method::POST,
        &format!("/api/v1/streams/{id}/polls"),
        &host,
        json!({"question":"Size?","options":["S","M"]}),
    )
    .await;
    ok(
        &e,
        Method::POST,
        &format!("/api/v1/streams/{id}/chat"),
        &host,
        json!({"text":"new drop in 5"}),
    )
    .await;
    ok(
        &e,
        Method::DELETE,
        &format!("/api/v1/streams/{id}/pins/{pid}"),
        &host,
        Value::Null,
    )
    .await;
    let mut sock = ws(&e, &id, &viewer, Some(1)).await;
    let kinds: Vec<Value> = [
        next_event(&mut sock).await,
        next_event(&mut sock).await,
        next_event(&mut sock).await,
    ]
    .iter()
    .map(|f| json!([f["seq"], f["kind"]]))
    .collect();
    assert_eq!(
        kinds,
        vec![
            json!([2, "poll.created"]),
            json!([3, "chat.message"]),
            json!([4, "pin.removed"])
        ]
    );
    // Viewers cannot pin: a clear refusal over the socket, which stays open.
    sock.send(Message::Text(
        json!({"id":"x","type":"pin.add","product_id":pid})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), sock.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            let f: Value = serde_json::from_str(t.as_str()).unwrap();
            if f["type"] == "error" {
                assert_eq!(
                    (f["id"].clone(), f["code"].clone()),
                    (json!("x"), json!("forbidden"))
                );
                break;
            }
        }
    }
}

/// Two engine processes on one PostgreSQL and one Redis: an event caused through one reaches
/// WebSocket clients of the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_one_redis_one_postgres() {
    let pg = Postgres::start().expect("PostgreSQL");
    let redis = Redis::start().expect("redis-server");
    let (a, b) = two_engines(&pg, &redis).await;
    let (id, host_a, pid) = setup(&a).await;
    // B learns about the stream from the shared database (its registry refreshes on a miss).
    let _ = b.stream(&id).await;
    let v = ok(
        &b,
        Method::POST,
        &format!("/api/v1/streams/{id}/tokens/viewer"),
        "",
        json!({"name":"bea"}),
    )
    .await;
    let mut on_b = ws(&b, &id, v["token"].as_str().unwrap(), None).await;
    let v = ok(
        &a,
        Method::POST,
        &format!("/api/v1/streams/{id}/tokens/viewer"),
        "",
        json!({"name":"al"}),
    )
    .await;
    let mut on_a = ws(&a, &id, v["token"].as_str().unwrap(), None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ok(
        &a,
        Method::POST,
        &format!("/api/v1/streams/{id}/pins"),
        &host_a,
        json!({"product_id":pid}),
    )
    .await;
    let ev = next_event(&mut on_b).await;
    assert_eq!(
        (ev["seq"].clone(), ev["kind"].clone()),
        (json!(1), json!("pin.added"))
    );
    let host_b = {
        let s = b.stream(&id).await.unwrap();
        let t = ok(
            &b,
            Method::POST,
            &format!("/api/v1/streams/{id}/tokens/host"),
            "",
            json!({"stream_key": s["stream_key"]}),
        )
        .await;
        t["token"].as_str().unwrap().to_owned()
    };
    ok(
        &b,
        Method::POST,
        &format!("/api/v1/streams/{id}/chat"),
        &host_b,
        json!({"text":"hello from B"}),
    )
    .await;
    let first = next_event(&mut on_a).await;
    assert_eq!(first["seq"], json!(1));
    let ev = next_event(&mut on_a).await;
    assert_eq!(
        (ev["seq"].clone(), ev["data"]["text"].clone()),
        (json!(2), json!("hello from B"))
    );
}

/// Two engine processes on one PostgreSQL and one Redis sell one flash sale together: a stream
/// created through A is found by B at once (no refresh first), 2,000 concurrent attempts spread
/// over both on 100 units give exactly 100 orders in PostgreSQL, retries return the first order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_flash_sale_never_oversell() {
    let pg = Postgres::start().expect("PostgreSQL");
    let redis = Redis::start().expect("redis-server");
    let (a, b) = two_engines(&pg, &redis).await;
    let (id, host, pid) = setup(&a).await;
    // B has never listed streams since A created this one: its commerce API must find it.
    let (st, v) = call(
        &b,
        Method::POST,
        &format!("/api/v1/streams/{id}/tokens/viewer"),
        "",
        json!({"name":"first"}),
    )
    .await;
    assert_eq!(st, 200, "stream created on A is known to B at once: {v}");
    let sale = ok(&a, Method::POST, &format!("/api/v1/streams/{id}/flash-sales"), &host,
        json!({"product_id":pid,"sale_price_minor":2_500,"stock":100,"per_customer_limit":1,"duration_s":600})).await;
    let sid = sale["id"].as_str().unwrap().to_owned();
    ok(
        &a,
        Method::POST,
        &format!("/api/v1/streams/{id}/flash-sales/{sid}/start"),
        &host,
        json!({}),
    )
    .await;
    let engines = [&a, &b];
    let mut tokens = Vec::new();
    for i in 0..2_000 {
        let e = engines[i % 2];
        let t = ok(
            e,
            Method::POST,
            &format!("/api/v1/streams/{id}/tokens/viewer"),
            "",
            json!({"name":format!("b{i}")}),
        )
        .await;
        tokens.push(t["token"].as_str().unwrap().to_owned());
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let urls = [&a, &b].map(|e| e.url(&format!("/api/v1/streams/{id}/flash-sales/{sid}/purchase")));
    // Each engine first reads the sale (an attempt over the per-customer limit is refused after
    // that read, before any reservation), as engines that have been serving have: otherwise, on
    // a loaded machine, one engine's 100 first reads of the sale can all come back before the
    // other's, and it sells every unit before the other reserves any.
    for (e, url) in engines.iter().zip(&urls) {
        let t = ok(
            e,
            Method::POST,
            &format!("/api/v1/streams/{id}/tokens/viewer"),
            "",
            json!({"name":"reads-the-sale"}),
        )
        .await;
        let r = http
            .post(url.clone())
            .bearer_auth(t["token"].as_str().unwrap())
            .header("Idempotency-Key", "over-the-limit")
            .json(&json!({"quantity": 2}))
            .send()
            .await
            .expect("http");
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(body["error"]["code"], json!("customer_limit"), "{body}");
    }
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(200));
    let buy = |url: String, tok: String, key: String| {
        let (http, gate) = (http.clone(), gate.clone());
        async move {
            let _p = gate.acquire().await.unwrap();
            purchase(&http, url, tok, key).await
        }
    };
    let tasks: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| tokio::spawn(buy(urls[i % 2].clone(), t.clone(), format!("k{i}"))))
        .collect();
    let won = winners(tasks).await;
    assert_eq!(won.len(), 100, "exactly 100 orders over both engines");
    assert!(won.iter().any(|(i, _)| i % 2 == 0) && won.iter().any(|(i, _)| i % 2 == 1));
    for (i, order) in &won[..6] {
        let (st, body) = buy(urls[i % 2].clone(), tokens[*i].clone(), format!("k{i}")).await;
        assert_eq!((st, body["id"].as_str().unwrap()), (200, order.as_str()));
    }
    let pool = sqlx::PgPool::connect(&pg.url()).await.unwrap();
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM commerce_orders WHERE source LIKE 'flash:%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT remaining FROM commerce_flash_sales WHERE id = $1")
        .bind(&sid)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((n, left), (100, 0), "orders and stock in PostgreSQL");
}

/// Two real engine processes on one Redis share one per-user budget for REST commands
/// (`user_burst` 5 per 5 s here): of 10 calls by one viewer alternating between A and B,
/// exactly 5 pass; the others get 429, `Retry-After` and a JSON body naming the limit; after
/// that wait the viewer is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_share_the_rest_rate_limit() {
    let pg = Postgres::start().expect("PostgreSQL");
    let redis = Redis::start().expect("redis-server");
    let (a, b) = two_engines_with(
        &pg,
        &redis,
        &[
            ("SHOWROOM_COMMERCE__USER_RATE_PER_S", "1"),
            ("SHOWROOM_COMMERCE__USER_BURST", "5"),
            // Engines behind one load balancer share the token secret (A's token works on B).
            ("SHOWROOM_JWT_SECRET", "shared-secret-for-both-engines"),
        ],
    )
    .await;
    let s = a.create_stream("shop").await.expect("stream");
    let id = s["id"].as_str().unwrap().to_owned();
    let _ = b.stream(&id).await;
    let token = token(&a, &id, "viewer", json!({"name":"rita"})).await;
    let pins = |e: &Engine| {
        e.http
            .get(e.url(&format!("/api/v1/streams/{id}/pins")))
            .bearer_auth(&token)
            .send()
    };
    let (mut passed, mut retry_ms) = (0, 0);
    for i in 0..10 {
        let e = if i % 2 == 0 { &a } else { &b };
        match rate_limited_ms(pins(e).await.unwrap()).await {
            None => passed += 1,
            Some(ms) => retry_ms = retry_ms.max(ms),
        }
    }
    assert_eq!(passed, 5, "one budget over both engines");
    tokio::time::sleep(Duration::from_millis(retry_ms + 50)).await;
    let r = pins(&b).await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "served again after Retry-After");
}
