//! Shared pieces of the commerce tests: a fake stream directory with a settable clock, and
//! database/commerce constructors for SQLite (temp file) and a real PostgreSQL.
#![allow(dead_code)]

use parking_lot::Mutex;
use serde_json::{json, Value};
use showroom_commerce::{
    Actor, Command, Commerce, CommerceConfig, CommerceDb, CommerceError, Secrets, StreamClock,
    StreamDirectory, TimelineMarker,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub const ADMIN_KEY: &str = "test-admin-key";
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789";

/// The engine side, faked: streams with keys, a clock the test moves, recorded markers.
#[derive(Default)]
pub struct FakeStreams {
    pub keys: Mutex<HashMap<String, String>>,
    pub clocks: Mutex<HashMap<String, StreamClock>>,
    pub marks: Mutex<Vec<(String, TimelineMarker)>>,
}

impl FakeStreams {
    pub fn with_stream(id: &str, key: &str) -> Arc<Self> {
        let s = Arc::new(Self::default());
        s.add(id, key);
        s
    }
    pub fn add(&self, id: &str, key: &str) {
        self.keys.lock().insert(id.into(), key.into());
    }
    /// Go live on `epoch` with the newest frame at `pts_ms`, mapped to `wall`.
    pub fn set_clock(&self, id: &str, epoch: u64, pts_ms: u64, wall: SystemTime) {
        self.clocks.lock().insert(
            id.into(),
            StreamClock {
                epoch,
                pts: Duration::from_millis(pts_ms),
                wall,
            },
        );
    }
    pub fn advance(&self, id: &str, ms: u64) {
        if let Some(c) = self.clocks.lock().get_mut(id) {
            c.pts += Duration::from_millis(ms);
            c.wall += Duration::from_millis(ms);
        }
    }
}

impl StreamDirectory for FakeStreams {
    fn exists(&self, stream_id: &str) -> bool {
        self.keys.lock().contains_key(stream_id)
    }
    fn check_stream_key(&self, stream_id: &str, key: &str) -> bool {
        self.keys.lock().get(stream_id).is_some_and(|k| k == key)
    }
    fn clock(&self, stream_id: &str) -> Option<StreamClock> {
        self.clocks.lock().get(stream_id).copied()
    }
    fn mark(&self, stream_id: &str, marker: TimelineMarker) {
        self.marks.lock().push((stream_id.into(), marker));
    }
}

pub fn secrets() -> Secrets {
    Secrets {
        admin_key: ADMIN_KEY.into(),
        jwt_secret: JWT_SECRET.into(),
    }
}

/// A SQLite pool on a temp file (WAL), as the engine would make it.
pub async fn sqlite(dir: &tempfile::TempDir) -> CommerceDb {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    let opts = SqliteConnectOptions::new()
        .filename(dir.path().join("showroom.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(opts)
        .await
        .expect("sqlite pool");
    CommerceDb::Sqlite(pool)
}

/// A pool on a real PostgreSQL.
pub async fn postgres(url: &str) -> CommerceDb {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(40)
        .acquire_timeout(Duration::from_secs(60))
        .connect(url)
        .await
        .expect("postgres pool");
    CommerceDb::Postgres(pool)
}

pub async fn start(
    db: CommerceDb,
    streams: Arc<FakeStreams>,
    cfg: CommerceConfig,
) -> Arc<Commerce> {
    Commerce::start(cfg, secrets(), db, streams)
        .await
        .expect("commerce start")
}

/// The stream the domain-level tests act on (stream key `key-1`).
pub const SHOW: &str = "show-1";

pub fn token_actor(shop: &Commerce, v: Value) -> Actor {
    shop.authenticate(v["token"].as_str().expect("token"))
        .expect("verify")
}

/// A named viewer of [`SHOW`].
pub fn viewer(shop: &Commerce, name: &str) -> Actor {
    token_actor(
        shop,
        shop.issue_viewer_token(SHOW, Some(name.into()))
            .expect("viewer token"),
    )
}

/// The host of [`SHOW`].
pub fn host(shop: &Commerce) -> Actor {
    token_actor(
        shop,
        shop.issue_host_token(SHOW, "key-1", None)
            .expect("host token"),
    )
}

/// Run a WebSocket-style command on [`SHOW`].
pub async fn run(shop: &Arc<Commerce>, a: &Actor, cmd: Value) -> Result<Value, CommerceError> {
    let cmd: Command = serde_json::from_value(cmd).expect("command json");
    shop.execute(a, Some(SHOW), cmd).await
}

/// Run a command that must succeed.
pub async fn ok(shop: &Arc<Commerce>, a: &Actor, cmd: Value) -> Value {
    let what = cmd["type"].clone();
    match run(shop, a, cmd).await {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// The refusal code of a command that must fail.
pub fn code(r: Result<Value, CommerceError>) -> String {
    match r {
        Ok(v) => panic!("expected a refusal, got {v}"),
        Err(e) => e.code().to_owned(),
    }
}

/// Await purchase tasks: the (attempt index, order id) of the winners; every other answer
/// must be `sold_out`.
pub async fn winners(tasks: Vec<tokio::task::JoinHandle<(u16, Value)>>) -> Vec<(usize, String)> {
    let mut won = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let (st, body) = t.await.unwrap();
        match st {
            200 => won.push((i, body["id"].as_str().unwrap().to_owned())),
            409 => assert_eq!(body["error"]["code"], json!("sold_out"), "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    won
}

/// A REST answer to a command under a per-user budget of 5 per 5 s: `None` if it passed (200),
/// else checks the refusal — 429, `Retry-After` in whole seconds, a JSON body naming the
/// `per_user` limit — and gives its `retry_after_ms`.
pub async fn rate_limited_ms(r: reqwest::Response) -> Option<u64> {
    match r.status().as_u16() {
        200 => return None,
        429 => {}
        other => panic!("unexpected status {other}"),
    }
    let after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], json!("rate_limited"), "{v}");
    assert_eq!(v["error"]["limit"], json!("per_user"), "{v}");
    let ms = v["error"]["retry_after_ms"].as_u64().unwrap();
    assert!(ms > 0 && ms <= 5_000, "{v}");
    assert_eq!(after, ms.div_ceil(1000), "Retry-After in whole seconds");
    Some(ms)
}
