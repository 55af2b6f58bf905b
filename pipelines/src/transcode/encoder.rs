//! The H.264 encoder of the renditions, chosen once at start-up.

use std::sync::OnceLock;

use gst::prelude::*;

use super::config::EncoderChoice;
use super::TranscodeError;

/// A usable encoder element factory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoder {
    X264,
    Va,
    Nvidia,
}

impl Encoder {
    pub fn factory(self) -> &'static str {
        match self {
            Encoder::X264 => "x264enc",
            Encoder::Va => "vah264enc",
            Encoder::Nvidia => "nvh264enc",
        }
    }

    pub fn is_hardware(self) -> bool {
        self != Encoder::X264
    }
}

/// Whether `factory` exists and an instance reaches READY (a driver and a device are there).
fn usable(factory: &str) -> bool {
    let Ok(el) = gst::ElementFactory::make(factory).build() else {
        return false;
    };
    let ok = el.set_state(gst::State::Ready).is_ok();
    let _ = el.set_state(gst::State::Null);
    ok
}

static CHOSEN: OnceLock<Result<Encoder, TranscodeError>> = OnceLock::new();

/// Picks the encoder once per process (probing hardware only for `Auto`) and logs which.
pub fn choose(choice: EncoderChoice) -> Result<Encoder, TranscodeError> {
    CHOSEN
        .get_or_init(|| {
            crate::gst_init::init().map_err(|e| TranscodeError::Gst(e.to_string()))?;
            let candidates: &[Encoder] = match choice {
                EncoderChoice::Auto => &[Encoder::Va, Encoder::Nvidia, Encoder::X264],
                EncoderChoice::Va => &[Encoder::Va],
                EncoderChoice::Nvidia => &[Encoder::Nvidia],
                EncoderChoice::X264 => &[Encoder::X264],
            };
            let picked = candidates.iter().copied().find(|e| usable(e.factory()));
            match picked {
                Some(e) => {
                    tracing::info!(
                        encoder = e.factory(),
                        hardware = e.is_hardware(),
                        ?choice,
                        "abr: H.264 encoder for the renditions"
                    );
                    Ok(e)
                }
                None => {
                    let wanted: Vec<_> = candidates.iter().map(|e| e.factory()).collect();
                    tracing::error!(?wanted, "abr: no usable H.264 encoder, transcoding off");
                    Err(TranscodeError::NoEncoder(wanted.join(", ")))
                }
            }
        })
        .clone()
}

/// An encoder element with the ladder's common settings: no B-frames, no keyframes of its
/// own (they are forced at the source's), constant settings across renditions.
pub(super) fn make(
    encoder: Encoder,
    bitrate_kbps: u32,
    preset: &str,
) -> Result<gst::Element, TranscodeError> {
    let gst_err =
        |e: gst::glib::BoolError| TranscodeError::Gst(format!("{}: {e}", encoder.factory()));
    let el = match encoder {
        Encoder::X264 => gst::ElementFactory::make("x264enc")
            .property_from_str("tune", "zerolatency")
            .property_from_str("speed-preset", preset)
            .property("bframes", 0u32)
            .property("key-int-max", KEY_INT_MAX)
            .property("bitrate", bitrate_kbps)
            .property("option-string", "scenecut=0")
            .build()
            .map_err(gst_err)?,
        Encoder::Va | Encoder::Nvidia => {
            let el = gst::ElementFactory::make(encoder.factory())
                .build()
                .map_err(gst_err)?;
            // Property names differ between the two; only numbers are set, and only properties
            // the element has.
            let key_int = KEY_INT_MAX.to_string();
            for (name, value) in [
                ("bitrate", bitrate_kbps.to_string()),
                ("b-frames", "0".to_string()),
                ("bframes", "0".to_string()),
                ("key-int-max", key_int.clone()),
                ("gop-size", key_int),
            ] {
                if el.find_property(name).is_some() {
                    el.set_property_from_str(name, &value);
                }
            }
            el
        }
    };
    Ok(el)
}

/// Frames between keyframes the encoder may choose itself: far beyond any source GOP, so every
/// keyframe is one forced at a source keyframe.
const KEY_INT_MAX: u32 = 100_000;
