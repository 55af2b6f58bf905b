//! The three libswscale calls the scaler needs (FFmpeg 5.1, libswscale 6), behind a safe type.
//!
//! A [`Scaler`] is one `SwsContext` for one (source size, destination size, format) triple; it
//! is freed on drop. [`Scaler::scale`] checks every plane's length and stride against the
//! sizes the context was made for before libswscale reads or writes a byte.
//! Constants are those of `/usr/include/x86_64-linux-gnu/libswscale/swscale.h` and
//! `libavutil/pixfmt.h` (libavutil 57): `AV_PIX_FMT_YUV420P` = 0, `AV_PIX_FMT_NV12` = 23,
//! `SWS_BILINEAR` = 2, `SWS_BICUBIC` = 4.
#![allow(unsafe_code)]

use std::ffi::{c_double, c_int, c_void};
use std::ptr::NonNull;

const AV_PIX_FMT_YUV420P: c_int = 0;
const AV_PIX_FMT_NV12: c_int = 23;
const SWS_BILINEAR: c_int = 2;
const SWS_BICUBIC: c_int = 4;

#[repr(C)]
struct SwsContext {
    _opaque: [u8; 0],
}

// Linked by build.rs (pkg-config libswscale).
extern "C" {
    fn sws_getContext(
        src_w: c_int,
        src_h: c_int,
        src_format: c_int,
        dst_w: c_int,
        dst_h: c_int,
        dst_format: c_int,
        flags: c_int,
        src_filter: *mut c_void,
        dst_filter: *mut c_void,
        param: *const c_double,
    ) -> *mut SwsContext;
    fn sws_scale(
        c: *mut SwsContext,
        src_slice: *const *const u8,
        src_stride: *const c_int,
        src_slice_y: c_int,
        src_slice_h: c_int,
        dst: *const *mut u8,
        dst_stride: *const c_int,
    ) -> c_int;
    fn sws_freeContext(c: *mut SwsContext);
}

/// The planar 4:2:0 layouts the scaler takes (the same one in and out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Y, U, V planes (`AV_PIX_FMT_YUV420P`).
    I420,
    /// Y plane, then interleaved UV (`AV_PIX_FMT_NV12`).
    Nv12,
}

impl Format {
    fn av(self) -> c_int {
        match self {
            Self::I420 => AV_PIX_FMT_YUV420P,
            Self::Nv12 => AV_PIX_FMT_NV12,
        }
    }

    /// Number of planes.
    pub fn planes(self) -> usize {
        match self {
            Self::I420 => 3,
            Self::Nv12 => 2,
        }
    }

    /// Bytes in one row and number of rows of `plane` for a `width` x `height` picture.
    pub fn plane_size(self, plane: usize, width: u32, height: u32) -> (usize, usize) {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        match (self, plane) {
            (_, 0) => (w, h),
            (Self::I420, _) => (cw, ch),
            (Self::Nv12, _) => (2 * cw, ch),
        }
    }
}

/// The filter libswscale resamples with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// `SWS_BICUBIC`: the default of ffmpeg's `scale` filter (FFmpeg 5.1).
    #[default]
    Bicubic,
    /// `SWS_BILINEAR`.
    Bilinear,
}

impl Method {
    fn flags(self) -> c_int {
        match self {
            Self::Bicubic => SWS_BICUBIC,
            Self::Bilinear => SWS_BILINEAR,
        }
    }
}

/// Why a picture could not be scaled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScaleError {
    #[error("libswscale refused a context for {format:?} {src_w}x{src_h} -> {dst_w}x{dst_h}")]
    Context {
        format: Format,
        src_w: u32,
        src_h: u32,
        dst_w: u32,
        dst_h: u32,
    },
    #[error("expected {want} planes, got {got}")]
    Planes { want: usize, got: usize },
    #[error(
        "plane {plane}: {len} bytes with stride {stride} cannot hold {rows} rows of {row} bytes"
    )]
    Plane {
        plane: usize,
        len: usize,
        stride: usize,
        rows: usize,
        row: usize,
    },
    #[error("libswscale wrote {got} of {want} rows")]
    Short { got: i32, want: u32 },
}

/// One plane of a picture: its bytes and the distance between rows.
pub struct Plane<T> {
    pub data: T,
    pub stride: usize,
}

/// A libswscale context for one size change of one format; not shared between threads at
/// once (`&mut self` to scale).
pub struct Scaler {
    ctx: NonNull<SwsContext>,
    format: Format,
    src: (u32, u32),
    dst: (u32, u32),
}

// SAFETY: the context is owned by this value alone and only used through `&mut self`; libswscale
// keeps no thread-local state for it, so it may move between threads.
unsafe impl Send for Scaler {}

impl Scaler {
    /// A context scaling `format` pictures from `src` (width, height) to `dst`.
    pub fn new(
        format: Format,
        src: (u32, u32),
        dst: (u32, u32),
        method: Method,
    ) -> Result<Self, ScaleError> {
        let refused = ScaleError::Context {
            format,
            src_w: src.0,
            src_h: src.1,
            dst_w: dst.0,
            dst_h: dst.1,
        };
        let dims = [src.0, src.1, dst.0, dst.1];
        if dims.iter().any(|d| *d == 0 || *d > i32::MAX as u32) {
            return Err(refused);
        }
        // SAFETY: plain integers in, no filters or parameters (NULL is documented as "none");
        // the result is checked for NULL.
        let raw = unsafe {
            sws_getContext(
                src.0 as c_int,
                src.1 as c_int,
                format.av(),
                dst.0 as c_int,
                dst.1 as c_int,
                format.av(),
                method.flags(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null(),
            )
        };
        let ctx = NonNull::new(raw).ok_or(refused)?;
        Ok(Self {
            ctx,
            format,
            src,
            dst,
        })
    }

    /// Scales one whole picture from `src` planes into `dst` planes.
    pub fn scale(
        &mut self,
        src: &[Plane<&[u8]>],
        dst: &mut [Plane<&mut [u8]>],
    ) -> Result<(), ScaleError> {
        let planes = self.format.planes();
        for got in [src.len(), dst.len()] {
            if got != planes {
                return Err(ScaleError::Planes { want: planes, got });
            }
        }
        let src_stride = strides(
            self.format,
            src.iter().map(|p| (p.data.len(), p.stride)),
            self.src,
        )?;
        let dst_stride = strides(
            self.format,
            dst.iter().map(|p| (p.data.len(), p.stride)),
            self.dst,
        )?;
        let mut src_ptr = [std::ptr::null::<u8>(); 4];
        for (ptr, p) in src_ptr.iter_mut().zip(src) {
            *ptr = p.data.as_ptr();
        }
        let mut dst_ptr = [std::ptr::null_mut::<u8>(); 4];
        for (ptr, p) in dst_ptr.iter_mut().zip(dst.iter_mut()) {
            *ptr = p.data.as_mut_ptr();
        }
        // SAFETY: the context was made for these sizes and this format; every plane was checked
        // to hold its rows at its stride (`check`), the pointers come from live borrows for the
        // length of the call, and unused plane slots are NULL with stride 0 as libswscale expects.
        let rows = unsafe {
            sws_scale(
                self.ctx.as_ptr(),
                src_ptr.as_ptr(),
                src_stride.as_ptr(),
                0,
                self.src.1 as c_int,
                dst_ptr.as_ptr(),
                dst_stride.as_ptr(),
            )
        };
        if rows != self.dst.1 as i32 {
            return Err(ScaleError::Short {
                got: rows,
                want: self.dst.1,
            });
        }
        Ok(())
    }
}

/// The strides of planes given as (length, stride), each checked by [`check`].
fn strides(
    format: Format,
    planes: impl Iterator<Item = (usize, usize)>,
    size: (u32, u32),
) -> Result<[c_int; 4], ScaleError> {
    let mut out = [0 as c_int; 4];
    for (i, (len, stride)) in planes.enumerate().take(4) {
        check(format, i, len, stride, size)?;
        out[i] = stride as c_int;
    }
    Ok(out)
}

/// A plane of `len` bytes at `stride` must hold every row of the picture's `plane`.
fn check(
    format: Format,
    plane: usize,
    len: usize,
    stride: usize,
    (width, height): (u32, u32),
) -> Result<(), ScaleError> {
    let (row, rows) = format.plane_size(plane, width, height);
    let need = stride
        .checked_mul(rows.saturating_sub(1))
        .and_then(|n| n.checked_add(row));
    let fits = stride >= row && stride <= i32::MAX as usize && need.is_some_and(|n| n <= len);
    if fits {
        Ok(())
    } else {
        Err(ScaleError::Plane {
            plane,
            len,
            stride,
            rows,
            row,
        })
    }
}

impl Drop for Scaler {
    fn drop(&mut self) {
        // SAFETY: the pointer came from sws_getContext and is freed exactly once, here.
        unsafe { sws_freeContext(self.ctx.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(format: Format, (w, h): (u32, u32), fill: &[u8]) -> Vec<(Vec<u8>, usize)> {
        (0..format.planes())
            .map(|i| {
                let (row, rows) = format.plane_size(i, w, h);
                let stride = row.next_multiple_of(32);
                let data = (0..stride * rows)
                    .map(|n| match (format, i) {
                        (Format::Nv12, 1) => fill[1 + n % 2],
                        _ => fill[i],
                    })
                    .collect();
                (data, stride)
            })
            .collect()
    }

    fn run(format: Format, src: (u32, u32), dst: (u32, u32), fill: &[u8]) -> Vec<(Vec<u8>, usize)> {
        let mut s = Scaler::new(format, src, dst, Method::Bicubic).expect("a context");
        let input = picture(format, src, fill);
        let mut output = picture(format, dst, &[0, 0, 0]);
        let planes: Vec<_> = input
            .iter()
            .map(|(d, stride)| Plane {
                data: d.as_slice(),
                stride: *stride,
            })
            .collect();
        let mut out: Vec<_> = output
            .iter_mut()
            .map(|(d, stride)| Plane {
                data: d.as_mut_slice(),
                stride: *stride,
            })
            .collect();
        s.scale(&planes, &mut out).expect("scaled");
        output
    }

    #[test]
    fn a_flat_picture_stays_flat_in_every_plane() {
        for format in [Format::I420, Format::Nv12] {
            let out = run(format, (854, 480), (426, 240), &[180, 60, 200]);
            for (i, (data, stride)) in out.iter().enumerate() {
                let (row, rows) = format.plane_size(i, 426, 240);
                for r in 0..rows {
                    let line = &data[r * stride..r * stride + row];
                    let want: &[u8] = match (format, i) {
                        (_, 0) => &[180],
                        (Format::I420, 1) => &[60],
                        (Format::I420, _) => &[200],
                        (Format::Nv12, _) => &[60, 200],
                    };
                    for (x, v) in line.iter().enumerate() {
                        let w = want[x % want.len()];
                        assert!(
                            v.abs_diff(w) <= 1,
                            "{format:?} plane {i} ({x},{r}) = {v}, want {w}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn zero_sizes_are_refused_with_the_sizes_named() {
        let e = Scaler::new(Format::I420, (0, 1080), (640, 360), Method::Bicubic)
            .err()
            .expect("refused");
        assert_eq!(
            e.to_string(),
            "libswscale refused a context for I420 0x1080 -> 640x360"
        );
    }

    #[test]
    fn short_planes_are_refused_before_libswscale_reads_them() {
        let mut s = Scaler::new(Format::I420, (64, 64), (32, 32), Method::Bicubic).expect("ctx");
        let (y, u, v) = (vec![0u8; 64 * 63], vec![0u8; 32 * 32], vec![0u8; 32 * 32]);
        let src = [
            Plane {
                data: &y[..],
                stride: 64,
            },
            Plane {
                data: &u[..],
                stride: 32,
            },
            Plane {
                data: &v[..],
                stride: 32,
            },
        ];
        let mut a = vec![0u8; 32 * 32];
        let mut b = vec![0u8; 16 * 16];
        let mut c = vec![0u8; 16 * 16];
        let mut dst = [
            Plane {
                data: &mut a[..],
                stride: 32,
            },
            Plane {
                data: &mut b[..],
                stride: 16,
            },
            Plane {
                data: &mut c[..],
                stride: 16,
            },
        ];
        let e = s.scale(&src, &mut dst).expect_err("refused");
        assert!(
            matches!(
                e,
                ScaleError::Plane {
                    plane: 0,
                    rows: 64,
                    ..
                }
            ),
            "{e}"
        );
        let e = s.scale(&src[..2], &mut dst).expect_err("refused");
        assert_eq!(e, ScaleError::Planes { want: 3, got: 2 });
    }
}
