//! Flash sales on the Redis fast path (stock, per-customer counts and Idempotency-Keys in one
//! Lua script; orders in a real PostgreSQL), with two commerce instances on the same Redis and
//! PostgreSQL as two engine processes would be. Also: the "window ran out" event, product
//! edits and deletes, and the per-user rate limit shared through Redis.

mod commerce_common;
#[path = "../../engine/src/http/commerce/mod.rs"]
mod engine_router;

use commerce_common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use showroom_commerce::{Actor, Commerce, CommerceConfig, CommerceDb, CommerceError};
use showroom_tests::services::{Postgres, Redis};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_tungstenite::tungstenite::Message;

const S: &str = SHOW;

fn redis_cfg(redis: &Redis) -> CommerceConfig {
    CommerceConfig {
        redis_url: Some(redis.url()),
        max_latency_allowance_ms: 3_000,
        ..CommerceConfig::default()
    }
}
async fn scalar(db: &CommerceDb, sql: &str) -> i64 {
    match db {
        CommerceDb::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        CommerceDb::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}
/// One command through the real `redis-cli`; its raw reply.
async fn redis_cmd(redis: &Redis, args: &[&str]) -> String {
    let out = tokio::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &redis.port.to_string()])
        .args(args)
        .output()
        .await
        .expect("redis-cli");
    assert!(out.status.success(), "redis-cli {args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// (flash-sale order rows, units left in SQL) of the only sale.
async fn sql_orders_and_left(db: &CommerceDb) -> (i64, i64) {
    (
        scalar(
            db,
            "SELECT COUNT(*) FROM commerce_orders WHERE source LIKE 'flash:%'",
        )
        .await,
        scalar(db, "SELECT remaining FROM commerce_flash_sales").await,
    )
}

/// `n` concurrent commands, alternating between instances A and B; `make(i)` gives the actor
/// and command of attempt `i`. Results in attempt order.
async fn concurrently(
    a: &Arc<Commerce>,
    b: &Arc<Commerce>,
    n: usize,
    make: impl Fn(usize, &Arc<Commerce>) -> (Actor, Value),
) -> Vec<(Actor, Result<Value, CommerceError>)> {
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let shop = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (actor, cmd) = make(i, &shop);
        tasks.push(tokio::spawn(async move {
            let r = run(&shop, &actor, cmd).await;
            (actor, r)
        }));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Two instances A and B, one stream live on both (same fake clock), a product, and a started
/// sale of `stock` units, `limit` per customer.
async fn two_shops(
    pg: &Postgres,
    redis: &Redis,
    stock: i64,
    limit: i64,
) -> (
    Arc<Commerce>,
    Arc<Commerce>,
    Arc<FakeStreams>,
    String,
    CommerceDb,
) {
    let streams = FakeStreams::with_stream(S, "key-1");
    streams.set_clock(S, 1, 100_000, SystemTime::now());
    let db = postgres(&pg.url()).await;
    let a = start(db.clone(), streams.clone(), redis_cfg(redis)).await;
    let b = start(postgres(&pg.url()).await, streams.clone(), redis_cfg(redis)).await;
    let sid = start_sale(&a, stock, limit).await;
    (a, b, streams, sid, db)
}

/// A product and a started sale of `stock` units, `limit` per customer, on [`S`].
async fn start_sale(a: &Arc<Commerce>, stock: i64, limit: i64) -> String {
    let p = ok(a, &Actor::admin(), json!({"type":"product.create","title":"Sneaker","price_minor":12_000,"currency":"EUR","stock":5})).await;
    let sale = ok(
        a,
        &host(a),
        json!({"type":"flash.create","product_id":p["id"],"sale_price_minor":4_900,
        "stock":stock,"per_customer_limit":limit,"duration_s":600}),
    )
    .await;
    let sid = sale["id"].as_str().unwrap().to_owned();
    ok(a, &host(a), json!({"type":"flash.start","sale_id":sid})).await;
    sid
}

/// 5,000 concurrent attempts on 100 units, spread over two instances: exactly 100 orders,
/// SQL and Redis agree on 0 left, retries (on the other instance) return the first order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_instances_5000_attempts_100_units() {
    let pg = Postgres::start().expect("PostgreSQL");
    let redis = Redis::start().expect("redis-server");
    let (a, b, _streams, sid, db) = two_shops(&pg, &redis, 100, 1).await;
    burst_5000_on_100(&a, &b, &redis, &sid, &db).await;
}

/// The same on SQLite (one instance: SQLite is one process's file), Redis holding the stock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sqlite_5000_attempts_100_units() {
    let redis = Redis::start().expect("redis-server");
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(&dir).await;
    let streams = FakeStreams::with_stream(S, "key-1");
    streams.set_clock(S, 1, 100_000, SystemTime::now());
    let a = start(db.clone(), streams, redis_cfg(&redis)).await;
    let sid = start_sale(&a, 100, 1).await;
    burst_5000_on_100(&a, &a, &redis, &sid, &db).await;
}

async fn burst_5000_on_100(
    a: &Arc<Commerce>,
    b: &Arc<Commerce>,
    redis: &Redis,
    sid: &str,
    db: &CommerceDb,
) {
    let results = concurrently(a, b, 5_000, |i, shop| {
        let cmd = json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":format!("k{i}")});
        (viewer(shop, &format!("b{i}")), cmd)
    })
    .await;
    let mut won = Vec::new();
    for (i, (buyer, r)) in results.into_iter().enumerate() {
        match r {
            Ok(o) => won.push((i, buyer, o)),
            Err(e) => assert_eq!(e.code(), "sold_out", "{e}"),
        }
    }
    assert_eq!(won.len(), 100, "exactly the stock");
    assert!(won.iter().all(|(_, _, o)| o["status"] == json!("paid")));
    let orders = scalar(
        db,
        "SELECT COUNT(*) FROM commerce_orders WHERE source LIKE 'flash:%'",
    )
    .await;
    assert_eq!(orders, 100, "orders in SQL");
    let remaining = scalar(db, "SELECT remaining FROM commerce_flash_sales").await;
    assert_eq!(remaining, 0);
    let key = format!("showroom:flash:{{{sid}}}:stock");
    assert_eq!(redis_cmd(redis, &["GET", &key]).await, "0");
    // Group commit: one `flash.stock` per batch of winners, whose `sold` add up to the stock;
    // sequence numbers without gaps.
    let tl = ok(a, &host(a), json!({"type":"timeline"})).await;
    let evs = tl["events"].as_array().unwrap();
    let stock: Vec<_> = evs
        .iter()
        .filter(|e| e["kind"] == json!("flash.stock"))
        .collect();
    let sold: i64 = stock
        .iter()
        .map(|e| e["data"]["sold"].as_i64().unwrap())
        .sum();
    assert_eq!(sold, 100, "every unit in exactly one batch");
    assert!(!stock.is_empty() && stock.len() <= 100);
    assert_eq!(stock.last().unwrap()["data"]["remaining"], json!(0));
    let (n, max) = (
        scalar(db, "SELECT COUNT(*) FROM commerce_events").await,
        scalar(db, "SELECT MAX(seq) FROM commerce_events").await,
    );
    assert_eq!(n, max, "sequence without gaps");
    eprintln!("{} flash.stock events for 100 winners", stock.len());
    // A retry with the same key, on the other instance, returns the first order.
    for (i, buyer, first) in won.iter().take(10) {
        let other = if i % 2 == 0 { b } else { a };
        let again = ok(
            other,
            buyer,
            json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":format!("k{i}")}),
        )
        .await;
        assert_eq!(again["id"], first["id"]);
        assert_eq!(again["replayed"], json!(true));
    }
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM commerce_orders").await,
        100,
        "retries made no second order"
    );
}

/// A batch of winners whose commit fails (PostgreSQL refuses at COMMIT: a deferred constraint
/// trigger on the orders table) answers every one of its winners with an error and gives the
/// stock back: no order acknowledged without being stored. Once commits work again, the same
/// keys buy (nothing was left pending).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_failed_batch_commit_answers_every_winner_and_restocks() {
    let pg = Postgres::start().expect("PostgreSQL");
    let redis = Redis::start().expect("redis-server");
    let (a, b, _streams, sid, db) = two_shops(&pg, &redis, 10, 1).await;
    let CommerceDb::Postgres(pool) = &db else {
        unreachable!()
    };
    for sql in [
        "CREATE FUNCTION refuse_orders() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'commit refused by test'; END $$ LANGUAGE plpgsql",
        "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON commerce_orders \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_orders()",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    let attempt =
        |i: usize| json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":format!("f{i}")});
    let results = concurrently(&a, &b, 60, |i, shop| {
        (viewer(shop, &format!("f{i}")), attempt(i))
    })
    .await;
    let mut failed = 0;
    for (_, r) in &results {
        match r {
            Ok(o) => panic!("an order was acknowledged although no commit succeeded: {o}"),
            Err(e) if e.code() == "internal" => failed += 1,
            Err(e) => assert_eq!(e.code(), "sold_out", "{e}"),
        }
    }
    assert!(
        failed >= 10,
        "at least every unit's first winner failed: {failed}"
    );
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM commerce_orders").await, 0);
    assert_eq!(
        scalar(&db, "SELECT remaining FROM commerce_flash_sales").await,
        10
    );
    let key = format!("showroom:flash:{{{sid}}}:stock");
    assert_eq!(
        redis_cmd(&redis, &["GET", &key]).await,
        "10",
        "stock given back in Redis"
    );
    sqlx::query("DROP TRIGGER refuse_at_commit ON commerce_orders")
        .execute(pool)
        .await
        .unwrap();
    // The failed buyers retry with the same keys: the stock sells, exactly once.
    let results = concurrently(&a, &b, 60, |i, shop| {
        (viewer(shop, &format!("f{i}")), attempt(i))
    })
    .await;
    let sold = results.iter().filter(|(_, r)| r.is_ok()).count();
    assert_eq!(sold, 10);
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM commerce_orders").await,
        10
    );
    assert_eq!(redis_cmd(&redis, &["GET", &key]).await, "0");
}

/// SQL stays the truth: when it has fewer units than Redis granted (here set behind Redis's
/// back), the batch function refuses the whole batch (SQLSTATE SR001, nothing written) and its
/// winners are written one by one: exactly the units SQL has are sold, the rest are refused
/// `sold_out`, and Redis's counter is set to 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sql_backstop_when_sql_has_fewer_units() {
    let pg = Postgres::start().expect("PostgreSQL");
    let redis = Redis::start().expect("redis-server");
    let (a, b, _streams, sid, db) = two_shops(&pg, &redis, 8, 1).await;
    let CommerceDb::Postgres(pool) = &db else {
        unreachable!()
    };
    sqlx::query("UPDATE commerce_flash_sales SET remaining = 3")
        .execute(pool)
        .await
        .unwrap();
    let results = concurrently(&a, &b, 8, |i, shop| {
        let cmd = json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":format!("s{i}")});
        (viewer(shop, &format!("s{i}")), cmd)
    })
    .await;
    let mut sold = 0;
    for (_, r) in &results {
        match r {
            Ok(o) => {
                assert_eq!(o["status"], json!("paid"));
                sold += 1;
            }
            Err(e) => assert_eq!(e.code(), "sold_out", "{e}"),
        }
    }
    assert_eq!(sold, 3, "only the units SQL had");
    assert_eq!(sql_orders_and_left(&db).await, (3, 0));
    let key = format!("showroom:flash:{{{sid}}}:stock");
    assert_eq!(redis_cmd(&redis, &["GET", &key]).await, "0", "drained");
    let (n, max) = (
        scalar(&db, "SELECT COUNT(*) FROM commerce_events").await,
        scalar(&db, "SELECT MAX(seq) FROM commerce_events").await,
    );
    assert_eq!(n, max, "sequence without gaps");
}

/// Per-customer limit across instances and concurrent retries of one key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_customer_limit_and_concurrent_retries() {
    let pg = Postgres::start().expect("PostgreSQL");
    let redis = Redis::start().expect("redis-server");
    let (a, b, _streams, sid, db) = two_shops(&pg, &redis, 1_000, 2).await;
    let ann = viewer(&a, "ann");
    // 20 attempts with distinct keys, alternating instances: exactly 2 units.
    let results = concurrently(&a, &b, 20, |i, _| {
        let cmd = json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":format!("a{i}")});
        (ann.clone(), cmd)
    })
    .await;
    let mut bought = 0;
    for (_, r) in results {
        match r {
            Ok(_) => bought += 1,
            Err(e) => assert_eq!(e.code(), "customer_limit", "{e}"),
        }
    }
    assert_eq!(bought, 2);
    // A quantity over the limit is refused outright.
    assert_eq!(
        code(
            run(
                &a,
                &viewer(&a, "q"),
                json!({"type":"flash.purchase","sale_id":sid,"quantity":3})
            )
            .await
        ),
        "customer_limit"
    );
    // 30 concurrent sends of the same key by one buyer: one order; the rest get it back or
    // are told the first is still in progress.
    let bo = viewer(&a, "bo");
    let results = concurrently(&a, &b, 30, |_, _| {
        let cmd = json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":"same"});
        (bo.clone(), cmd)
    })
    .await;
    let mut ids = std::collections::HashSet::new();
    for (_, r) in results {
        match r {
            Ok(o) => {
                ids.insert(o["id"].as_str().unwrap().to_owned());
            }
            Err(e) => assert_eq!(e.code(), "in_progress", "{e}"),
        }
    }
    assert_eq!(ids.len(), 1, "one order for one key");
    let n = scalar(&db, "SELECT COUNT(*) FROM commerce_orders").await;
    assert_eq!(n, 3, "ann's two orders and bo's one");
}

/// A reservation whose SQL write fails is given back (nothing lost); a banned buyer's
/// reservation too; after Redis loses its keys, stock and keys are re-seeded from SQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_compensation_and_reseed() {
    let pg = Postgres::start().expect("PostgreSQL");
    let redis = Redis::start().expect("redis-server");
    let (a, b, _streams, sid, db) = two_shops(&pg, &redis, 2, 1).await;
    // Key already used for another request (a checkout): the SQL claim refuses it; the Redis
    // reservation must come back.
    let cy = viewer(&a, "cy");
    let p = ok(
        &a,
        &Actor::admin(),
        json!({"type":"product.create","title":"Cap","price_minor":500,"currency":"EUR","stock":5}),
    )
    .await;
    ok(
        &a,
        &cy,
        json!({"type":"cart.set","product_id":p["id"],"quantity":1}),
    )
    .await;
    ok(&a, &cy, json!({"type":"checkout","idempotency_key":"dup"})).await;
    assert_eq!(
        code(
            run(
                &a,
                &cy,
                json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":"dup"})
            )
            .await
        ),
        "invalid"
    );
    // A banned buyer: refused, reservation given back.
    let dee = viewer(&a, "dee");
    ok(
        &a,
        &host(&a),
        json!({"type":"mod.sanction","user_id":dee.user_id,"kind":"ban"}),
    )
    .await;
    assert_eq!(
        code(run(&b, &dee, json!({"type":"flash.purchase","sale_id":sid})).await),
        "banned"
    );
    // Both units are still there.
    let e1 = viewer(&a, "e1");
    let first = ok(
        &a,
        &e1,
        json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":"e1"}),
    )
    .await;
    // Redis loses everything: the next attempt re-seeds from SQL (1 left, e1's key known).
    assert_eq!(redis_cmd(&redis, &["FLUSHALL"]).await, "OK");
    let again = ok(
        &b,
        &e1,
        json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":"e1"}),
    )
    .await;
    assert_eq!(
        again["id"], first["id"],
        "retry after the flush: same order"
    );
    ok(
        &b,
        &viewer(&b, "e2"),
        json!({"type":"flash.purchase","sale_id":sid}),
    )
    .await;
    assert_eq!(
        code(
            run(
                &a,
                &viewer(&a, "e3"),
                json!({"type":"flash.purchase","sale_id":sid})
            )
            .await
        ),
        "sold_out"
    );
    assert_eq!(sql_orders_and_left(&db).await, (2, 0));
}

/// A started sale is warm in both engines before any purchase: its Redis counter holds the
/// stock, the starting engine has the sale in its cache when `flash.start` returns, and the
/// other engine warms it from the bus event. Then: purchases, Redis loses everything, an engine
/// restarts: before any purchase the restarted engine has re-seeded the counter from SQL with
/// stock − sold, the buyers' units and their keys, and has the sale in its cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sale_warm_on_start_in_both_engines_and_after_restart() {
    let pg = Postgres::start().expect("PostgreSQL");
    let redis = Redis::start().expect("redis-server");
    let (a, b, streams, sid, db) = two_shops(&pg, &redis, 10, 2).await;
    let base = format!("showroom:flash:{{{sid}}}");
    let stock_key = format!("{base}:stock");
    assert_eq!(redis_cmd(&redis, &["GET", &stock_key]).await, "10");
    assert!(
        a.flash_sale_warm(&sid).await.unwrap(),
        "the starting engine"
    );
    let mut b_warm = false;
    for _ in 0..250 {
        if b.flash_sale_warm(&sid).await.unwrap() {
            b_warm = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        b_warm,
        "the other engine warms the sale on the flash.started event"
    );
    // Purchases on both engines: u1 takes 2 (its limit), u2 one.
    let u1 = viewer(&a, "u1");
    let u2 = viewer(&b, "u2");
    ok(
        &a,
        &u1,
        json!({"type":"flash.purchase","sale_id":sid,"quantity":2,"idempotency_key":"u1k"}),
    )
    .await;
    let u2_order = ok(
        &b,
        &u2,
        json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":"u2k"}),
    )
    .await;
    assert_eq!(redis_cmd(&redis, &["GET", &stock_key]).await, "7");
    // Redis loses everything; an engine (re)starts on the same PostgreSQL and Redis.
    assert_eq!(redis_cmd(&redis, &["FLUSHALL"]).await, "OK");
    let c = start(
        postgres(&pg.url()).await,
        streams.clone(),
        redis_cfg(&redis),
    )
    .await;
    // Before any purchase: seeded from SQL with the remainder, the units and the keys.
    assert_eq!(redis_cmd(&redis, &["GET", &stock_key]).await, "7");
    let bought = format!("{base}:bought");
    assert_eq!(
        redis_cmd(&redis, &["HGET", &bought, &u1.user_id]).await,
        "2"
    );
    assert_eq!(
        redis_cmd(&redis, &["HGET", &bought, &u2.user_id]).await,
        "1"
    );
    let field = format!("{}\u{1f}u2k", u2.user_id);
    assert_eq!(
        redis_cmd(&redis, &["HGET", &format!("{base}:idem"), &field]).await,
        u2_order["id"].as_str().unwrap()
    );
    assert!(
        c.flash_sale_warm(&sid).await.unwrap(),
        "the restarted engine"
    );
    // What was seeded holds: u1 is at its limit, u2's retry gets its order, 7 units sell and
    // not one more.
    assert_eq!(refusal(&c, &u1, &sid).await, "customer_limit");
    let again = ok(
        &c,
        &u2,
        json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":"u2k"}),
    )
    .await;
    assert_eq!(again["id"], u2_order["id"]);
    for i in 0..7 {
        let shop = [&a, &b, &c][i % 3];
        ok(
            shop,
            &viewer(shop, &format!("w{i}")),
            json!({"type":"flash.purchase","sale_id":sid}),
        )
        .await;
    }
    assert_eq!(refusal(&c, &viewer(&c, "late"), &sid).await, "sold_out");
    assert_eq!(sql_orders_and_left(&db).await, (9, 0));
}

/// The refusal code of a one-unit purchase that must be refused.
async fn refusal(shop: &Arc<Commerce>, buyer: &Actor, sid: &str) -> String {
    code(run(shop, buyer, json!({"type":"flash.purchase","sale_id":sid})).await)
}

/// Ending a sale on one instance is seen by the other's cached window at once; the window
/// running out by itself emits `flash.ended` (reason `window_elapsed`) stamped in stream time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_end_on_one_instance_and_window_timer() {
    let pg = Postgres::start().expect("PostgreSQL");
    let redis = Redis::start().expect("redis-server");
    let (a, b, streams, sid, _db) = two_shops(&pg, &redis, 100, 1).await;
    let f1 = viewer(&a, "f1");
    let bought = ok(
        &a,
        &f1,
        json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":"f1k"}),
    )
    .await; // A caches the window
    ok(&b, &host(&b), json!({"type":"flash.end","sale_id":sid})).await;
    streams.advance(S, 4_000); // past the 3 s allowance
    let e = run(
        &a,
        &viewer(&a, "f2"),
        json!({"type":"flash.purchase","sale_id":sid,"playout":{"pts_ms":100_500}}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "sale_ended", "{e}");
    // A retry of the purchase made while it was open still returns that order.
    for shop in [&a, &b] {
        let again = ok(
            shop,
            &f1,
            json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":"f1k"}),
        )
        .await;
        assert_eq!(again["id"], bought["id"]);
    }
    // A 1 s sale that simply runs out.
    let p = ok(
        &a,
        &Actor::admin(),
        json!({"type":"product.create","title":"Hat","price_minor":100,"currency":"EUR","stock":1}),
    )
    .await;
    let s2 = ok(&a, &host(&a), json!({"type":"flash.create","product_id":p["id"],"sale_price_minor":50,"stock":5,"duration_s":1})).await;
    let s2 = s2["id"].as_str().unwrap().to_owned();
    ok(&a, &host(&a), json!({"type":"flash.start","sale_id":s2})).await; // window pts 104_000..105_000
    let before = ok(&a, &viewer(&a, "t"), json!({"type":"timeline"})).await;
    assert!(!before["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["data"]["reason"] == json!("window_elapsed")));
    streams.advance(S, 1_200);
    let mut found = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let tl = ok(&b, &viewer(&b, "t"), json!({"type":"timeline"})).await;
        found = tl["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == json!("flash.ended") && e["data"]["id"] == json!(s2))
            .cloned();
        if found.is_some() {
            break;
        }
    }
    let ev = found.expect("flash.ended after the window ran out");
    assert_eq!(ev["data"]["reason"], json!("window_elapsed"));
    assert_eq!(ev["data"]["state"], json!("ended"));
    let pts = ev["stamp"]["pts_ms"].as_u64().unwrap();
    assert!(
        (105_000..106_000).contains(&pts),
        "stamped in stream time: {pts}"
    );
    // Exactly one such event.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let tl = ok(&a, &viewer(&a, "t"), json!({"type":"timeline"})).await;
    let n = tl["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == json!("flash.ended") && e["data"]["id"] == json!(s2))
        .count();
    assert_eq!(n, 1);
}

/// Product edit and delete: events on the streams showing it, unpin on delete, orders keep
/// their snapshot; viewers are refused.
async fn product_edit_delete(db: CommerceDb) {
    let streams = FakeStreams::with_stream(S, "key-1");
    streams.set_clock(S, 1, 5_000, SystemTime::now());
    let shop = start(db, streams.clone(), CommerceConfig::default()).await;
    let admin = Actor::admin();
    let p = ok(&shop, &admin, json!({"type":"product.create","title":"Lamp","price_minor":3_000,"currency":"EUR","stock":5,
        "image_url":"http://127.0.0.1/l.png"})).await;
    let pid = p["id"].as_str().unwrap().to_owned();
    let h = host(&shop);
    ok(
        &shop,
        &h,
        json!({"type":"stream_products.set","product_ids":[pid]}),
    )
    .await;
    ok(&shop, &h, json!({"type":"pin.add","product_id":pid})).await;
    let v = viewer(&shop, "gus");
    ok(
        &shop,
        &v,
        json!({"type":"cart.set","product_id":pid,"quantity":1}),
    )
    .await;
    let order = ok(&shop, &v, json!({"type":"checkout"})).await;
    assert_eq!(
        code(
            run(
                &shop,
                &v,
                json!({"type":"product.update","product_id":pid,"price_minor":1})
            )
            .await
        ),
        "forbidden"
    );
    assert_eq!(
        code(run(&shop, &h, json!({"type":"product.delete","product_id":pid})).await),
        "forbidden"
    );
    assert_eq!(
        code(
            run(
                &shop,
                &admin,
                json!({"type":"product.update","product_id":pid,"currency":"euro"})
            )
            .await
        ),
        "invalid"
    );
    let up = ok(&shop, &admin, json!({"type":"product.update","product_id":pid,"price_minor":2_500,"title":"Desk lamp","image_url":""})).await;
    assert_eq!(
        (
            up["price_minor"].clone(),
            up["title"].clone(),
            up["image_url"].clone(),
            up["stock"].clone()
        ),
        (json!(2_500), json!("Desk lamp"), Value::Null, json!(4))
    );
    let del = ok(
        &shop,
        &admin,
        json!({"type":"product.delete","product_id":pid}),
    )
    .await;
    assert_eq!(del["deleted"], json!(pid));
    assert_eq!(
        code(run(&shop, &v, json!({"type":"product.get","product_id":pid})).await),
        "not_found"
    );
    assert_eq!(
        code(
            run(
                &shop,
                &admin,
                json!({"type":"product.delete","product_id":pid})
            )
            .await
        ),
        "not_found"
    );
    let pins = ok(&shop, &v, json!({"type":"pin.list"})).await;
    assert_eq!(pins["pins"], json!([]));
    let list = ok(&shop, &v, json!({"type":"stream_products.list"})).await;
    assert_eq!(list["products"], json!([]));
    let kinds: Vec<String> = ok(&shop, &v, json!({"type":"timeline"})).await["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    let tail: Vec<&str> = kinds
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(tail, ["product.updated", "pin.removed", "product.deleted"]);
    // The pin's timeline range was closed.
    assert!(streams
        .marks
        .lock()
        .iter()
        .any(|(_, m)| m.class == "com.showroom.pin" && m.duration.is_some()));
    let kept = ok(
        &shop,
        &v,
        json!({"type":"order.get","order_id":order["id"]}),
    )
    .await;
    assert_eq!(kept["items"][0]["product_id"], json!(pid));
    assert_eq!(
        kept["total_minor"],
        json!(3_000),
        "the order keeps its price"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_product_edit_delete() {
    let dir = tempfile::tempdir().unwrap();
    product_edit_delete(sqlite(&dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_product_edit_delete() {
    let pg = Postgres::start().expect("PostgreSQL");
    product_edit_delete(postgres(&pg.url()).await).await;
}

/// The window-ran-out event without Redis (SQLite, one process), delivered to a WebSocket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_window_timer_reaches_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let streams = FakeStreams::with_stream(S, "key-1");
    streams.set_clock(S, 2, 50_000, SystemTime::now());
    let shop = start(
        sqlite(&dir).await,
        streams.clone(),
        CommerceConfig::default(),
    )
    .await;
    let base = serve(shop.clone()).await;
    let p = ok(
        &shop,
        &Actor::admin(),
        json!({"type":"product.create","title":"Hat","price_minor":100,"currency":"EUR","stock":1}),
    )
    .await;
    let s = ok(&shop, &host(&shop), json!({"type":"flash.create","product_id":p["id"],"sale_price_minor":50,"stock":5,"duration_s":2})).await;
    let t = shop.issue_viewer_token(S, Some("w".into())).unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "{}/ws/{S}?token={}",
        base.replace("http", "ws"),
        t["token"].as_str().unwrap()
    ))
    .await
    .unwrap();
    ok(
        &shop,
        &host(&shop),
        json!({"type":"flash.start","sale_id":s["id"]}),
    )
    .await;
    streams.advance(S, 2_100);
    let ev = loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("event in time")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["kind"] == json!("flash.ended") {
                break v;
            }
        }
    };
    assert_eq!(ev["data"]["reason"], json!("window_elapsed"));
    assert_eq!(ev["stamp"]["epoch"], json!(2));
}

async fn serve(shop: Arc<Commerce>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = engine_router::router(shop);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{}", addr.port())
}

/// Two instances on one Redis, served over HTTP, with a per-user budget of 5 commands per 5 s;
/// their base URLs and a viewer token for `name`.
async fn limited_pair(pg: &Postgres, redis: &Redis, name: &str) -> ([String; 2], String) {
    let streams = FakeStreams::with_stream(S, "key-1");
    let cfg = CommerceConfig {
        redis_url: Some(redis.url()),
        user_rate_per_s: 1,
        user_burst: 5, // a 5 s window admitting 5
        ..CommerceConfig::default()
    };
    let a = start(postgres(&pg.url()).await, streams.clone(), cfg.clone()).await;
    let b = start(postgres(&pg.url()).await, streams.clone(), cfg).await;
    let t = a.issue_viewer_token(S, Some(name.into())).unwrap();
    let token = t["token"].as_str().unwrap().to_owned();
    ([serve(a).await, serve(b).await], token)
}

/// Send `pin.list` with `id` on `ws`; the `result` or `error` frame that answers it.
async fn pin_list<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, id: usize) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let frame = json!({"v":1,"id":id,"type":"pin.list"});
    reply(ws, frame, &["result", "error"]).await
}

/// Send `frame` on `ws`; the next frame whose type is one of `types`.
async fn reply<S>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
    frame: Value,
    types: &[&str],
) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("reply")
            .unwrap()
            .unwrap();
        let Message::Text(t) = m else { continue };
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        if types.contains(&v["type"].as_str().unwrap_or_default()) {
            return v;
        }
    }
}

/// One user on two instances (two sockets) shares one per-user budget through Redis: of 10
/// commands within the window, exactly `burst` pass; the refused ones get an error frame and
/// both sockets stay usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_user_rate_limit_spans_instances() {
    let (pg, redis) = (
        Postgres::start().expect("PostgreSQL"),
        Redis::start().expect("redis"),
    );
    let ([base_a, base_b], token) = limited_pair(&pg, &redis, "hal").await;
    let mut socks = Vec::new();
    for base in [&base_a, &base_b] {
        let (ws, _) = tokio_tungstenite::connect_async(format!(
            "{}/ws/{S}?token={token}",
            base.replace("http", "ws")
        ))
        .await
        .unwrap();
        socks.push(ws);
    }
    let (mut ok, mut limited) = (0, 0);
    for i in 0..10 {
        let v = pin_list(&mut socks[i % 2], i).await;
        if v["type"] == json!("result") {
            ok += 1;
        } else {
            assert_eq!(v["code"], json!("rate_limited"), "{v}");
            assert!(v["retry_after_ms"].as_u64().unwrap() > 0);
            limited += 1;
        }
    }
    assert_eq!((ok, limited), (5, 5));
    // Both sockets survive.
    for ws in &mut socks {
        let v = reply(ws, json!({"type":"ping","id":"p"}), &["pong"]).await;
        assert_eq!(v["id"], json!("p"));
    }
}

/// REST commands count against the same per-user budget as WebSocket commands, shared by two
/// instances through Redis: of 10 REST calls alternating between A and B, exactly `burst` pass;
/// the others get 429 with `Retry-After` and a JSON body naming the limit; a WebSocket command
/// in the same window is refused too; after `retry_after_ms` the user is served again. Admin
/// actors are not limited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_rest_user_rate_limit_spans_instances() {
    let (pg, redis) = (
        Postgres::start().expect("PostgreSQL"),
        Redis::start().expect("redis"),
    );
    let (bases, token) = limited_pair(&pg, &redis, "rex").await;
    let http = reqwest::Client::new();
    let get = |base: &str, token: &str| {
        http.get(format!("{base}/api/v1/streams/{S}/pins"))
            .bearer_auth(token)
            .send()
    };
    let (mut passed, mut limited, mut retry_ms) = (0, 0, 0);
    for i in 0..10 {
        match rate_limited_ms(get(&bases[i % 2], &token).await.unwrap()).await {
            None => passed += 1,
            Some(ms) => {
                retry_ms = retry_ms.max(ms);
                limited += 1;
            }
        }
    }
    assert_eq!((passed, limited), (5, 5), "one budget over both instances");
    // The WebSocket shares that budget.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "{}/ws/{S}?token={token}",
        bases[1].replace("http", "ws")
    ))
    .await
    .unwrap();
    let v = pin_list(&mut ws, 1).await;
    assert_eq!(
        (v["type"].clone(), v["code"].clone(), v["limit"].clone()),
        (json!("error"), json!("rate_limited"), json!("per_user")),
        "over budget: {v}"
    );
    // The operator's key is not limited, on either instance.
    for i in 0..10 {
        let r = get(&bases[i % 2], ADMIN_KEY).await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    tokio::time::sleep(Duration::from_millis(retry_ms + 50)).await;
    let r = get(&bases[0], &token).await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "served again after Retry-After");
}
