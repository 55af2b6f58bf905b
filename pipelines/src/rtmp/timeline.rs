//! RTMP timestamps (32-bit milliseconds that wrap) onto one unwrapped 64-bit timeline.

/// Unwraps by taking the signed 32-bit difference from the previous timestamp, so a wrap past
/// `u32::MAX` continues forward and small backward steps (audio/video interleaving) stay small.
#[derive(Debug, Default)]
pub struct Timeline {
    last: Option<(u32, i64)>,
}

impl Timeline {
    /// The unwrapped time in ms of `ts` (may be negative only if the stream steps back
    /// before its first timestamp; callers clamp).
    pub fn unwrap(&mut self, ts: u32) -> i64 {
        let ext = match self.last {
            None => i64::from(ts),
            Some((raw, ext)) => ext + i64::from(ts.wrapping_sub(raw) as i32),
        };
        self.last = Some((ts, ext));
        ext
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continues_past_extended_and_wrapped_timestamps() {
        let mut t = Timeline::default();
        assert_eq!(t.unwrap(0xFF_FFF0), 0xFF_FFF0);
        assert_eq!(t.unwrap(0x100_0010), 0x100_0010);
        let mut t = Timeline::default();
        assert_eq!(t.unwrap(u32::MAX - 20), i64::from(u32::MAX) - 20);
        assert_eq!(t.unwrap(u32::MAX - 30), i64::from(u32::MAX) - 30);
        assert_eq!(t.unwrap(12), i64::from(u32::MAX) + 13);
        assert_eq!(t.unwrap(5), i64::from(u32::MAX) + 6);
    }
}
