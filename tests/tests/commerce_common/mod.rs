//! Shared pieces of the commerce tests: a fake stream directory with a settable clock, and
//! database/commerce constructors for SQLite (temp file) and a real PostgreSQL.
#![allow(dead_code)]

use parking_lot::Mutex;
use showroom_commerce::{
    Commerce, CommerceConfig, CommerceDb, Secrets, StreamClock, StreamDirectory, TimelineMarker,
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
