//! `showroomscale`: scales raw I420 or NV12 video with libswscale (FFmpeg's scaler, bicubic
//! like ffmpeg's `scale` filter). Size change only: format and frame rate pass unchanged.
//!
//! A downstream capsfilter with `width`/`height` drives it as it drives `videoscale`; with only
//! one of them, the other keeps the display aspect ratio. Same caps in and out: passthrough.
//! Timestamps, flags and durations are copied to each scaled frame.
//!
//! ```text
//! ... ! video/x-raw,format=I420,width=1920,height=1080 ! showroomscale ! video/x-raw,width=1280,height=720 ! ...
//! ```

mod imp;
mod size;
pub mod sws;

use gst::glib;
use gst::prelude::*;

pub use sws::{Format, Method, ScaleError, Scaler};

/// The factory name.
pub const NAME: &str = "showroomscale";

glib::wrapper! {
    /// The `showroomscale` element.
    pub struct ShowroomScale(ObjectSubclass<imp::ShowroomScale>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers `showroomscale` without a plugin.
pub fn register() -> Result<(), glib::BoolError> {
    gst::Element::register(None, NAME, gst::Rank::NONE, ShowroomScale::static_type())
}

/// Whether libswscale gives a context here (checked once per process with a 1080p → 720p I420
/// context); when not, callers fall back to `videoscale`.
pub fn usable() -> Result<(), ScaleError> {
    static RESULT: std::sync::OnceLock<Result<(), ScaleError>> = std::sync::OnceLock::new();
    RESULT
        .get_or_init(|| {
            Scaler::new(Format::I420, (1920, 1080), (1280, 720), Method::Bicubic).map(|_| ())
        })
        .clone()
}
