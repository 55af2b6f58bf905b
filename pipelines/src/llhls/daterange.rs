//! EXT-X-DATERANGE: timed metadata the commerce layer adds (pins, flash sales).

use std::fmt::Write;
use std::time::{Duration, SystemTime};

/// One date range. `attributes` are `X-...` client attributes whose values are written as
/// quoted strings; names must be `X-` plus `[A-Z0-9-]`, values must not hold `"`, CR or LF
/// (others are dropped with a warning when rendered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateRange {
    pub id: String,
    pub class: String,
    pub start: SystemTime,
    pub duration: Option<Duration>,
    pub attributes: Vec<(String, String)>,
}

fn quoted_ok(v: &str) -> bool {
    !v.contains(['"', '\r', '\n'])
}

fn name_ok(n: &str) -> bool {
    n.len() > 2
        && n.starts_with("X-")
        && n.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

impl DateRange {
    /// Whether it still matters at `oldest` (the PDT of the oldest segment in the window).
    pub fn relevant_after(&self, oldest: SystemTime) -> bool {
        match self.duration {
            Some(d) => self.start + d >= oldest,
            None => self.start >= oldest,
        }
    }

    /// The `#EXT-X-DATERANGE` line, or `None` if id/class cannot be written safely.
    pub fn render(&self, out: &mut String) -> bool {
        if !quoted_ok(&self.id) || self.id.is_empty() || !quoted_ok(&self.class) {
            tracing::warn!(id = %self.id, "llhls: date range with unquotable id/class not listed");
            return false;
        }
        let _ = write!(out, "#EXT-X-DATERANGE:ID=\"{}\"", self.id);
        if !self.class.is_empty() {
            let _ = write!(out, ",CLASS=\"{}\"", self.class);
        }
        let _ = write!(out, ",START-DATE=\"{}\"", super::playlist::pdt(self.start));
        if let Some(d) = self.duration {
            let _ = write!(out, ",DURATION={:.3}", d.as_secs_f64());
        }
        for (k, v) in &self.attributes {
            if name_ok(k) && quoted_ok(v) {
                let _ = write!(out, ",{k}=\"{v}\"");
            } else {
                tracing::warn!(id = %self.id, attribute = %k, "llhls: date range attribute not listed");
            }
        }
        out.push('\n');
        true
    }
}
