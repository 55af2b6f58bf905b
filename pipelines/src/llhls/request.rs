//! What a client asks the origin for: the file under `/hls/{id}/` and the `_HLS_*` directives.

use super::error::OriginError;

/// Blocking-reload and delta-update directives of a media playlist request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlaylistQuery {
    pub msn: Option<u64>,
    pub part: Option<u64>,
    pub skip: bool,
}

impl PlaylistQuery {
    /// Parses a raw query string (`_HLS_msn=12&_HLS_part=3&_HLS_skip=YES`); other keys are
    /// ignored. Malformed values and `_HLS_part` without `_HLS_msn` are a `BadRequest`.
    pub fn parse(raw_query: Option<&str>) -> Result<Self, OriginError> {
        let mut q = Self::default();
        for pair in raw_query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "_HLS_msn" => q.msn = Some(number(k, v)?),
                "_HLS_part" => q.part = Some(number(k, v)?),
                "_HLS_skip" => match v {
                    "YES" | "v2" => q.skip = true,
                    "NO" | "" => q.skip = false,
                    _ => return Err(bad(format!("_HLS_skip={v:?} is neither YES nor v2"))),
                },
                _ => {}
            }
        }
        if q.part.is_some() && q.msn.is_none() {
            return Err(bad("_HLS_part without _HLS_msn".into()));
        }
        Ok(q)
    }
}

fn number(key: &str, v: &str) -> Result<u64, OriginError> {
    if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!("{key}={v:?} is not a decimal integer")));
    }
    v.parse()
        .map_err(|_| bad(format!("{key}={v:?} is out of range")))
}

fn bad(reason: String) -> OriginError {
    tracing::debug!(%reason, "llhls: request refused");
    OriginError::BadRequest(reason)
}

/// A file under `/hls/{id}/`. Names: `index.m3u8`, `{r}.m3u8`, `{r}.init{epoch}.mp4`,
/// `{r}.s{msn}.m4s` (whole segment), `{r}.p{seq}.m4s` (part, numbered across the stream so the
/// preload hint always names the next part), with `{r}` = `video` | `audio` (the source) or a
/// transcoded rendition's name from the ABR ladder (`720p`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Multivariant,
    Playlist { rendition: String },
    Init { rendition: String, epoch: String },
    Segment { rendition: String, msn: u64 },
    Part { rendition: String, seq: u64 },
}

impl Resource {
    /// `None` for any other name.
    pub fn parse(file: &str) -> Option<Self> {
        if file == "index.m3u8" {
            return Some(Self::Multivariant);
        }
        if let Some(r) = file.strip_suffix(".m3u8") {
            return rendition(r).map(|rendition| Self::Playlist { rendition });
        }
        if let Some(stem) = file.strip_suffix(".mp4") {
            let (r, rest) = stem.split_once('.')?;
            let epoch = rest.strip_prefix("init")?;
            digits(epoch)?;
            return Some(Self::Init {
                rendition: rendition(r)?,
                epoch: epoch.to_string(),
            });
        }
        let stem = file.strip_suffix(".m4s")?;
        let (r, rest) = stem.split_once('.')?;
        let rendition = rendition(r)?;
        if let Some(n) = rest.strip_prefix('s') {
            return Some(Self::Segment {
                rendition,
                msn: digits(n)?,
            });
        }
        let n = rest.strip_prefix('p')?;
        Some(Self::Part {
            rendition,
            seq: digits(n)?,
        })
    }
}

/// `video`, `audio` or a ladder rendition's name (1 to 16 of `[a-z0-9_]`); whether it exists
/// is the origin's business.
fn rendition(r: &str) -> Option<String> {
    let ok = (1..=16).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    (ok && r != "index").then(|| r.to_string())
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        let q =
            PlaylistQuery::parse(Some("_HLS_msn=12&_HLS_part=3&_HLS_skip=YES&token=x")).unwrap();
        assert_eq!(
            q,
            PlaylistQuery {
                msn: Some(12),
                part: Some(3),
                skip: true
            }
        );
        assert_eq!(
            PlaylistQuery::parse(None).unwrap(),
            PlaylistQuery::default()
        );
        for bad in [
            "_HLS_msn=abc",
            "_HLS_part=0",
            "_HLS_msn=-1",
            "_HLS_msn=",
            "_HLS_skip=maybe",
            "_HLS_msn=99999999999999999999",
        ] {
            assert!(
                matches!(
                    PlaylistQuery::parse(Some(bad)),
                    Err(OriginError::BadRequest(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn names() {
        assert_eq!(Resource::parse("index.m3u8"), Some(Resource::Multivariant));
        assert_eq!(
            Resource::parse("audio.m3u8"),
            Some(Resource::Playlist {
                rendition: "audio".into()
            })
        );
        assert_eq!(
            Resource::parse("video.init3.mp4"),
            Some(Resource::Init {
                rendition: "video".into(),
                epoch: "3".into()
            })
        );
        assert_eq!(
            Resource::parse("video.s17.m4s"),
            Some(Resource::Segment {
                rendition: "video".into(),
                msn: 17
            })
        );
        assert_eq!(
            Resource::parse("audio.p170.m4s"),
            Some(Resource::Part {
                rendition: "audio".into(),
                seq: 170
            })
        );
        assert_eq!(
            Resource::parse("720p.p9.m4s"),
            Some(Resource::Part {
                rendition: "720p".into(),
                seq: 9
            })
        );
        for bad in [
            "X.m3u8",
            "index.s1.m4s",
            "a_very_long_rendition_name.m3u8",
            "video.sx.m4s",
            "video.q1.m4s",
            "video.init.mp4",
            "../etc",
            "video.s.m4s",
        ] {
            assert_eq!(Resource::parse(bad), None, "{bad}");
        }
    }
}
