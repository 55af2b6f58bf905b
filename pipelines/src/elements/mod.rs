//! GStreamer elements of our own, registered statically at [`crate::gst_init::init`].
//!
//! - `showroomscale` ([`showroomscale`]): raw video scaling with libswscale, used by the ABR
//!   transcode graph in place of `videoscale`.

pub mod showroomscale;

/// Registers every element of this crate with GStreamer (no plugin file needed).
pub fn register() -> Result<(), gst::glib::BoolError> {
    showroomscale::register()
}
