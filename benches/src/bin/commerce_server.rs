//! A commerce-only server for the load tools when the full engine is not wanted: the engine's
//! own commerce router (`engine/src/http/commerce/mod.rs`) over a one-stream directory whose
//! clock runs in real time. Prints `READY http://127.0.0.1:PORT` when listening.
//!
//! `commerce_server [--port 0] [--db sqlite|postgres://...] [--redis redis://...] [--stream s1] [--key k1]`
//! The admin key is `bench-admin`.

#[path = "../../../engine/src/http/commerce/mod.rs"]
mod engine_router;

use showroom_commerce::{
    Commerce, CommerceConfig, CommerceDb, Secrets, StreamClock, StreamDirectory, TimelineMarker,
};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

struct OneStream {
    id: String,
    key: String,
    started: Instant,
}

impl StreamDirectory for OneStream {
    fn exists(&self, stream_id: &str) -> bool {
        stream_id == self.id
    }
    fn check_stream_key(&self, stream_id: &str, key: &str) -> bool {
        stream_id == self.id && key == self.key
    }
    fn clock(&self, _: &str) -> Option<StreamClock> {
        Some(StreamClock {
            epoch: 1,
            pts: self.started.elapsed(),
            wall: SystemTime::now(),
        })
    }
    fn mark(&self, _: &str, _: TimelineMarker) {}
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Quiet unless asked: `RUST_LOG=showroom_commerce::flash_timing=debug` prints each flash
    // winner's stages and each batch's statements (docs/benchmarks.md, "Flash-sale burst").
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let port: u16 = arg("--port").map(|p| p.parse()).transpose()?.unwrap_or(0);
    let stream = arg("--stream").unwrap_or_else(|| "s1".into());
    let key = arg("--key").unwrap_or_else(|| "k1".into());
    let db_arg = arg("--db").unwrap_or_else(|| "sqlite".into());
    let _dir = tempfile::tempdir()?;
    let db = if db_arg.starts_with("postgres") {
        CommerceDb::Postgres(
            // Kept warm (all 32 connections open from the start), as in a server that has been
            // running: a fresh process would otherwise open PostgreSQL connections (a backend
            // fork each) in the middle of the burst, on the first winners' path.
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(32)
                .min_connections(32)
                .connect(&db_arg)
                .await?,
        )
    } else {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(_dir.path().join("bench.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
        CommerceDb::Sqlite(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(opts)
                .await?,
        )
    };
    let cfg = CommerceConfig {
        redis_url: arg("--redis"),
        // The load tools open many connections from one process/user: rate limits off.
        conn_rate_per_s: 100_000,
        conn_burst: 100_000,
        user_rate_per_s: 1_000_000,
        user_burst: 1_000_000,
        ..CommerceConfig::default()
    };
    let secrets = Secrets {
        admin_key: "bench-admin".into(),
        jwt_secret: "bench-jwt-secret-123".into(),
    };
    let dir = Arc::new(OneStream {
        id: stream,
        key,
        started: Instant::now(),
    });
    let shop = Commerce::start(cfg, secrets, db, dir).await?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("127.0.0.1:{port}").parse()?)?;
    let listener = socket.listen(8192)?;
    println!("READY http://{}", listener.local_addr()?);
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, engine_router::router(shop)).await?;
    Ok(())
}
