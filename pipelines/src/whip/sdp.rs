//! SDP text helpers for a non-trickle answer.

/// Puts gathered `candidates` (m-line index, `candidate:...`) into `sdp`, replacing any
/// candidate lines already there, and marks each section's candidates complete.
pub(super) fn with_candidates(sdp: &str, candidates: &[(u32, String)]) -> String {
    let mut out = String::with_capacity(sdp.len() + 128 * candidates.len());
    let mut mline: Option<u32> = None;
    let flush = |out: &mut String, m: Option<u32>| {
        let Some(m) = m else { return };
        for (i, c) in candidates {
            if *i == m {
                out.push_str("a=");
                out.push_str(c);
                out.push_str("\r\n");
            }
        }
        out.push_str("a=end-of-candidates\r\n");
    };
    for line in sdp.lines() {
        if line.starts_with("m=") {
            flush(&mut out, mline);
            mline = Some(mline.map_or(0, |m| m + 1));
        }
        if line.starts_with("a=candidate:") || line.starts_with("a=end-of-candidates") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    flush(&mut out, mline);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_land_in_their_section() {
        let sdp =
            "v=0\r\nm=video 9 X 96\r\na=mid:0\r\na=candidate:old\r\nm=audio 9 X 111\r\na=mid:1\r\n";
        let c = vec![
            (0, "candidate:1 1 UDP 1 127.0.0.1 5000 typ host".to_string()),
            (1, "candidate:2 1 UDP 1 127.0.0.1 5001 typ host".to_string()),
        ];
        let out = with_candidates(sdp, &c);
        let video = out.find("m=video").unwrap_or(usize::MAX);
        let audio = out.find("m=audio").unwrap_or(usize::MAX);
        let c0 = out.find("5000").unwrap_or(0);
        let c1 = out.find("5001").unwrap_or(0);
        assert!(video < c0 && c0 < audio && audio < c1, "{out}");
        assert!(!out.contains("candidate:old"));
        assert_eq!(out.matches("a=end-of-candidates").count(), 2);
    }
}
