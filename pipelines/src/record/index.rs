//! The recording index (`index.tsv`, one line per complete segment) and the VOD playlist made
//! from it. Sans-IO: text in, entries and playlist text out.
//!
//! A line is `seg <TAB> session <TAB> seq <TAB> pts_us <TAB> duration_us <TAB> pdt_ms <TAB> bytes`.
//! `session` names the publish session's directory (its clock anchor in Unix ms, so it is unique
//! across engine restarts); its `init.mp4` and `<seq>.m4s` files live there. A line is appended
//! only after its segment file is on disk, so every listed segment exists; a torn last line (crash
//! mid-append) is skipped.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

/// One recorded segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub session: String,
    pub seq: u64,
    /// PTS of its first frame on the session's media timeline.
    pub pts: Duration,
    pub duration: Duration,
    /// PROGRAM-DATE-TIME of its first frame, Unix ms (the stream clock).
    pub pdt_ms: u64,
    pub bytes: u64,
}

impl Segment {
    pub fn file_name(&self) -> String {
        segment_file(self.seq)
    }

    pub fn line(&self) -> String {
        format!(
            "seg\t{}\t{}\t{}\t{}\t{}\t{}\n",
            self.session,
            self.seq,
            self.pts.as_micros(),
            self.duration.as_micros(),
            self.pdt_ms,
            self.bytes
        )
    }

    fn parse(line: &str) -> Option<Self> {
        let mut f = line.split('\t');
        if f.next()? != "seg" {
            return None;
        }
        let session = f.next()?.to_owned();
        if !valid_session(&session) {
            return None;
        }
        let seq = f.next()?.parse().ok()?;
        let pts = Duration::from_micros(f.next()?.parse().ok()?);
        let duration = Duration::from_micros(f.next()?.parse().ok()?);
        let pdt_ms = f.next()?.parse().ok()?;
        let bytes = f.next()?.parse().ok()?;
        if f.next().is_some() {
            return None;
        }
        Some(Self {
            session,
            seq,
            pts,
            duration,
            pdt_ms,
            bytes,
        })
    }
}

/// `00042.m4s`.
pub fn segment_file(seq: u64) -> String {
    format!("{seq:05}.m4s")
}

/// A session directory name: digits only (so it can never climb out of the stream's directory).
pub fn valid_session(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The segments listed in `text`, in order. Lines that do not parse (a torn last line) are skipped.
pub fn parse(text: &str) -> Vec<Segment> {
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .filter_map(|l| Segment::parse(l.trim_end_matches('\n')))
        .collect()
}

/// The replay playlist: one EXT-X-MAP per session, a discontinuity where a publisher reconnected,
/// PROGRAM-DATE-TIME on every segment (the stream clock that stamps commerce events).
/// `ended`: VOD with ENDLIST; otherwise EVENT (still being recorded). `None` when empty.
pub fn playlist(segments: &[Segment], ended: bool) -> Option<String> {
    if segments.is_empty() {
        return None;
    }
    let target = segments
        .iter()
        .map(|s| s.duration.as_secs_f64().ceil() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut p = String::with_capacity(64 + segments.len() * 96);
    let _ = write!(
        p,
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:{}\n#EXT-X-INDEPENDENT-SEGMENTS\n",
        if ended { "VOD" } else { "EVENT" }
    );
    let mut session: Option<&str> = None;
    for s in segments {
        if session != Some(s.session.as_str()) {
            if session.is_some() {
                p.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let _ = writeln!(p, "#EXT-X-MAP:URI=\"{}/init.mp4\"", s.session);
            session = Some(&s.session);
        }
        let pdt = SystemTime::UNIX_EPOCH + Duration::from_millis(s.pdt_ms);
        let _ = write!(
            p,
            "#EXT-X-PROGRAM-DATE-TIME:{}\n#EXTINF:{:.3},\n{}/{}\n",
            crate::llhls::pdt(pdt),
            s.duration.as_secs_f64(),
            s.session,
            s.file_name()
        );
    }
    if ended {
        p.push_str("#EXT-X-ENDLIST\n");
    }
    Some(p)
}

/// Total recorded media time.
pub fn duration(segments: &[Segment]) -> Duration {
    segments.iter().map(|s| s.duration).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(session: &str, seq: u64, pts_ms: u64, pdt_ms: u64) -> Segment {
        Segment {
            session: session.into(),
            seq,
            pts: Duration::from_millis(pts_ms),
            duration: Duration::from_millis(2000),
            pdt_ms,
            bytes: 1000,
        }
    }

    #[test]
    fn lines_round_trip_and_torn_line_is_skipped() {
        let a = seg("1763736000000", 1, 0, 1_763_736_000_000);
        let b = seg("1763736000000", 2, 2000, 1_763_736_002_000);
        let text = format!("{}{}seg\t17637", a.line(), b.line());
        assert_eq!(parse(&text), vec![a, b]);
        assert!(parse("seg\t../etc\t1\t0\t0\t0\t0\n").is_empty());
        assert!(parse("seg\t1\t1\t0\t0\t0\n").is_empty());
    }

    #[test]
    fn playlist_has_a_discontinuity_and_a_map_per_session() {
        let segs = [
            seg("100", 1, 0, 100_000),
            seg("100", 2, 2000, 102_000),
            seg("200", 1, 0, 200_000),
        ];
        let p = playlist(&segs, true).unwrap();
        assert!(p.contains("#EXT-X-PLAYLIST-TYPE:VOD"));
        assert_eq!(p.matches("#EXT-X-MAP").count(), 2);
        assert_eq!(p.matches("#EXT-X-DISCONTINUITY").count(), 1);
        assert!(p.contains(
            "#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:01:42.000Z\n#EXTINF:2.000,\n100/00002.m4s\n"
        ));
        assert!(p.ends_with("#EXT-X-ENDLIST\n"));
        let live = playlist(&segs, false).unwrap();
        assert!(live.contains("EVENT") && !live.contains("ENDLIST"));
        assert!(playlist(&[], true).is_none());
    }
}
