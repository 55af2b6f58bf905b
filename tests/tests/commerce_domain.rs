//! The commerce domain against real storage: every scenario runs on SQLite and on a real
//! PostgreSQL (started by the test as the `postgres` user on 127.0.0.1).

mod commerce_common;

use commerce_common::*;
use serde_json::{json, Value};
use showroom_commerce::{Actor, Command, Commerce, CommerceConfig, CommerceDb};
use showroom_tests::services::Postgres;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const S: &str = "show-1";

async fn product(shop: &Arc<Commerce>, title: &str, price: i64, stock: i64) -> String {
    let p = run(shop, &Actor::admin(), json!({"type":"product.create","title":title,"price_minor":price,"currency":"EUR","stock":stock,
        "image_url":"http://127.0.0.1/x.png","variants":[{"size":"M"}]})).await.unwrap();
    p["id"].as_str().unwrap().to_owned()
}

async fn pins_and_products(db: CommerceDb) {
    let streams = FakeStreams::with_stream(S, "key-1");
    streams.set_clock(S, 1, 42_000, SystemTime::now());
    let shop = start(db, streams.clone(), CommerceConfig::default()).await;
    let h = host(&shop);
    let v = viewer(&shop, "ann");
    let mut ids = vec![];
    for i in 0..4 {
        ids.push(product(&shop, &format!("P{i}"), 1000 + i, 10).await);
    }
    assert_eq!(code(run(&shop, &h, json!({"type":"product.create","title":"x","price_minor":1,"currency":"EUR","stock":1})).await), "forbidden");
    let list = run(
        &shop,
        &h,
        json!({"type":"stream_products.set","product_ids":ids}),
    )
    .await
    .unwrap();
    assert_eq!(list["products"].as_array().unwrap().len(), 4);
    assert_eq!(list["products"][0]["variants"], json!([{"size":"M"}]));
    assert_eq!(
        code(run(&shop, &v, json!({"type":"pin.add","product_id":ids[0]})).await),
        "forbidden"
    );
    for id in &ids[..3] {
        let r = run(&shop, &h, json!({"type":"pin.add","product_id":id}))
            .await
            .unwrap();
        assert_eq!(
            r["stamp"]["pts_ms"],
            json!(42_000),
            "pins carry the stream clock"
        );
    }
    assert_eq!(
        code(run(&shop, &h, json!({"type":"pin.add","product_id":ids[3]})).await),
        "pin_limit"
    );
    assert_eq!(
        code(run(&shop, &h, json!({"type":"pin.add","product_id":ids[0]})).await),
        "already_pinned"
    );
    run(&shop, &h, json!({"type":"pin.remove","product_id":ids[0]}))
        .await
        .unwrap();
    run(&shop, &h, json!({"type":"pin.add","product_id":ids[3]}))
        .await
        .unwrap();
    let pins = run(&shop, &v, json!({"type":"pin.list"})).await.unwrap();
    assert_eq!(pins["pins"].as_array().unwrap().len(), 3);
    let marks = streams.marks.lock().clone();
    assert_eq!(marks.len(), 5, "4 pins + 1 unpin re-mark");
    assert!(marks.iter().all(|(_, m)| m.class == "com.showroom.pin"));
    let closed = marks
        .iter()
        .find(|(_, m)| m.duration.is_some())
        .expect("unpin closes the range");
    assert_eq!(marks[0].1.id, closed.1.id);
    assert!(marks[0]
        .1
        .attributes
        .iter()
        .any(|(k, v)| k == "X-PRODUCT-ID" && *v == ids[0]));
}

async fn polls(db: CommerceDb) {
    let shop = start(
        db,
        FakeStreams::with_stream(S, "key-1"),
        CommerceConfig::default(),
    )
    .await;
    let h = host(&shop);
    let (a, b) = (viewer(&shop, "a"), viewer(&shop, "b"));
    assert_eq!(
        code(
            run(
                &shop,
                &a,
                json!({"type":"poll.create","question":"?","options":["x","y"]})
            )
            .await
        ),
        "forbidden"
    );
    let p = run(
        &shop,
        &h,
        json!({"type":"poll.create","question":"Colour?","options":["red","blue","green"]}),
    )
    .await
    .unwrap();
    let pid = p["id"].as_str().unwrap().to_owned();
    assert_eq!(
        code(
            run(
                &shop,
                &a,
                json!({"type":"poll.vote","poll_id":pid,"choices":[0,1]})
            )
            .await
        ),
        "invalid"
    );
    assert_eq!(
        code(
            run(
                &shop,
                &a,
                json!({"type":"poll.vote","poll_id":pid,"choices":[7]})
            )
            .await
        ),
        "invalid"
    );
    run(
        &shop,
        &a,
        json!({"type":"poll.vote","poll_id":pid,"choices":[1]}),
    )
    .await
    .unwrap();
    assert_eq!(
        code(
            run(
                &shop,
                &a,
                json!({"type":"poll.vote","poll_id":pid,"choices":[2]})
            )
            .await
        ),
        "already_voted"
    );
    let r = run(
        &shop,
        &b,
        json!({"type":"poll.vote","poll_id":pid,"choices":[1]}),
    )
    .await
    .unwrap();
    assert_eq!(r["tally"], json!([0, 2, 0]));
    let closed = run(&shop, &h, json!({"type":"poll.close","poll_id":pid}))
        .await
        .unwrap();
    assert_eq!(closed["closed"], json!(true));
    assert_eq!(
        code(
            run(
                &shop,
                &viewer(&shop, "c"),
                json!({"type":"poll.vote","poll_id":pid,"choices":[0]})
            )
            .await
        ),
        "poll_closed"
    );
    let got = run(&shop, &a, json!({"type":"poll.get","poll_id":pid}))
        .await
        .unwrap();
    assert_eq!(
        (got["tally"].clone(), got["voters"].clone()),
        (json!([0, 2, 0]), json!(2))
    );
    let m = run(
        &shop,
        &h,
        json!({"type":"poll.create","question":"Sizes?","options":["S","M","L"],"multiple":true}),
    )
    .await
    .unwrap();
    let r = run(
        &shop,
        &a,
        json!({"type":"poll.vote","poll_id":m["id"],"choices":[0,2,2]}),
    )
    .await
    .unwrap();
    assert_eq!(r["tally"], json!([1, 0, 1]));
}

async fn gifts(db: CommerceDb) {
    let shop = start(
        db,
        FakeStreams::with_stream(S, "key-1"),
        CommerceConfig::default(),
    )
    .await;
    let admin = Actor::admin();
    let (a, b) = (viewer(&shop, "a"), viewer(&shop, "b"));
    let rose = run(
        &shop,
        &admin,
        json!({"type":"gift.create","name":"rose","coins":10}),
    )
    .await
    .unwrap();
    let rose = rose["id"].as_str().unwrap().to_owned();
    assert_eq!(
        code(
            run(
                &shop,
                &a,
                json!({"type":"coins.grant","user_id":a.user_id,"amount":5})
            )
            .await
        ),
        "forbidden"
    );
    run(
        &shop,
        &admin,
        json!({"type":"coins.grant","user_id":a.user_id,"amount":100}),
    )
    .await
    .unwrap();
    run(
        &shop,
        &admin,
        json!({"type":"coins.grant","user_id":b.user_id,"amount":30}),
    )
    .await
    .unwrap();
    assert_eq!(
        code(
            run(
                &shop,
                &b,
                json!({"type":"gift.send","gift_id":rose,"count":4})
            )
            .await
        ),
        "insufficient_coins"
    );
    run(
        &shop,
        &b,
        json!({"type":"gift.send","gift_id":rose,"count":1}),
    )
    .await
    .unwrap();
    // 40 concurrent sends of 10 coins against a balance of 100: exactly 10 succeed.
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let (shop, a, rose) = (shop.clone(), a.clone(), rose.clone());
        tasks.push(tokio::spawn(async move {
            run(&shop, &a, json!({"type":"gift.send","gift_id":rose})).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.code(), "insufficient_coins", "{e:?}"),
        }
    }
    assert_eq!(ok, 10, "no double spend");
    assert_eq!(
        run(&shop, &a, json!({"type":"coins.balance"}))
            .await
            .unwrap()["coins"],
        json!(0)
    );
    let lb = run(&shop, &a, json!({"type":"gift.leaderboard"}))
        .await
        .unwrap();
    assert_eq!(lb["leaderboard"][0]["user_id"], json!(a.user_id));
    assert_eq!(lb["leaderboard"][0]["coins"], json!(100));
    assert_eq!(lb["leaderboard"][1]["coins"], json!(10));
}

async fn chat(db: CommerceDb) {
    let shop = start(
        db,
        FakeStreams::with_stream(S, "key-1"),
        CommerceConfig::default(),
    )
    .await;
    let h = host(&shop);
    let (a, b) = (viewer(&shop, "a"), viewer(&shop, "b"));
    let anon = token_actor(&shop, shop.issue_viewer_token(S, None).unwrap());
    assert_eq!(
        code(run(&shop, &anon, json!({"type":"chat.send","text":"hi"})).await),
        "forbidden"
    );
    let m = run(&shop, &a, json!({"type":"chat.send","text":"hello"}))
        .await
        .unwrap();
    let mid = m["id"].as_str().unwrap().to_owned();
    run(
        &shop,
        &b,
        json!({"type":"chat.react","message_id":mid,"emoji":"🔥"}),
    )
    .await
    .unwrap();
    assert_eq!(
        code(
            run(
                &shop,
                &b,
                json!({"type":"chat.react","message_id":mid,"emoji":"🔥"})
            )
            .await
        ),
        "already_reacted"
    );
    assert_eq!(
        code(run(&shop, &b, json!({"type":"chat.delete","message_id":mid})).await),
        "forbidden"
    );
    assert_eq!(
        code(run(&shop, &a, json!({"type":"mod.settings","slow_mode_s":5})).await),
        "forbidden"
    );
    run(
        &shop,
        &h,
        json!({"type":"mod.settings","banned_words":["Scam"],"pinned_message":"Welcome!"}),
    )
    .await
    .unwrap();
    assert_eq!(
        code(
            run(
                &shop,
                &a,
                json!({"type":"chat.send","text":"this is a SCAM"})
            )
            .await
        ),
        "word_filter"
    );
    run(&shop, &h, json!({"type":"mod.settings","slow_mode_s":30}))
        .await
        .unwrap();
    run(&shop, &b, json!({"type":"chat.send","text":"one"}))
        .await
        .unwrap();
    assert_eq!(
        code(run(&shop, &b, json!({"type":"chat.send","text":"two"})).await),
        "slow_mode"
    );
    run(
        &shop,
        &h,
        json!({"type":"chat.send","text":"staff skip slow mode"}),
    )
    .await
    .unwrap();
    run(&shop, &h, json!({"type":"chat.send","text":"twice"}))
        .await
        .unwrap();
    run(&shop, &h, json!({"type":"mod.settings","slow_mode_s":0}))
        .await
        .unwrap();
    run(
        &shop,
        &h,
        json!({"type":"mod.sanction","user_id":a.user_id,"kind":"mute","duration_s":1}),
    )
    .await
    .unwrap();
    assert_eq!(
        code(run(&shop, &a, json!({"type":"chat.send","text":"muted?"})).await),
        "muted"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    run(&shop, &a, json!({"type":"chat.send","text":"mute expired"}))
        .await
        .unwrap();
    run(
        &shop,
        &h,
        json!({"type":"mod.sanction","user_id":b.user_id,"kind":"ban"}),
    )
    .await
    .unwrap();
    assert_eq!(
        code(run(&shop, &b, json!({"type":"chat.send","text":"x"})).await),
        "banned"
    );
    run(
        &shop,
        &h,
        json!({"type":"mod.lift","user_id":b.user_id,"kind":"ban"}),
    )
    .await
    .unwrap();
    run(&shop, &b, json!({"type":"chat.send","text":"back"}))
        .await
        .unwrap();
    run(&shop, &h, json!({"type":"chat.delete","message_id":mid}))
        .await
        .unwrap();
    let hist = run(&shop, &b, json!({"type":"chat.history"}))
        .await
        .unwrap();
    let texts: Vec<_> = hist["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !texts.contains(&"hello".to_owned()),
        "deleted message hidden: {texts:?}"
    );
    assert!(texts.contains(&"back".to_owned()));
    assert_eq!(hist["pinned_message"], json!("Welcome!"));
    assert_eq!(
        code(run(&shop, &a, json!({"type":"mod.log"})).await),
        "forbidden"
    );
    let log = run(&shop, &h, json!({"type":"mod.log"})).await.unwrap();
    let actions: Vec<_> = log["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for a in ["mute", "ban", "unban", "delete", "settings"] {
        assert!(actions.iter().any(|x| x == a), "{a} logged: {actions:?}");
    }
}

async fn flash_sale(db: CommerceDb, attempts: usize) {
    let streams = FakeStreams::with_stream(S, "key-1");
    let t0 = SystemTime::now();
    streams.set_clock(S, 7, 100_000, t0);
    let cfg = CommerceConfig {
        max_latency_allowance_ms: 3_000,
        ..CommerceConfig::default()
    };
    let shop = start(db, streams.clone(), cfg).await;
    let h = host(&shop);
    let pid = product(&shop, "Sneaker", 12_000, 1_000).await;
    let sale = run(
        &shop,
        &h,
        json!({"type":"flash.create","product_id":pid,"sale_price_minor":4_900,"stock":100,
        "per_customer_limit":1,"duration_s":60}),
    )
    .await
    .unwrap();
    let sid = sale["id"].as_str().unwrap().to_owned();
    let a = viewer(&shop, "early");
    assert_eq!(
        code(run(&shop, &a, json!({"type":"flash.purchase","sale_id":sid})).await),
        "not_started"
    );
    let started = run(
        &shop,
        &h,
        json!({"type":"flash.start","sale_id":sid,"countdown_s":2}),
    )
    .await
    .unwrap();
    assert_eq!(started["window"]["start_pts_ms"], json!(102_000));
    assert_eq!(started["window"]["end_pts_ms"], json!(162_000));
    assert_eq!(
        code(run(&shop, &a, json!({"type":"flash.purchase","sale_id":sid})).await),
        "not_started"
    );
    streams.advance(S, 2_500);
    // Burst: `attempts` buyers at once on 100 units.
    let mut tasks = Vec::new();
    for i in 0..attempts {
        let (shop, sid) = (shop.clone(), sid.clone());
        let buyer = viewer(&shop, &format!("b{i}"));
        tasks.push(tokio::spawn(async move {
            run(
                &shop,
                &buyer,
                json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":"k1"}),
            )
            .await
            .map(|o| (buyer, o))
        }));
    }
    let mut orders = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(o) => orders.push(o),
            Err(e) => assert_eq!(e.code(), "sold_out", "{e}"),
        }
    }
    assert_eq!(orders.len(), 100, "exactly the stock");
    assert!(orders
        .iter()
        .all(|(_, o)| o["status"] == json!("paid") && o["payment"]["test_mode"] == json!(true)));
    // Retrying with the same key returns the same order, never a second one.
    let (buyer, first) = &orders[0];
    let again = run(
        &shop,
        buyer,
        json!({"type":"flash.purchase","sale_id":sid,"idempotency_key":"k1"}),
    )
    .await
    .unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["replayed"], json!(true));
    let list = run(&shop, buyer, json!({"type":"order.list"}))
        .await
        .unwrap();
    assert_eq!(list["orders"].as_array().unwrap().len(), 1);
    let sales = run(&shop, &h, json!({"type":"flash.list"})).await.unwrap();
    assert_eq!(sales["flash_sales"][0]["remaining"], json!(0));
    // A second sale: customer limit and the stream-time window with the latency allowance.
    let s2 = run(&shop, &h, json!({"type":"flash.create","product_id":pid,"sale_price_minor":100,"stock":50,"per_customer_limit":2,"duration_s":10})).await.unwrap();
    let s2 = s2["id"].as_str().unwrap().to_owned();
    run(&shop, &h, json!({"type":"flash.start","sale_id":s2}))
        .await
        .unwrap(); // window pts 102_500..112_500
    let c = viewer(&shop, "c");
    run(
        &shop,
        &c,
        json!({"type":"flash.purchase","sale_id":s2,"quantity":2}),
    )
    .await
    .unwrap();
    assert_eq!(
        code(run(&shop, &c, json!({"type":"flash.purchase","sale_id":s2})).await),
        "customer_limit"
    );
    streams.advance(S, 11_000); // server stream time 113_500: 1 s past the end
    let late = viewer(&shop, "late");
    let r = run(
        &shop,
        &late,
        json!({"type":"flash.purchase","sale_id":s2,"playout":{"pts_ms":111_000}}),
    )
    .await
    .unwrap();
    assert_eq!(
        r["status"],
        json!("paid"),
        "playout still inside the window, within the allowance"
    );
    let e = run(
        &shop,
        &viewer(&shop, "np"),
        json!({"type":"flash.purchase","sale_id":s2}),
    )
    .await
    .unwrap_err();
    assert!(e.public_message().contains("no playout"), "{e}");
    let e = run(
        &shop,
        &viewer(&shop, "past"),
        json!({"type":"flash.purchase","sale_id":s2,"playout":{"pts_ms":112_600}}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "sale_ended");
    streams.advance(S, 3_000); // 4 s late > 3 s allowance
    let e = run(
        &shop,
        &viewer(&shop, "toolate"),
        json!({"type":"flash.purchase","sale_id":s2,"playout":{"pts_ms":111_000}}),
    )
    .await
    .unwrap_err();
    assert!(e.public_message().contains("allowance"), "{e}");
    let marks = streams.marks.lock().clone();
    assert!(marks
        .iter()
        .any(|(_, m)| m.class == "com.showroom.flash-sale"
            && m.id == sid
            && m.duration == Some(Duration::from_secs(60))));
}

async fn checkout(db: CommerceDb) {
    let shop = start(
        db,
        FakeStreams::with_stream(S, "key-1"),
        CommerceConfig::default(),
    )
    .await;
    let a = viewer(&shop, "a");
    let p1 = product(&shop, "Hat", 2_500, 3).await;
    let p2 = product(&shop, "Scarf", 1_000, 1).await;
    assert_eq!(
        code(run(&shop, &a, json!({"type":"checkout"})).await),
        "cart_empty"
    );
    run(
        &shop,
        &a,
        json!({"type":"cart.set","product_id":p1,"quantity":2}),
    )
    .await
    .unwrap();
    let cart = run(
        &shop,
        &a,
        json!({"type":"cart.set","product_id":p2,"quantity":1}),
    )
    .await
    .unwrap();
    assert_eq!(cart["items"].as_array().unwrap().len(), 2);
    let o = run(
        &shop,
        &a,
        json!({"type":"checkout","idempotency_key":"order-1"}),
    )
    .await
    .unwrap();
    assert_eq!(
        (o["total_minor"].clone(), o["status"].clone()),
        (json!(6_000), json!("paid"))
    );
    let again = run(
        &shop,
        &a,
        json!({"type":"checkout","idempotency_key":"order-1"}),
    )
    .await
    .unwrap();
    assert_eq!(again["id"], o["id"]);
    assert_eq!(
        run(&shop, &a, json!({"type":"product.get","product_id":p1}))
            .await
            .unwrap()["stock"],
        json!(1)
    );
    // Same key, different request kind: refused.
    let e = run(
        &shop,
        &a,
        json!({"type":"flash.purchase","sale_id":"sale_x","idempotency_key":"order-1"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "invalid");
    run(
        &shop,
        &a,
        json!({"type":"cart.set","product_id":p2,"quantity":1}),
    )
    .await
    .unwrap();
    assert_eq!(
        code(run(&shop, &a, json!({"type":"checkout"})).await),
        "out_of_stock"
    );
    // Another user cannot read the order.
    let b = viewer(&shop, "b");
    assert_eq!(
        code(run(&shop, &b, json!({"type":"order.get","order_id":o["id"]})).await),
        "not_found"
    );
}

async fn events_and_timeline(db: CommerceDb) {
    let streams = FakeStreams::with_stream(S, "key-1");
    let shop = start(db, streams.clone(), CommerceConfig::default()).await;
    let h = host(&shop);
    let pid = product(&shop, "Mug", 900, 5).await;
    run(&shop, &h, json!({"type":"pin.add","product_id":pid}))
        .await
        .unwrap(); // not live: wall stamp
    streams.set_clock(S, 2, 5_000, SystemTime::now());
    run(&shop, &h, json!({"type":"pin.remove","product_id":pid}))
        .await
        .unwrap();
    let a = viewer(&shop, "a");
    run(
        &shop,
        &a,
        json!({"type":"cart.set","product_id":pid,"quantity":1}),
    )
    .await
    .unwrap();
    run(&shop, &a, json!({"type":"checkout"})).await.unwrap(); // private order.updated event
    let tl = run(&shop, &a, json!({"type":"timeline"})).await.unwrap();
    let evs = tl["events"].as_array().unwrap();
    assert_eq!(tl["head_seq"], json!(3));
    assert_eq!(
        evs.len(),
        2,
        "private order events are not on the public timeline: {evs:?}"
    );
    assert_eq!(
        (evs[0]["seq"].clone(), evs[1]["seq"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(evs[0]["stamp"]["pts_ms"], Value::Null);
    assert_eq!(evs[1]["stamp"]["pts_ms"], json!(5_000));
    assert_eq!(evs[1]["stamp"]["epoch"], json!(2));
    let since = run(&shop, &a, json!({"type":"timeline","since":1}))
        .await
        .unwrap();
    assert_eq!(since["events"].as_array().unwrap().len(), 1);
    assert_eq!(
        code(shop.execute(&a, Some("nope"), Command::PinList {}).await),
        "forbidden"
    );
}

macro_rules! both {
    ($name:ident, $sqlite:ident, $pg:ident $(, $arg:expr)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            let dir = tempfile::tempdir().unwrap();
            $name(sqlite(&dir).await $(, $arg)*).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $pg() {
            let pg = Postgres::start().expect("PostgreSQL for the test");
            $name(postgres(&pg.url()).await $(, $arg)*).await;
        }
    };
}

both!(
    pins_and_products,
    sqlite_pins_and_products,
    postgres_pins_and_products
);
both!(polls, sqlite_polls, postgres_polls);
both!(gifts, sqlite_gifts, postgres_gifts);
both!(chat, sqlite_chat, postgres_chat);
both!(flash_sale, sqlite_flash_sale, postgres_flash_sale, 1_000);
both!(checkout, sqlite_checkout, postgres_checkout);
both!(
    events_and_timeline,
    sqlite_events_and_timeline,
    postgres_events_and_timeline
);
