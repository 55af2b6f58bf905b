//! Storage: the engine's pool (SQLite or PostgreSQL, concrete drivers), migrations, and the
//! per-backend dispatch used by the domain modules.
//!
//! The SQL is shared text: `$N` placeholders work on both drivers, numbers are `BIGINT`/`INTEGER`
//! (decoded as `i64`), JSON is stored as `TEXT`. On SQLite, write transactions are serialised
//! through one in-process gate (SQLite has one writer anyway; this avoids `SQLITE_BUSY` on lock
//! upgrades). On PostgreSQL, row locks from conditional `UPDATE`s do the work.

use crate::error::CommerceError;
use tokio::sync::{Mutex, MutexGuard};

/// The pool the engine hands over.
#[derive(Debug, Clone)]
pub enum CommerceDb {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// The pool plus the SQLite write gate.
#[derive(Debug)]
pub struct Db {
    pub(crate) pool: CommerceDb,
    gate: Option<Mutex<()>>,
    /// PostgreSQL connections kept by the group committers (flash winners, settlements), one
    /// per lane (batch in flight).
    pub(crate) winners_conn: [Pinned; LANES],
    pub(crate) settle_conn: [Pinned; LANES],
}

/// Batches in flight per group committer on PostgreSQL (each on a kept connection of its own):
/// the next batch starts while the previous one commits; their hot rows (sale, stream sequence)
/// still serialise them in PostgreSQL, but not the rest (network, keys, orders).
pub(crate) const LANES: usize = 2;

/// A PostgreSQL connection kept by one group committer lane, whose batches run one at a time:
/// its prepared statements and compiled functions stay warm from one batch to the next (the pool
/// would hand each batch another connection, each planning the batch functions anew). It is
/// opened with the pool's options but outside the pool, by the lane on the committers' own
/// thread (`domain::commit_thread`), so its socket's readiness is seen by that thread's runtime.
#[derive(Debug, Default)]
pub(crate) struct Pinned(Mutex<Option<sqlx::PgConnection>>);

impl Pinned {
    /// The kept connection (opened the first time or after a broken one).
    pub(crate) async fn get(
        &self,
        pool: &sqlx::PgPool,
    ) -> Result<MutexGuard<'_, Option<sqlx::PgConnection>>, CommerceError> {
        use sqlx::ConnectOptions;
        let mut slot = self.0.lock().await;
        if slot.is_none() {
            *slot = Some(pool.connect_options().connect().await?);
        }
        Ok(slot)
    }
}

/// Run `$query` (a `sqlx::query(..)` with its binds) with `fetch_all` on the connection kept in
/// `$pinned` for `$pool`; a connection that failed other than with a database error (an I/O
/// error, say) is given up, the next call takes a new one.
macro_rules! fetch_pinned {
    ($pinned:expr, $pool:expr, $query:expr) => {{
        let mut slot = $pinned.get($pool).await?;
        let res = match slot.as_mut() {
            Some(c) => $query.fetch_all(&mut *c).await,
            None => Err(sqlx::Error::PoolClosed),
        };
        if matches!(&res, Err(e) if !matches!(e, sqlx::Error::Database(_))) {
            *slot = None;
        }
        res
    }};
}
pub(crate) use fetch_pinned;

/// Run `$body` with `$pool` bound to the concrete pool (the body is compiled once per backend).
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match &$db.pool {
            $crate::db::CommerceDb::Sqlite($pool) => $body,
            $crate::db::CommerceDb::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken at
/// BEGIN, so a writer waits (busy timeout) for the previous one. A deferred transaction that read
/// first and then writes fails at once with "database is locked" if another connection still
/// holds the lock (e.g. a refused transaction whose rollback sqlx has only queued).
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
           + Send
           + '_;
}

impl BeginWrite for sqlx::SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
           + Send
           + '_ {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for sqlx::PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
           + Send
           + '_ {
        self.begin()
    }
}

impl Db {
    /// Run commerce migrations (versions 1000+; sharing `_sqlx_migrations` with the engine's).
    pub async fn open(pool: CommerceDb) -> Result<Self, CommerceError> {
        match &pool {
            CommerceDb::Sqlite(p) => {
                let mut m = sqlx::migrate!("./migrations/sqlite");
                m.set_ignore_missing(true);
                m.run(p).await?;
            }
            CommerceDb::Postgres(p) => {
                let mut m = sqlx::migrate!("./migrations/postgres");
                m.set_ignore_missing(true);
                m.run(p).await?;
            }
        }
        let gate = matches!(pool, CommerceDb::Sqlite(_)).then(|| Mutex::new(()));
        Ok(Self {
            pool,
            gate,
            winners_conn: Default::default(),
            settle_conn: Default::default(),
        })
    }

    /// Batches a group committer may have in flight: [`LANES`] on PostgreSQL, 1 on SQLite
    /// (one writer: a second batch would only wait for the write gate).
    pub(crate) fn group_commit_lanes(&self) -> usize {
        match self.pool {
            CommerceDb::Postgres(_) => LANES,
            CommerceDb::Sqlite(_) => 1,
        }
    }

    /// Hold this across a write transaction.
    pub(crate) async fn write_gate(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.gate {
            Some(m) => Some(m.lock().await),
            None => None,
        }
    }

    pub fn backend(&self) -> &'static str {
        match self.pool {
            CommerceDb::Sqlite(_) => "sqlite",
            CommerceDb::Postgres(_) => "postgres",
        }
    }
}

/// Column helpers shared by both backends.
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn to_i64(v: u64) -> Result<i64, CommerceError> {
    i64::try_from(v).map_err(|_| CommerceError::Invalid(format!("number {v} out of range")))
}

pub(crate) fn json_col<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, CommerceError> {
    serde_json::from_str(s).map_err(crate::error::internal)
}
