//! The database: SQLite (embedded default) or PostgreSQL, with concrete drivers, and the
//! engine's own table of streams. Other crates (commerce) get the same pool.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?} (use sqlite:// or postgres://)")]
    Scheme(String),
}

/// A connection pool on one of the two supported databases.
#[derive(Clone, Debug)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A stream as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    pub id: String,
    pub title: String,
    pub stream_key: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl Database {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DbError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .connect_with(options)
                .await?;
            Ok(Self::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Ok(Self::Postgres(pool))
        } else {
            Err(DbError::Scheme(url.to_owned()))
        }
    }

    /// Applies the engine's migrations (versions 1..999; other crates use their own range in
    /// the same `_sqlx_migrations` table, hence `ignore_missing`).
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Self::Sqlite(pool) => {
                let mut m = sqlx::migrate!("./migrations/sqlite");
                m.set_ignore_missing(true);
                m.run(pool).await?;
            }
            Self::Postgres(pool) => {
                let mut m = sqlx::migrate!("./migrations/postgres");
                m.set_ignore_missing(true);
                m.run(pool).await?;
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    pub async fn insert_stream(&self, s: &StreamRecord) -> Result<(), DbError> {
        const SQL_LITE: &str =
            "INSERT INTO streams (id, title, stream_key, created_at) VALUES (?, ?, ?, ?)";
        const SQL_PG: &str =
            "INSERT INTO streams (id, title, stream_key, created_at) VALUES ($1, $2, $3, $4)";
        match self {
            Self::Sqlite(pool) => {
                sqlx::query(SQL_LITE)
                    .bind(&s.id)
                    .bind(&s.title)
                    .bind(&s.stream_key)
                    .bind(s.created_at)
                    .execute(pool)
                    .await?;
            }
            Self::Postgres(pool) => {
                sqlx::query(SQL_PG)
                    .bind(&s.id)
                    .bind(&s.title)
                    .bind(&s.stream_key)
                    .bind(s.created_at)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn list_streams(&self) -> Result<Vec<StreamRecord>, DbError> {
        const SQL: &str =
            "SELECT id, title, stream_key, created_at FROM streams ORDER BY created_at, id";
        let rows: Vec<StreamRecord> = match self {
            Self::Sqlite(pool) => sqlx::query(SQL)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| record(r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect(),
            Self::Postgres(pool) => sqlx::query(SQL)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| record(r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect(),
        };
        Ok(rows)
    }

    /// One stream by id (`$1` works on both drivers).
    pub async fn get_stream(&self, id: &str) -> Result<Option<StreamRecord>, DbError> {
        const SQL: &str = "SELECT id, title, stream_key, created_at FROM streams WHERE id = $1";
        Ok(match self {
            Self::Sqlite(pool) => sqlx::query(SQL)
                .bind(id)
                .fetch_optional(pool)
                .await?
                .map(|r| record(r.get(0), r.get(1), r.get(2), r.get(3))),
            Self::Postgres(pool) => sqlx::query(SQL)
                .bind(id)
                .fetch_optional(pool)
                .await?
                .map(|r| record(r.get(0), r.get(1), r.get(2), r.get(3))),
        })
    }

    /// Returns whether a row was deleted.
    pub async fn delete_stream(&self, id: &str) -> Result<bool, DbError> {
        let affected = match self {
            Self::Sqlite(pool) => sqlx::query("DELETE FROM streams WHERE id = ?")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected(),
            Self::Postgres(pool) => sqlx::query("DELETE FROM streams WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected(),
        };
        Ok(affected > 0)
    }
}

fn record(id: String, title: String, stream_key: String, created_at: i64) -> StreamRecord {
    StreamRecord {
        id,
        title,
        stream_key,
        created_at,
    }
}
