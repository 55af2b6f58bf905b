//! `application/trickle-ice-sdpfrag` (RFC 8840, as RFC 9725 §4.3 uses it): parse a client's
//! PATCH body, write the server's ICE restart answer. Pure text in, text out.

/// One ICE candidate of a fragment, with the media section it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragCandidate {
    /// `a=mid` of its `m=` section (`None` when the fragment has no `m=` line).
    pub mid: Option<String>,
    /// Index of its `m=` section in the fragment (0 when none).
    pub mline_index: u16,
    /// The attribute value, `candidate:…` (no `a=`).
    pub candidate: String,
}

/// A parsed `application/trickle-ice-sdpfrag` body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdpFrag {
    pub ice_ufrag: Option<String>,
    pub ice_pwd: Option<String>,
    pub candidates: Vec<FragCandidate>,
    /// `a=end-of-candidates` was present.
    pub end_of_candidates: bool,
}

/// Why a fragment was refused (the 400 body says it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct FragError {
    pub line: usize,
    pub reason: String,
}

fn bad(line: usize, reason: impl Into<String>) -> FragError {
    FragError {
        line,
        reason: reason.into(),
    }
}

impl SdpFrag {
    /// Parses a fragment. Unknown attributes are ignored; a line that is not `x=value`, a
    /// candidate that is not `candidate:<foundation> <component> <transport> <priority> <ip>
    /// <port> typ <type> …`, an empty fragment or an `ice-pwd` without `ice-ufrag` are errors.
    pub fn parse(text: &str) -> Result<Self, FragError> {
        let mut frag = SdpFrag::default();
        let mut mline: Option<u16> = None;
        let mut mid: Option<String> = None;
        let mut lines = 0;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            lines += 1;
            let bytes = line.as_bytes();
            if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
                return Err(bad(n, format!("not an SDP line (`x=value`): {line:.60}")));
            }
            let value = &line[2..];
            match bytes[0] {
                b'm' => {
                    mline = Some(mline.map_or(0, |m| m.saturating_add(1)));
                    mid = None;
                }
                b'a' => {
                    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                    match name {
                        "ice-ufrag" => frag.ice_ufrag = Some(nonempty(n, name, arg)?),
                        "ice-pwd" => frag.ice_pwd = Some(nonempty(n, name, arg)?),
                        "mid" => mid = Some(nonempty(n, name, arg)?),
                        "end-of-candidates" => frag.end_of_candidates = true,
                        "candidate" => {
                            check_candidate(n, arg)?;
                            frag.candidates.push(FragCandidate {
                                mid: mid.clone(),
                                mline_index: mline.unwrap_or(0),
                                candidate: value.to_owned(),
                            });
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        if lines == 0 {
            return Err(bad(0, "empty fragment"));
        }
        if frag.ice_pwd.is_some() && frag.ice_ufrag.is_none() {
            return Err(bad(0, "a=ice-pwd without a=ice-ufrag"));
        }
        if frag.ice_ufrag.is_some() && frag.ice_pwd.is_none() {
            return Err(bad(0, "a=ice-ufrag without a=ice-pwd"));
        }
        Ok(frag)
    }

    /// Whether the fragment carries credentials other than `current` (an ICE restart).
    pub fn is_restart(&self, current_ufrag: &str) -> bool {
        self.ice_ufrag
            .as_deref()
            .is_some_and(|u| u != current_ufrag)
    }
}

fn nonempty(line: usize, name: &str, arg: &str) -> Result<String, FragError> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Err(bad(line, format!("a={name} has no value")));
    }
    Ok(arg.to_owned())
}

/// `candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>`.
fn check_candidate(line: usize, arg: &str) -> Result<(), FragError> {
    let f: Vec<&str> = arg.split_ascii_whitespace().collect();
    if f.len() < 8 {
        return Err(bad(
            line,
            format!("candidate has {} fields, at least 8 expected", f.len()),
        ));
    }
    if f[1].parse::<u16>().is_err() {
        return Err(bad(
            line,
            format!("candidate component `{}` is not a number", f[1]),
        ));
    }
    if !f[2].eq_ignore_ascii_case("udp") && !f[2].eq_ignore_ascii_case("tcp") {
        return Err(bad(
            line,
            format!("candidate transport `{}` is not UDP or TCP", f[2]),
        ));
    }
    if f[3].parse::<u32>().is_err() {
        return Err(bad(
            line,
            format!("candidate priority `{}` is not a number", f[3]),
        ));
    }
    if f[5].parse::<u16>().is_err() {
        return Err(bad(
            line,
            format!("candidate port `{}` is not a port", f[5]),
        ));
    }
    if f[6] != "typ" {
        return Err(bad(
            line,
            format!("`typ` expected after the port, got `{}`", f[6]),
        ));
    }
    Ok(())
}

/// ICE credentials and candidates of a full SDP (the first `m=` section's, BUNDLE).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceParams {
    pub ufrag: String,
    pub pwd: String,
    pub mid: Option<String>,
    pub candidates: Vec<String>,
}

impl IceParams {
    /// Reads the session-level or first section's ICE attributes of `sdp`.
    pub fn of_sdp(sdp: &str) -> Self {
        let mut p = IceParams::default();
        let mut section = 0usize;
        for line in sdp.lines().map(|l| l.trim_end_matches('\r')) {
            if line.starts_with("m=") {
                section += 1;
            }
            if section > 1 {
                break;
            }
            if let Some(v) = line.strip_prefix("a=ice-ufrag:") {
                p.ufrag = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("a=ice-pwd:") {
                p.pwd = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("a=mid:") {
                p.mid = Some(v.trim().to_owned());
            } else if line.starts_with("a=candidate:") {
                p.candidates.push(line[2..].to_owned());
            }
        }
        p
    }

    /// The ICE restart answer fragment (RFC 9725 §4.4): credentials, then the first section
    /// (`m=` line copied from `sdp`) with its candidates and `a=end-of-candidates`.
    pub fn answer_frag(&self, sdp: &str) -> String {
        let mline = sdp
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .find(|l| l.starts_with("m="))
            .unwrap_or("m=video 9 UDP/TLS/RTP/SAVPF 102");
        let mut out = format!(
            "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\n{mline}\r\n",
            self.ufrag, self.pwd
        );
        if let Some(mid) = &self.mid {
            out.push_str(&format!("a=mid:{mid}\r\n"));
        }
        for c in &self.candidates {
            out.push_str(&format!("a={c}\r\n"));
        }
        out.push_str("a=end-of-candidates\r\n");
        out
    }
}

/// `sdp` with every `a=ice-ufrag`/`a=ice-pwd` replaced by the given ones and no candidate
/// lines: the full offer an ICE restart fragment stands for (RFC 9725 §4.4: everything but
/// ICE stays as negotiated).
pub fn with_credentials(sdp: &str, ufrag: &str, pwd: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.lines().map(|l| l.trim_end_matches('\r')) {
        if line.starts_with("a=ice-ufrag:") {
            out.push_str(&format!("a=ice-ufrag:{ufrag}\r\n"));
        } else if line.starts_with("a=ice-pwd:") {
            out.push_str(&format!("a=ice-pwd:{pwd}\r\n"));
        } else if line.starts_with("a=candidate:") || line.starts_with("a=end-of-candidates") {
            continue;
        } else {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out
}

#[cfg(test)]
#[path = "sdpfrag_tests.rs"]
mod tests;
