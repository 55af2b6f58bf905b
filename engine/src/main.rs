//! The `showroom` binary: command line, logging, and a call into [`showroom_engine::app`].

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use showroom_engine::config::{Config, LogConfig, LogFormat, Overrides};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "showroom", version, about = "Live-commerce streaming engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine (RTMP ingest, LL-HLS origin, APIs).
    Serve {
        /// TOML config file (see configs/default.toml); built-in defaults without it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Directory for the database, admin key and other state.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        http_port: Option<u16>,
        #[arg(long)]
        rtmp_port: Option<u16>,
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let Command::Serve {
        config,
        data_dir,
        http_port,
        rtmp_port,
        log_format,
    } = cli.command;
    let overrides = Overrides {
        data_dir,
        http_port,
        rtmp_port,
        log_format,
    };
    let config = Config::load(config.as_deref(), &overrides).context("loading configuration")?;
    init_logging(&config.log);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(showroom_engine::app::serve(config))
        .context("showroom serve")
}

fn init_logging(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
