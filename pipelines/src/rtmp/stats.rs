//! Counters of the RTMP server, cheap to update and to read (for `/metrics`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a connection was refused or closed early: one counter each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalKind {
    /// Not an RTMP handshake (bad version byte, malformed C1/C2) or closed mid-handshake.
    Handshake,
    /// The handshake did not complete in time.
    HandshakeTimeout,
    /// No byte received for `idle_timeout`.
    IdleTimeout,
    /// Chunk-level violation: oversized chunk size or message, malformed chunk stream.
    Protocol,
    WrongApp,
    UnknownKey,
    AlreadyPublishing,
    UnsupportedCodec,
    NoVideo,
    /// RTMP playback requested (not served).
    Play,
    /// The engine closed the stream while (or before) it was published.
    StreamClosed,
    /// The peer reset the connection or an I/O error occurred.
    Io,
}

impl RefusalKind {
    pub const ALL: [RefusalKind; 12] = [
        RefusalKind::Handshake,
        RefusalKind::HandshakeTimeout,
        RefusalKind::IdleTimeout,
        RefusalKind::Protocol,
        RefusalKind::WrongApp,
        RefusalKind::UnknownKey,
        RefusalKind::AlreadyPublishing,
        RefusalKind::UnsupportedCodec,
        RefusalKind::NoVideo,
        RefusalKind::Play,
        RefusalKind::StreamClosed,
        RefusalKind::Io,
    ];

    /// A label for metrics (`reason="unknown_key"`).
    pub fn label(self) -> &'static str {
        match self {
            RefusalKind::Handshake => "handshake",
            RefusalKind::HandshakeTimeout => "handshake_timeout",
            RefusalKind::IdleTimeout => "idle_timeout",
            RefusalKind::Protocol => "protocol",
            RefusalKind::WrongApp => "wrong_app",
            RefusalKind::UnknownKey => "unknown_key",
            RefusalKind::AlreadyPublishing => "already_publishing",
            RefusalKind::UnsupportedCodec => "unsupported_codec",
            RefusalKind::NoVideo => "no_video",
            RefusalKind::Play => "play",
            RefusalKind::StreamClosed => "stream_closed",
            RefusalKind::Io => "io",
        }
    }

    fn index(self) -> usize {
        // `ALL` lists every variant in declaration order.
        self as usize
    }
}

/// Server-wide counters. All fields only grow, except `connections_open`.
#[derive(Debug, Default)]
pub struct RtmpStats {
    pub connections_accepted: AtomicU64,
    /// Connections that ended with an error (each also counted under its [`RefusalKind`]).
    pub connections_refused: AtomicU64,
    /// Connections currently open (a gauge).
    pub connections_open: AtomicU64,
    /// Publish sessions that got past authentication.
    pub publishes: AtomicU64,
    /// Bytes read from all peers, handshake included.
    pub bytes_in: AtomicU64,
    refusals: [AtomicU64; RefusalKind::ALL.len()],
}

impl RtmpStats {
    /// How many connections ended for this reason.
    pub fn refused(&self, kind: RefusalKind) -> u64 {
        self.refusals[kind.index()].load(Ordering::Relaxed)
    }

    /// `(label, count)` for every refusal reason, for `/metrics`.
    pub fn refusals(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        RefusalKind::ALL
            .iter()
            .map(|k| (k.label(), self.refused(*k)))
    }

    pub(super) fn count_refusal(&self, kind: RefusalKind) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
        self.refusals[kind.index()].fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_counter_and_label() {
        let stats = RtmpStats::default();
        for (i, kind) in RefusalKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
            stats.count_refusal(*kind);
        }
        let labels: std::collections::HashSet<_> = stats.refusals().map(|(l, _)| l).collect();
        assert_eq!(labels.len(), RefusalKind::ALL.len());
        assert!(stats.refusals().all(|(_, n)| n == 1));
        assert_eq!(
            stats.connections_refused.load(Ordering::Relaxed),
            RefusalKind::ALL.len() as u64
        );
    }
}
