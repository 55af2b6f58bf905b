//! GStreamer start-up, once per process.

use std::sync::OnceLock;

/// GStreamer could not start, or a needed plugin is missing.
#[derive(Debug, Clone, thiserror::Error)]
#[error("GStreamer initialisation failed: {0}")]
pub struct InitError(String);

/// Initialises GStreamer, registers the statically linked `fmp4` plugin (`cmafmux`) and this
/// crate's own elements ([`crate::elements`]: `showroomscale`).
/// Safe to call from anywhere, any number of times.
pub fn init() -> Result<(), InitError> {
    static RESULT: OnceLock<Result<(), InitError>> = OnceLock::new();
    RESULT
        .get_or_init(|| {
            gst::init().map_err(|e| InitError(e.to_string()))?;
            gstfmp4::plugin_register_static()
                .map_err(|e| InitError(format!("fmp4 plugin: {e}")))?;
            crate::elements::register()
                .map_err(|e| InitError(format!("showroom elements: {e}")))?;
            Ok(())
        })
        .clone()
}
