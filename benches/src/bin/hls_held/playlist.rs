//! Just enough media-playlist reading to know which part to ask for next.

/// (MSN, part index) of the part after the newest one listed: what a blocking request for
/// "the next part" names in `_HLS_msn` / `_HLS_part`.
pub fn next_part(playlist: &str) -> Option<(u64, u64)> {
    let mut msn: u64 = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))?
        .trim()
        .parse()
        .ok()?;
    let mut parts = 0;
    for line in playlist.lines().map(str::trim) {
        if let Some(skip) = line.strip_prefix("#EXT-X-SKIP:") {
            let n = skip
                .split(',')
                .find_map(|kv| kv.strip_prefix("SKIPPED-SEGMENTS="))
                .and_then(|v| v.parse::<u64>().ok())?;
            msn += n;
        } else if line.starts_with("#EXT-X-PART:") {
            parts += 1;
        } else if !line.is_empty() && !line.starts_with('#') {
            msn += 1;
            parts = 0;
        }
    }
    Some((msn, parts))
}

/// The first variant URI of a multivariant playlist, or None for a media playlist.
pub fn first_variant(playlist: &str) -> Option<String> {
    let mut lines = playlist.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line.starts_with("#EXT-X-STREAM-INF") {
            return lines
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_part_counts_segments_and_parts() {
        let p = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.0,\ns7.m4s\n#EXTINF:2.0,\ns8.m4s\n\
                 #EXT-X-PART:DURATION=0.2,URI=\"p1\"\n#EXT-X-PART:DURATION=0.2,URI=\"p2\"\n\
                 #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p3\"\n";
        assert_eq!(next_part(p), Some((9, 2)));
        let p = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-PART:DURATION=0.2,URI=\"a\"\n#EXTINF:0.2,\ns3\n";
        assert_eq!(next_part(p), Some((4, 0)));
        assert_eq!(next_part("#EXTM3U\n"), None);
    }

    #[test]
    fn first_variant_of_multivariant() {
        let m = "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,URI=\"audio.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nvideo.m3u8\n";
        assert_eq!(first_variant(m).as_deref(), Some("video.m3u8"));
        assert_eq!(first_variant("#EXTM3U\n#EXTINF:1,\na.m4s\n"), None);
    }
}
