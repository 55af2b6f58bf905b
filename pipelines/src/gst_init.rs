//! GStreamer start-up, once per process.

use std::sync::OnceLock;

/// Initialises GStreamer and registers the statically linked `fmp4` plugin (`cmafmux`).
/// Safe to call from anywhere, any number of times.
pub fn init() -> Result<(), gst::glib::Error> {
    static RESULT: OnceLock<Result<(), gst::glib::Error>> = OnceLock::new();
    RESULT
        .get_or_init(|| {
            gst::init()?;
            gstfmp4::plugin_register_static().map_err(|e| {
                gst::glib::Error::new(gst::CoreError::Failed, &format!("fmp4 plugin: {e}"))
            })?;
            Ok(())
        })
        .clone()
}
