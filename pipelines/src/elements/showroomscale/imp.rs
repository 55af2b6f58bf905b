//! The `showroomscale` VideoFilter: caps negotiation like `videoscale` (size free, format and
//! frame rate fixed), one libswscale context per negotiated size pair.

use std::sync::LazyLock;

use gst::glib;
use gst::subclass::prelude::*;
use gst_base::subclass::BaseTransformMode;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;
use parking_lot::Mutex;

use super::size::{self, Shape};
use super::sws::{Format, Method, Plane, Scaler};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        super::NAME,
        gst::DebugColorFlags::empty(),
        Some("Showroom libswscale video scaler"),
    )
});

/// The default resampling filter: ffmpeg's `scale` filter default (bicubic).
const DEFAULT_METHOD: Method = Method::Bicubic;

/// Negotiated state: the context for the current caps (None before caps).
#[derive(Default)]
struct State {
    scaler: Option<Scaler>,
}

#[derive(Default)]
pub struct ShowroomScale {
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for ShowroomScale {
    const NAME: &'static str = "ShowroomScale";
    type Type = super::ShowroomScale;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for ShowroomScale {}

impl GstObjectImpl for ShowroomScale {}

impl ElementImpl for ShowroomScale {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Showroom video scaler (libswscale)",
                "Filter/Converter/Video/Scaler",
                "Resizes I420/NV12 video with libswscale, bicubic",
                "Showroom",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list([gst_video::VideoFormat::I420, gst_video::VideoFormat::Nv12])
                .build();
            [gst::PadDirection::Src, gst::PadDirection::Sink]
                .into_iter()
                .filter_map(|dir| {
                    let name = if dir == gst::PadDirection::Src {
                        "src"
                    } else {
                        "sink"
                    };
                    gst::PadTemplate::new(name, dir, gst::PadPresence::Always, &caps).ok()
                })
                .collect()
        });
        TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for ShowroomScale {
    const MODE: BaseTransformMode = BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    /// The same caps first (passthrough), then any size and pixel aspect ratio.
    fn transform_caps(
        &self,
        _direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let mut out = caps.clone();
        for (s, features) in caps.iter_with_features() {
            let mut s = s.to_owned();
            s.set("width", gst::IntRange::new(1, i32::MAX));
            s.set("height", gst::IntRange::new(1, i32::MAX));
            if s.has_field("pixel-aspect-ratio") {
                s.set(
                    "pixel-aspect-ratio",
                    gst::FractionRange::new(
                        gst::Fraction::new(1, i32::MAX),
                        gst::Fraction::new(i32::MAX, 1),
                    ),
                );
            }
            out.merge_structure_full(s, Some(features.to_owned()));
        }
        Some(match filter {
            Some(f) => f.intersect_with_mode(&out, gst::CapsIntersectMode::First),
            None => out,
        })
    }

    /// Downstream's width and height when fixed; one side fixed: the other keeps the input's
    /// display aspect ratio; neither: the input's size.
    fn fixate_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        othercaps: gst::Caps,
    ) -> gst::Caps {
        let mut othercaps = othercaps;
        othercaps.truncate();
        let input = caps.structure(0).map(|s| Shape {
            width: s.get::<i32>("width").unwrap_or(0).max(0) as u32,
            height: s.get::<i32>("height").unwrap_or(0).max(0) as u32,
            par: s
                .get::<gst::Fraction>("pixel-aspect-ratio")
                .map(|f| (f.numer().max(0) as u32, f.denom().max(0) as u32))
                .unwrap_or((1, 1)),
        });
        if let (Some(input), Some(s)) = (input, othercaps.make_mut().structure_mut(0)) {
            if s.has_field("pixel-aspect-ratio") {
                s.fixate_field_nearest_fraction(
                    "pixel-aspect-ratio",
                    gst::Fraction::new(input.par.0 as i32, input.par.1.max(1) as i32),
                );
            }
            let par = s
                .get::<gst::Fraction>("pixel-aspect-ratio")
                .map(|f| (f.numer().max(1) as u32, f.denom().max(1) as u32))
                .unwrap_or((1, 1));
            let w = s.get::<i32>("width").ok();
            let h = s.get::<i32>("height").ok();
            match (w, h) {
                (Some(_), Some(_)) => {}
                (Some(w), None) => {
                    let h = size::height_for(input, w.max(1) as u32, par);
                    s.fixate_field_nearest_int("height", h as i32);
                }
                (None, Some(h)) => {
                    let w = size::width_for(input, h.max(1) as u32, par);
                    s.fixate_field_nearest_int("width", w as i32);
                }
                (None, None) => {
                    s.fixate_field_nearest_int("width", input.width as i32);
                    s.fixate_field_nearest_int("height", input.height as i32);
                }
            }
        }
        othercaps.fixate();
        gst::debug!(CAT, imp = self, "fixated {direction:?} to {othercaps}");
        othercaps
    }

    /// When downstream reads `GstVideoMeta` strides and offers no pool, output frames come
    /// from a pool with 32-byte aligned rows: libswscale's SIMD vertical scaler needs 16-byte
    /// aligned rows (GStreamer's default pads to 4: 854 → 856) and falls back to slower code
    /// otherwise.
    fn decide_allocation(
        &self,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        let wants_pool = query.allocation_pools().next().is_none()
            && query
                .find_allocation_meta::<gst_video::VideoMeta>()
                .is_some();
        if let (true, (Some(caps), _)) = (wants_pool, query.get_owned()) {
            let pool = aligned_pool(&caps)?;
            let size = pool.config().params().map_or(0, |(_, size, _, _)| size);
            query.add_allocation_pool(Some(&pool), size, 0, 0);
        }
        self.parent_decide_allocation(query)
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        self.state.lock().scaler = None;
        Ok(())
    }
}

impl VideoFilterImpl for ShowroomScale {
    fn set_info(
        &self,
        _incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        _outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        let format = match (in_info.format(), out_info.format()) {
            (gst_video::VideoFormat::I420, gst_video::VideoFormat::I420) => Format::I420,
            (gst_video::VideoFormat::Nv12, gst_video::VideoFormat::Nv12) => Format::Nv12,
            (a, b) => {
                return Err(gst::loggable_error!(
                    CAT,
                    "showroomscale scales I420 or NV12 to the same format, not {a:?} to {b:?}"
                ))
            }
        };
        let src = (in_info.width(), in_info.height());
        let dst = (out_info.width(), out_info.height());
        match Scaler::new(format, src, dst, DEFAULT_METHOD) {
            Ok(scaler) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "{format:?} {src:?} -> {dst:?}, {DEFAULT_METHOD:?}"
                );
                self.state.lock().scaler = Some(scaler);
                Ok(())
            }
            Err(e) => {
                gst::element_imp_error!(self, gst::CoreError::Negotiation, ["{e}"]);
                Err(gst::loggable_error!(CAT, "{e}"))
            }
        }
    }

    fn transform_frame(
        &self,
        inframe: &gst_video::VideoFrameRef<&gst::BufferRef>,
        outframe: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut state = self.state.lock();
        let Some(scaler) = state.scaler.as_mut() else {
            gst::element_imp_error!(self, gst::CoreError::Negotiation, ["no caps negotiated"]);
            return Err(gst::FlowError::NotNegotiated);
        };
        let n_in = (inframe.n_planes() as usize).min(4);
        let n_out = (outframe.n_planes() as usize).min(4);
        let stride = |strides: &[i32], i: usize| strides.get(i).map_or(0, |s| (*s).max(0) as usize);
        let src_strides = inframe.plane_stride();
        let [s0, s1, s2, s3] = inframe.planes_data();
        let src = [s0, s1, s2, s3]
            .into_iter()
            .enumerate()
            .map(|(i, data)| Plane {
                data,
                stride: stride(src_strides, i),
            });
        let src: [Plane<&[u8]>; 4] = array4(src);
        let dst_strides: [usize; 4] = std::array::from_fn(|i| stride(outframe.plane_stride(), i));
        let [d0, d1, d2, d3] = outframe.planes_data_mut();
        let dst = [d0, d1, d2, d3]
            .into_iter()
            .zip(dst_strides)
            .map(|(data, stride)| Plane { data, stride });
        let mut dst: [Plane<&mut [u8]>; 4] = array4(dst);
        scaler.scale(&src[..n_in], &mut dst[..n_out]).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ["{e}"]);
            gst::FlowError::Error
        })?;
        Ok(gst::FlowSuccess::Ok)
    }
}

/// The four planes of a frame as an array (no allocation per frame).
fn array4<T>(mut planes: impl Iterator<Item = Plane<T>>) -> [Plane<T>; 4]
where
    T: Default,
{
    std::array::from_fn(|_| {
        planes.next().unwrap_or(Plane {
            data: T::default(),
            stride: 0,
        })
    })
}

/// A video pool for `caps` whose rows (every plane) start at 32-byte boundaries.
fn aligned_pool(caps: &gst::Caps) -> Result<gst_video::VideoBufferPool, gst::LoggableError> {
    let mut info = gst_video::VideoInfo::from_caps(caps)
        .map_err(|e| gst::loggable_error!(CAT, "output caps: {e}"))?;
    let mut align = gst_video::VideoAlignment::new(0, 0, 0, 0, &[ROW_ALIGN; 4]);
    info.align(&mut align)
        .map_err(|e| gst::loggable_error!(CAT, "align {caps}: {e}"))?;
    let pool = gst_video::VideoBufferPool::new();
    let mut config = pool.config();
    config.set_params(Some(caps), info.size() as u32, 0, 0);
    config.add_option(gst_video::BUFFER_POOL_OPTION_VIDEO_META);
    config.add_option(gst_video::BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
    config.set_video_alignment(&align);
    pool.set_config(config)
        .map_err(|e| gst::loggable_error!(CAT, "pool config: {e}"))?;
    Ok(pool)
}

/// Row alignment mask of the output pool (32 bytes: AVX2 stores).
const ROW_ALIGN: u32 = 31;
