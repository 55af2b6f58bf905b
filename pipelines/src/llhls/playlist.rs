//! Rendering of the multivariant and media playlists from the origin's state.

use std::fmt::Write;
use std::time::SystemTime;

use super::state::State;
use super::store::{Rendition, VideoInfo};
use crate::unit::TrackKind;

const PDT_FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// ISO 8601 UTC with milliseconds, as EXT-X-PROGRAM-DATE-TIME wants.
pub fn pdt(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(PDT_FORMAT)
        .unwrap_or_default()
}

fn server_control(target: u32, phb: f64, can_skip: bool) -> String {
    let td = f64::from(target);
    let mut s = String::from("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES");
    if can_skip {
        let _ = write!(s, ",CAN-SKIP-UNTIL={:.1}", 6.0 * td);
    }
    let _ = writeln!(s, ",PART-HOLD-BACK={phb:.3},HOLD-BACK={:.1}", 3.0 * td);
    s
}

/// The media playlist of rendition `idx`; `skip` asks for a delta update.
pub fn media(state: &State, idx: usize, skip: bool) -> Option<String> {
    let r = state.renditions.get(idx)?;
    let target = state.target?;
    let phb = state.part_hold_back?;
    let pt = r.part_target?;
    let td = f64::from(target);
    let mut out = String::with_capacity(4096);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:9\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    out.push_str(&server_control(target, phb, state.can_skip));
    let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={pt:.3}");
    let first_msn = r.segs.front().map_or(r.next_msn, |s| s.msn);
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first_msn}");
    let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{}", r.discontinuity_seq);
    // Delta update: skip complete segments older than CAN-SKIP-UNTIL from the end.
    let total: f64 = r
        .segs
        .iter()
        .map(|s| {
            if s.complete {
                s.duration
            } else {
                s.parts.iter().map(|p| p.duration).sum()
            }
        })
        .sum();
    let mut skipped = 0usize;
    if skip && state.can_skip {
        let mut end = 0.0;
        for s in r.segs.iter().filter(|s| s.complete) {
            end += s.duration;
            if total - end >= 6.0 * td {
                skipped += 1;
            } else {
                break;
            }
        }
        let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
    }
    if let Some(oldest) = r.segs.front().map(|s| s.pdt) {
        for d in state.dateranges.iter().filter(|d| d.relevant_after(oldest)) {
            d.render(&mut out);
        }
    }
    let mut end = 0.0;
    let mut map_epoch = None;
    for s in r.segs.iter() {
        end += if s.complete {
            s.duration
        } else {
            s.parts.iter().map(|p| p.duration).sum()
        };
        if skipped > 0 {
            skipped -= 1;
            continue;
        }
        if s.parts.is_empty() {
            continue;
        }
        if s.discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if map_epoch != Some(s.epoch) {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}.init{}.mp4\"", r.name, s.epoch);
            map_epoch = Some(s.epoch);
        }
        let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{}", pdt(s.pdt));
        let show_parts = !s.complete || total - end <= 3.0 * td;
        if show_parts {
            for p in &s.parts {
                let _ = write!(
                    out,
                    "#EXT-X-PART:DURATION={:.5},URI=\"{}.p{}.m4s\"",
                    p.duration, r.name, p.seq
                );
                out.push_str(if p.independent {
                    ",INDEPENDENT=YES\n"
                } else {
                    "\n"
                });
            }
        }
        if s.complete {
            let _ = writeln!(out, "#EXTINF:{:.5},\n{}.s{}.m4s", s.duration, r.name, s.msn);
        }
    }
    let _ = writeln!(
        out,
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}.p{}.m4s\"",
        r.name, r.next_seq
    );
    for other in state
        .renditions
        .iter()
        .filter(|o| o.name != r.name && state.listed(o))
    {
        rendition_report(&mut out, other);
    }
    Some(out)
}

fn rendition_report(out: &mut String, r: &Rendition) {
    if let Some((msn, part)) = r.newest_part() {
        let _ = writeln!(
            out,
            "#EXT-X-RENDITION-REPORT:URI=\"{}.m3u8\",LAST-MSN={msn},LAST-PART={part}",
            r.name
        );
    }
}

/// The multivariant playlist: one variant per listed video rendition (the source first, then
/// the transcoded ones by height, largest first), all sharing one audio group; or audio alone.
pub fn multivariant(state: &State) -> Option<String> {
    let audio = state.renditions.iter().find(|r| r.kind == TrackKind::Audio);
    let mut videos: Vec<&Rendition> = state
        .renditions
        .iter()
        .filter(|r| r.kind == TrackKind::Video && state.listed(r))
        .collect();
    videos.sort_by_key(|r| {
        (
            r.transcoded,
            std::cmp::Reverse(r.video.map_or(0, |v| v.height)),
        )
    });
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    if videos.is_empty() {
        let a = audio?;
        variant(&mut out, &[a], None, false);
        out.push_str("\naudio.m3u8\n");
        return Some(out);
    }
    if let Some(a) = audio {
        let _ = write!(
            out,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES"
        );
        if let Some(c) = a.channels.filter(|c| *c > 0) {
            let _ = write!(out, ",CHANNELS=\"{c}\"");
        }
        out.push_str(",URI=\"audio.m3u8\"\n");
    }
    for v in videos {
        let members: Vec<&Rendition> = std::iter::once(v).chain(audio).collect();
        variant(&mut out, &members, v.video, audio.is_some());
        let _ = writeln!(out, "\n{}.m3u8", v.name);
    }
    Some(out)
}

/// One EXT-X-STREAM-INF line (without its URI) for a variant made of `members`' media.
fn variant(out: &mut String, members: &[&Rendition], video: Option<VideoInfo>, audio_group: bool) {
    let (mut avg, mut peak) = (0.0, 0.0);
    for r in members {
        let (a, p) = r.measured_bps();
        let nominal = r.nominal_bps.unwrap_or(0) as f64;
        avg += if a > 0.0 { a } else { nominal };
        peak += if p > 0.0 { p } else { nominal };
    }
    let bw = (peak.max(avg) * 1.1).ceil().max(1.0) as u64;
    let avg = avg.ceil().max(1.0) as u64;
    let _ = write!(
        out,
        "#EXT-X-STREAM-INF:BANDWIDTH={bw},AVERAGE-BANDWIDTH={avg}"
    );
    let codecs: Vec<&str> = members.iter().filter_map(|r| r.codec.as_deref()).collect();
    if !codecs.is_empty() {
        let _ = write!(out, ",CODECS=\"{}\"", codecs.join(","));
    }
    if let Some(info) = video.filter(|i| i.width > 0 && i.height > 0) {
        let _ = write!(out, ",RESOLUTION={}x{}", info.width, info.height);
        if let Some(f) = info.framerate.filter(|f| *f > 0.0) {
            let _ = write!(out, ",FRAME-RATE={f:.3}");
        }
    }
    if audio_group {
        out.push_str(",AUDIO=\"aud\"");
    }
}

#[cfg(test)]
#[path = "playlist_tests.rs"]
mod tests;
