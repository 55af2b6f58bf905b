//! Start-up and wiring: data dir, secrets, database, registry, ingest servers, HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::serve::ListenerExt;
use showroom_commerce::{Commerce, CommerceDb, Secrets as CommerceSecrets};
use showroom_pipelines::ingest::PublishTarget;
use showroom_pipelines::record::{self, RecordConfig, Recordings};
use showroom_pipelines::rtmp::{RtmpServer, RtmpStats};
use showroom_signaling::{RtpConfig, Sfu, StreamLookup, Whip, WhipConfig};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::db::{Database, DbError};
use crate::http::{self, AppState};
use crate::registry::{RecordingSetup, Registry};
use crate::secrets::{self, Secrets};
use crate::shop::ShopDirectory;
use crate::viewers::{self, ViewerCounter};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("data dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Listen {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("http server: {0}")]
    Http(std::io::Error),
    #[error("commerce: {0}")]
    Commerce(#[from] showroom_commerce::CommerceError),
    #[error("webrtc: {0}")]
    WebRtc(#[from] showroom_signaling::SignalingError),
    #[error(transparent)]
    Gst(#[from] showroom_pipelines::gst_init::InitError),
    #[error("[recording.s3]: {0}")]
    RecordingS3(showroom_pipelines::record::RecordError),
}

/// Runs the engine until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> Result<(), EngineError> {
    let config = Arc::new(config);
    let data_dir = &config.data_dir;
    std::fs::create_dir_all(data_dir).map_err(|source| EngineError::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    let secret = |name: &str, configured: Option<&str>| {
        secrets::load_or_create(data_dir, name, configured).map_err(|source| EngineError::DataDir {
            path: data_dir.join(name).display().to_string(),
            source,
        })
    };
    let (admin_key, origin) = secret("admin_key", config.admin_key.as_deref())?;
    if origin == secrets::Origin::Generated {
        println!(
            "Admin API key (generated now, stored in {}; shown once): {admin_key}",
            data_dir.join("admin_key").display()
        );
    }
    let (jwt_secret, _) = secret("jwt_secret", config.jwt_secret.as_deref())?;
    let secrets = Arc::new(Secrets {
        admin_key,
        jwt_secret,
    });

    showroom_pipelines::gst_init::init()?;

    let db = Database::connect(&config.database_url(), config.database.max_connections).await?;
    db.migrate().await?;
    tracing::info!(backend = db.backend(), "database ready");
    let mut recordings = Recordings::new(config.recordings_dir());
    if config.recording.s3.enabled() {
        recordings = recordings
            .with_s3(&config.recording.s3)
            .map_err(EngineError::RecordingS3)?;
    }
    let recording = RecordingSetup {
        recordings,
        config: config.recording.clone(),
    };
    let registry = Registry::load(
        db.clone(),
        config.llhls.clone(),
        recording,
        config.abr.clone(),
    )
    .await?;
    tokio::spawn(recording_sweep(
        Arc::clone(&registry),
        config.recording.clone(),
    ));
    if matches!(db, Database::Postgres(_)) {
        tokio::spawn(refresh_loop(Arc::clone(&registry)));
    }

    let mut extra_metrics: Vec<http::MetricsWriter> = Vec::new();
    if config.rtmp.enabled {
        let server = RtmpServer::new(
            Arc::clone(&registry) as Arc<dyn PublishTarget>,
            config.rtmp.protocol.clone(),
        );
        extra_metrics.push(rtmp_metrics(server.stats()));
        let addr = SocketAddr::new(config.rtmp.bind, config.rtmp.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| EngineError::Listen {
                what: "rtmp",
                addr,
                source,
            })?;
        tokio::spawn(server.serve(listener));
    }

    let shop_db = match &db {
        Database::Sqlite(pool) => CommerceDb::Sqlite(pool.clone()),
        Database::Postgres(pool) => CommerceDb::Postgres(pool.clone()),
    };
    let shop = Commerce::start(
        config.commerce.clone(),
        CommerceSecrets {
            admin_key: secrets.admin_key.clone(),
            jwt_secret: secrets.jwt_secret.clone(),
        },
        shop_db,
        Arc::new(ShopDirectory(Arc::clone(&registry))),
    )
    .await?;
    tracing::info!(
        bus = if config.commerce.redis_url.is_some() {
            "redis"
        } else {
            "in-process"
        },
        "commerce ready"
    );
    let sfu = Sfu::new(
        config.webrtc.clone(),
        RtpConfig::default(),
        Arc::clone(&registry) as Arc<dyn StreamLookup>,
    )
    .await?;
    let state = AppState {
        config: Arc::clone(&config),
        secrets,
        registry,
        shop,
        extra_metrics: Arc::new(extra_metrics),
        viewers: ViewerCounter::new(),
        sfu: sfu.clone(),
    };
    let whip = Whip::new(
        WhipConfig {
            ice_addresses: config.whip.ice_addresses.clone(),
            stun_server: config.whip.stun_server.clone(),
            ..WhipConfig::default()
        },
        Arc::clone(&state.registry) as Arc<dyn PublishTarget>,
    );
    tracing::info!(
        loopback = config.webrtc.include_loopback,
        udp_mux = ?sfu.udp_mux_addr(),
        "WebRTC ready (WHIP, WHEP, /ws/signal)"
    );
    viewers::spawn_reporter(
        Arc::clone(&state.viewers),
        Arc::clone(&state.registry),
        sfu.clone(),
        Arc::clone(&state.shop),
    );
    let app = http::router(state, vec![showroom_signaling::router(sfu, whip)]);

    let addr = SocketAddr::new(config.http.bind, config.http.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| EngineError::Listen {
            what: "http",
            addr,
            source,
        })?;
    tracing::info!(%addr, "HTTP listening");
    // Small frames (held playlists, WebSocket events) must leave at once, not wait for Nagle.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "set_nodelay failed");
        }
    });
    // Connect info: the LL-HLS viewer count keys players without a `cid` by address.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(EngineError::Http)?;
    tracing::info!("stopped");
    Ok(())
}

fn rtmp_metrics(stats: Arc<RtmpStats>) -> http::MetricsWriter {
    use http::metrics::{counter, gauge, header_line};
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    Arc::new(move |out: &mut String| {
        let s = &stats;
        counter(
            out,
            "showroom_rtmp_connections_total",
            "RTMP connections accepted.",
            s.connections_accepted.load(Relaxed),
        );
        gauge(
            out,
            "showroom_rtmp_connections_open",
            "RTMP connections open.",
            s.connections_open.load(Relaxed),
        );
        counter(
            out,
            "showroom_rtmp_publishes_total",
            "RTMP publish sessions authenticated.",
            s.publishes.load(Relaxed),
        );
        counter(
            out,
            "showroom_rtmp_bytes_total",
            "Bytes read from RTMP peers.",
            s.bytes_in.load(Relaxed),
        );
        header_line(
            out,
            "showroom_rtmp_refused_total",
            "counter",
            "RTMP connections ended with an error, by reason.",
        );
        for (reason, n) in s.refusals() {
            let _ = writeln!(
                out,
                "showroom_rtmp_refused_total{{reason=\"{reason}\"}} {n}"
            );
        }
    })
}

/// Several engines can share one PostgreSQL database: pick up their streams.
async fn refresh_loop(registry: Arc<Registry>) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tick.tick().await;
        if let Err(e) = registry.refresh().await {
            tracing::warn!(error = %e, "stream registry refresh failed");
        }
    }
}

/// Applies the recording retention policy (`[recording] retention_days`, `max_bytes`) now and
/// then every `sweep_interval_s`.
async fn recording_sweep(registry: Arc<Registry>, config: RecordConfig) {
    let mut tick = tokio::time::interval(config.sweep_interval());
    loop {
        tick.tick().await;
        let root = registry.recordings().root().to_owned();
        let reg = Arc::clone(&registry);
        let (retention, max_bytes) = (config.retention(), config.max_bytes);
        let result = tokio::task::spawn_blocking(move || {
            let busy = |id: &str| {
                reg.get(id)
                    .is_some_and(|e| e.recorder.as_ref().is_some_and(|r| r.is_recording()))
            };
            record::sweep(&root, SystemTime::now(), retention, max_bytes, &busy)
        })
        .await;
        match result {
            Ok(Ok(swept)) if !swept.streams.is_empty() => {
                tracing::info!(streams = ?swept.streams, bytes = swept.bytes, "recording retention sweep")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "recording retention sweep failed"),
            Err(e) => tracing::warn!(error = %e, "recording retention sweep panicked"),
        }
        // The same policy on the S3 side, when configured.
        let busy = |id: &str| {
            registry
                .get(id)
                .is_some_and(|e| e.recorder.as_ref().is_some_and(|r| r.is_recording()))
        };
        let remote = registry
            .recordings()
            .sweep_remote(SystemTime::now(), retention, max_bytes, &busy)
            .await;
        match remote {
            Ok(swept) if !swept.streams.is_empty() => {
                tracing::info!(streams = ?swept.streams, bytes = swept.bytes, "recording retention sweep (S3)")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "recording retention sweep of S3 failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
