//! Flash-sale window decisions in stream time, sans-IO.
//!
//! A sale's window is `[start, end)` on the stream's media timeline (PTS of publish `epoch`),
//! with its PROGRAM-DATE-TIME twin for when the stream is not live. A buyer sends the stream
//! time its player shows (`playout`). After the server's stream time passes `end`, a buyer
//! whose playout is still inside the window may buy until `end + allowance`.

use serde::{Deserialize, Serialize};

/// The sale window, in both timebases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub epoch: Option<u64>,
    pub start_pts_ms: Option<u64>,
    pub end_pts_ms: Option<u64>,
    pub start_pdt_ms: u64,
    pub end_pdt_ms: u64,
}

/// The server's "now": the stream clock if live, and the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerNow {
    pub clock: Option<(u64, u64)>,
    pub wall_ms: u64,
}

/// What the buyer's player shows (either or both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Playout {
    pub pts_ms: Option<u64>,
    pub pdt_ms: Option<u64>,
}

/// The decision for one purchase attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Open,
    /// Server time is past the end, the buyer's playout is not, and we are within the allowance.
    OpenByAllowance {
        late_ms: u64,
    },
    NotStarted {
        starts_in_ms: u64,
    },
    Ended {
        reason: String,
    },
}

impl Window {
    /// `(start, end, server now, stream time?)` in the timebase used at `now`: stream time when
    /// the sale and the server share a live publish epoch, else PDT / wall time.
    fn span(&self, now: ServerNow) -> (u64, u64, u64, bool) {
        match (now.clock, self.start_pts_ms, self.end_pts_ms) {
            (Some((epoch, pts)), Some(s), Some(e)) if Some(epoch) == self.epoch => {
                (s, e, pts, true)
            }
            _ => (self.start_pdt_ms, self.end_pdt_ms, now.wall_ms, false),
        }
    }

    /// Milliseconds of server time until the window closes (0 = closed): the deadline of the
    /// "sale ended" timer. The caller sleeps at most this long, then asks again (stream time
    /// may run slower than wall time, or stop).
    pub fn ends_in_ms(&self, now: ServerNow) -> u64 {
        let (_, end, server, _) = self.span(now);
        end.saturating_sub(server)
    }

    /// Decide at `now` for a buyer at `playout`.
    pub fn check(&self, now: ServerNow, playout: Playout, allowance_ms: u64) -> Verdict {
        let (start, end, server, stream_time) = self.span(now);
        let (buyer, base) = if stream_time {
            (playout.pts_ms, "stream time")
        } else {
            (playout.pdt_ms, "wall time")
        };
        // A player cannot be ahead of the server's newest frame.
        let buyer = buyer.map(|b| b.min(server));
        if server < start {
            return Verdict::NotStarted {
                starts_in_ms: start - server,
            };
        }
        if server < end {
            return match buyer {
                Some(b) if b < start => Verdict::NotStarted {
                    starts_in_ms: start - b,
                },
                _ => Verdict::Open,
            };
        }
        let late = server - end;
        match buyer {
            None => Verdict::Ended {
                reason: format!("sale ended {late} ms ago ({base}) and no playout time was sent"),
            },
            Some(b) if b >= end => Verdict::Ended {
                reason: format!("sale ended; your playout ({b} ms) is past its end ({end} ms)"),
            },
            Some(_) if late >= allowance_ms => Verdict::Ended {
                reason: format!(
                    "sale ended {late} ms ago ({base}), beyond the latency allowance of {allowance_ms} ms"
                ),
            },
            Some(b) if b < start => Verdict::NotStarted {
                starts_in_ms: start - b,
            },
            Some(_) => Verdict::OpenByAllowance { late_ms: late },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win() -> Window {
        Window {
            epoch: Some(1),
            start_pts_ms: Some(10_000),
            end_pts_ms: Some(70_000),
            start_pdt_ms: 1_000_010_000,
            end_pdt_ms: 1_000_070_000,
        }
    }
    fn at(pts: u64) -> ServerNow {
        ServerNow {
            clock: Some((1, pts)),
            wall_ms: 1_000_000_000 + pts,
        }
    }
    fn play(pts: u64) -> Playout {
        Playout {
            pts_ms: Some(pts),
            pdt_ms: None,
        }
    }

    #[test]
    fn inside_window_is_open() {
        assert_eq!(win().check(at(20_000), play(18_000), 3_000), Verdict::Open);
        assert_eq!(
            win().check(at(20_000), Playout::default(), 3_000),
            Verdict::Open
        );
    }

    #[test]
    fn before_start_not_started() {
        assert_eq!(
            win().check(at(9_000), play(8_000), 3_000),
            Verdict::NotStarted {
                starts_in_ms: 1_000
            }
        );
        // Server open, but this buyer's player hasn't reached the start yet.
        assert_eq!(
            win().check(at(11_000), play(9_500), 3_000),
            Verdict::NotStarted { starts_in_ms: 500 }
        );
    }

    #[test]
    fn late_buyer_within_allowance_can_buy() {
        assert_eq!(
            win().check(at(71_000), play(69_000), 3_000),
            Verdict::OpenByAllowance { late_ms: 1_000 }
        );
    }

    #[test]
    fn refusals_after_end() {
        let w = win();
        assert!(
            matches!(w.check(at(74_000), play(69_999), 3_000), Verdict::Ended { reason } if reason.contains("allowance"))
        );
        assert!(
            matches!(w.check(at(71_000), play(70_000), 3_000), Verdict::Ended { reason } if reason.contains("playout"))
        );
        assert!(
            matches!(w.check(at(71_000), Playout::default(), 3_000), Verdict::Ended { reason } if reason.contains("no playout"))
        );
    }

    #[test]
    fn other_epoch_falls_back_to_wall_time() {
        let now = ServerNow {
            clock: Some((2, 5)),
            wall_ms: 1_000_071_000,
        };
        let p = Playout {
            pts_ms: Some(69_000),
            pdt_ms: Some(1_000_069_500),
        };
        assert_eq!(
            win().check(now, p, 3_000),
            Verdict::OpenByAllowance { late_ms: 1_000 }
        );
        let offline = ServerNow {
            clock: None,
            wall_ms: 1_000_030_000,
        };
        assert_eq!(win().check(offline, Playout::default(), 0), Verdict::Open);
    }

    #[test]
    fn end_deadline_follows_the_timebase() {
        assert_eq!(win().ends_in_ms(at(20_000)), 50_000);
        assert_eq!(win().ends_in_ms(at(70_000)), 0);
        assert_eq!(win().ends_in_ms(at(90_000)), 0);
        // Not live: wall time against the PDT twin.
        let offline = ServerNow {
            clock: None,
            wall_ms: 1_000_069_000,
        };
        assert_eq!(win().ends_in_ms(offline), 1_000);
    }

    #[test]
    fn playout_ahead_of_server_is_clamped() {
        // A buyer claiming a playout past the server's newest frame is treated as the server time.
        assert!(matches!(
            win().check(at(75_000), play(90_000), 10_000),
            Verdict::Ended { .. }
        ));
    }
}
