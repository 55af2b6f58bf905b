//! The `showroom` engine: configuration, the HTTP router, the stream registry, and the wiring
//! between the crates. It holds no protocol logic of its own.
//!
//! **Who drives it.** `main.rs` parses the command line, loads [`config::Config`] and calls
//! [`app::serve`], which owns the tokio runtime's top-level tasks until SIGINT/SIGTERM.
//!
//! **Data flow.**
//! ```text
//! showroom serve
//!   ├─ db::Database (SQLite default | PostgreSQL) ── registry::Registry (id/key → media bus)
//!   ├─ RTMP server (showroom-pipelines) ── PublishTarget = Registry ──▶ Stream bus
//!   ├─ commerce (showroom-commerce) ── StreamDirectory = shop::ShopDirectory(Registry)
//!   ├─ viewers: WHEP sessions (SFU) + LL-HLS playlist sessions ──every 2 s──▶ commerce
//!   │     (sums engines over Redis; /info, /stats, `viewers` frames)
//!   └─ HTTP (axum): /api/v1/streams, /hls/{id}/…, /metrics, /healthz, commerce routes, /ws/{id}
//! ```
//! HTTP handlers reach streams only through the registry; ingest servers only through the
//! `PublishTarget` trait their crate declares.
//!
//! **Time model.** Wall-clock only for bookkeeping (created/started times); media time lives on
//! the bus in `showroom-pipelines`.

pub mod app;
pub mod config;
pub mod db;
pub mod http;
pub mod registry;
pub mod secrets;
pub mod shop;
pub mod viewers;
