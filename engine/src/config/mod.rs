//! The engine's configuration: built-in defaults, then `configs/default.toml`-shaped TOML, then
//! `SHOWROOM_*` environment variables (`__` separates levels: `SHOWROOM_HTTP__PORT=9000`), then
//! command-line flags.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use showroom_commerce::CommerceConfig;
use showroom_pipelines::llhls::LlHlsConfig;
use showroom_pipelines::record::RecordConfig;
use showroom_pipelines::rtmp::RtmpConfig;
use showroom_pipelines::transcode::AbrConfig;
use showroom_signaling::WebRtcConfig;

/// Everything `showroom serve` can be told. Every key is documented, with its default, in
/// `configs/default.toml`; a test checks that file against [`Config::default`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite database, the generated admin key and other state live.
    pub data_dir: PathBuf,
    /// Admin API key. Unset: read from `<data_dir>/admin_key`, generated there on first start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_key: Option<String>,
    /// Secret that signs the interaction layer's tokens (JWT, HS256). Engines sharing one Redis
    /// behind a load balancer must share it. Unset: `<data_dir>/jwt_secret`, generated once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_secret: Option<String>,
    /// Base URL that API answers use for links (e.g. `https://live.example.com`).
    /// Unset: taken from each request's Host header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    pub log: LogConfig,
    pub http: ListenConfig,
    pub rtmp: RtmpListenConfig,
    pub llhls: LlHlsConfig,
    /// Adaptive bitrate: the rendition ladder transcoded from each stream (docs/abr.md).
    pub abr: AbrConfig,
    pub database: DatabaseConfig,
    pub commerce: CommerceConfig,
    pub webrtc: WebRtcConfig,
    pub whip: WhipSection,
    pub web: WebConfig,
    /// Recording of live streams for replay (`/vod/{id}/index.m3u8`) and thumbnails.
    pub recording: RecordConfig,
}

/// WHIP ingest (browser hosts, `POST /whip/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhipSection {
    /// Local IPs offered as ICE candidates (e.g. `["127.0.0.1"]`); empty = every interface
    /// (libnice's default, which skips loopback).
    pub ice_addresses: Vec<String>,
    /// `stun://host:port` for server-reflexive candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stun_server: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// The built web client (`npm run build` in web-client/).
    pub dir: PathBuf,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("web-client/dist"),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            admin_key: None,
            jwt_secret: None,
            public_url: None,
            log: LogConfig::default(),
            http: ListenConfig {
                bind: IpAddr::from([0, 0, 0, 0]),
                port: 8080,
            },
            rtmp: RtmpListenConfig::default(),
            llhls: LlHlsConfig::default(),
            abr: AbrConfig::default(),
            database: DatabaseConfig::default(),
            commerce: CommerceConfig::default(),
            webrtc: WebRtcConfig::default(),
            whip: WhipSection::default(),
            web: WebConfig::default(),
            recording: RecordConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `EnvFilter` directives; `RUST_LOG` wins when set.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info,tower_http=info,sqlx=warn".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenConfig {
    pub bind: IpAddr,
    pub port: u16,
}

impl Default for ListenConfig {
    fn default() -> Self {
        Config::default().http
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtmpListenConfig {
    pub enabled: bool,
    pub bind: IpAddr,
    pub port: u16,
    /// Protocol settings of the RTMP server itself (app name, timeouts, size limits).
    pub protocol: RtmpConfig,
}

impl Default for RtmpListenConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: IpAddr::from([0, 0, 0, 0]),
            port: 1935,
            protocol: RtmpConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://...` or `postgres://...`. Unset: SQLite at `<data_dir>/showroom.db`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 16,
        }
    }
}

/// Command-line overrides, applied last.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub http_port: Option<u16>,
    pub rtmp_port: Option<u16>,
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("invalid [abr] ladder: {0}")]
    Ladder(#[from] showroom_pipelines::transcode::LadderError),
}

impl Config {
    /// Defaults, then `file` (if given), then `SHOWROOM_*` environment variables, then
    /// `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Missing(path.to_owned()));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("SHOWROOM_").split("__"));
        let mut config: Config = figment.extract().map_err(Box::new)?;
        config.abr.validate()?;
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(port) = overrides.http_port {
            config.http.port = port;
        }
        if let Some(port) = overrides.rtmp_port {
            config.rtmp.port = port;
        }
        if let Some(format) = overrides.log_format {
            config.log.format = format;
        }
        Ok(config)
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("showroom.db").display()
            )
        })
    }

    /// Where recordings live: `<data_dir>/recordings`.
    pub fn recordings_dir(&self) -> PathBuf {
        self.data_dir.join("recordings")
    }
}

#[cfg(test)]
mod tests;
