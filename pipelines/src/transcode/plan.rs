//! Which renditions a session gets, and their exact output format (pure function).

use super::config::RenditionSpec;

/// One rendition to encode for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Index in the configured ladder (and in the transcoder's rendition buses).
    pub index: usize,
    pub width: u32,
    pub height: u32,
    /// Output frame rate; `None` keeps the source's (no `videorate`).
    pub fps: Option<(u32, u32)>,
    pub bitrate_kbps: u32,
}

impl Planned {
    /// Pixels per second encoded: what the watchdog drops first when the machine falls behind.
    pub fn cost(&self, source_fps: Option<(u32, u32)>) -> u64 {
        let (n, d) = self.fps.or(source_fps).unwrap_or((30, 1));
        u64::from(self.width) * u64::from(self.height) * u64::from(n) / u64::from(d.max(1))
    }
}

/// The renditions of a `width`x`height` source at `fps`: every rung strictly below the source's
/// height (never upscaled), width from the aspect ratio rounded to even, frame rate capped.
pub fn plan(
    ladder: &[RenditionSpec],
    width: u32,
    height: u32,
    fps: Option<(u32, u32)>,
) -> Vec<Planned> {
    if width == 0 || height == 0 {
        return Vec::new();
    }
    ladder
        .iter()
        .enumerate()
        .filter(|(_, r)| r.height < height)
        .map(|(index, r)| {
            // Nearest even width: round(width * h / height / 2) * 2.
            let w = (u64::from(width) * u64::from(r.height) + u64::from(height))
                / (2 * u64::from(height))
                * 2;
            let w = (w as u32).max(2);
            let over = fps
                .is_some_and(|(n, d)| d > 0 && u64::from(n) > u64::from(r.max_fps) * u64::from(d));
            Planned {
                index,
                width: w,
                height: r.height,
                fps: over.then_some((r.max_fps, 1)),
                bitrate_kbps: r.bitrate_kbps,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ladder() -> Vec<RenditionSpec> {
        vec![
            RenditionSpec::new("720p", 720, 2500, 30),
            RenditionSpec::new("480p", 480, 1000, 30),
            RenditionSpec::new("360p", 360, 600, 30),
        ]
    }

    #[test]
    fn never_upscales_and_keeps_aspect() {
        let p = plan(&ladder(), 1920, 1080, Some((30, 1)));
        let sizes: Vec<_> = p
            .iter()
            .map(|r| (r.index, r.width, r.height, r.fps))
            .collect();
        assert_eq!(
            sizes,
            vec![
                (0, 1280, 720, None),
                (1, 854, 480, None),
                (2, 640, 360, None)
            ]
        );
        // A 480p source gets only 360p; an equal height is not a rendition.
        let p = plan(&ladder(), 854, 480, Some((30, 1)));
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].width, p[0].height), (640, 360));
        assert!(plan(&ladder(), 640, 360, None).is_empty());
        assert!(plan(&ladder(), 0, 0, None).is_empty());
        // 4:3 and odd widths round to even.
        let p = plan(&ladder(), 1440, 1080, None);
        assert_eq!(p[1].width, 640);
        assert_eq!(p[1].width % 2, 0);
    }

    #[test]
    fn caps_frame_rate_only_above_the_cap() {
        let p = plan(&ladder(), 1920, 1080, Some((60, 1)));
        assert!(p.iter().all(|r| r.fps == Some((30, 1))));
        let p = plan(&ladder(), 1920, 1080, Some((30000, 1001)));
        assert!(p.iter().all(|r| r.fps.is_none()));
        let p = plan(&ladder(), 1920, 1080, Some((60, 1)));
        assert!(p[0].cost(Some((60, 1))) > p[1].cost(Some((60, 1))));
    }
}
