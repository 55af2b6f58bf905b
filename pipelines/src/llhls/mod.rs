//! Low-Latency HLS: the CMAF packager (GStreamer `cmafmux`) and the origin.

pub mod config;
pub mod error;
pub mod segmenter;

pub use config::LlHlsConfig;
pub use error::OriginError;
