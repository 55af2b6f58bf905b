//! A chunk-stream watcher that runs ahead of rml_rtmp's deserializer on the same bytes.
//!
//! rml_rtmp applies any Set Chunk Size and buffers any message length (up to 16 MiB) it is
//! sent, and trusts malformed headers. This guard parses only chunk headers (payload bytes
//! are skipped, never copied) and refuses what we do not accept *before* the session sees it:
//! a chunk size above our limit, a message above our limit, interleaved or malformed chunk
//! streams. It also reports where each message ends and on which message stream it came, so
//! the session can be fed one message at a time and knows the stream id of each command.

use std::collections::HashMap;

/// Why a chunk stream was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    #[error("Set Chunk Size {asked} above the limit {limit}")]
    ChunkSizeTooLarge { asked: u32, limit: u32 },
    #[error("Set Chunk Size 0")]
    ChunkSizeZero,
    #[error("message of {size} bytes above the limit {limit}")]
    MessageTooLarge { size: u32, limit: u32 },
    #[error("chunk header type {fmt} on chunk stream {csid} with no previous header")]
    NoPreviousHeader { fmt: u8, csid: u32 },
    #[error("new message header on chunk stream {csid} before its previous message ended")]
    HeaderMidMessage { csid: u32 },
    #[error("chunk stream {csid} interleaved into an unfinished message on {open}")]
    Interleaved { csid: u32, open: u32 },
    #[error("extended timestamp delta {0} below 0xFFFFFF")]
    BadExtendedTimestamp(u32),
    #[error("more than {0} chunk streams")]
    TooManyChunkStreams(usize),
}

const MAX_CHUNK_STREAMS: usize = 64;
const SET_CHUNK_SIZE: u8 = 1;

/// One complete message, as the guard saw it go by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageEnd {
    /// Bytes of the input slice, from its start, up to and including the message's last byte.
    pub consumed: usize,
    pub type_id: u8,
    pub stream_id: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct ChunkStream {
    length: u32,
    type_id: u8,
    stream_id: u32,
    ts_field: u32,
    /// Payload bytes of the current message not yet seen (0 between messages).
    remaining: u32,
}

pub struct ChunkGuard {
    max_chunk_size: u32,
    max_message_size: u32,
    chunk_size: u32,
    streams: HashMap<u32, ChunkStream>,
    header: [u8; 18],
    header_len: usize,
    /// Chunk stream whose payload bytes are being skipped, and how many are left in this chunk.
    in_payload: Option<(u32, u32)>,
    /// Chunk stream with an unfinished message (interleaving is refused, so at most one).
    open: Option<u32>,
    /// First payload bytes of a Set Chunk Size message.
    capture: [u8; 4],
    captured: usize,
}

impl ChunkGuard {
    pub fn new(max_chunk_size: u32, max_message_size: u32) -> Self {
        Self {
            max_chunk_size,
            max_message_size,
            chunk_size: 128,
            streams: HashMap::new(),
            header: [0; 18],
            header_len: 0,
            in_payload: None,
            open: None,
            capture: [0; 4],
            captured: 0,
        }
    }

    /// Walks `input` until a message completes (`Some`, with the bytes consumed so far) or the
    /// input runs out (`None`: everything was consumed). Call again with the rest.
    pub fn advance(&mut self, input: &[u8]) -> Result<Option<MessageEnd>, ChunkError> {
        let mut pos = 0;
        while pos < input.len() {
            if let Some((csid, left)) = self.in_payload {
                let take = left.min(u32::try_from(input.len() - pos).unwrap_or(u32::MAX));
                let n = take as usize;
                let cs = self.streams.get(&csid).copied().unwrap_or_default();
                if cs.type_id == SET_CHUNK_SIZE {
                    let start = (cs.length - cs.remaining) as usize;
                    for (i, b) in input[pos..pos + n].iter().enumerate() {
                        if let Some(slot) = self.capture.get_mut(start + i) {
                            *slot = *b;
                            self.captured += 1;
                        }
                    }
                }
                pos += n;
                let remaining = cs.remaining - take;
                self.set_remaining(csid, remaining);
                self.in_payload = (left > take).then_some((csid, left - take));
                if left == take && remaining == 0 {
                    self.in_payload = None;
                    self.open = None;
                    self.message_done(&cs)?;
                    return Ok(Some(MessageEnd {
                        consumed: pos,
                        type_id: cs.type_id,
                        stream_id: cs.stream_id,
                    }));
                }
                continue;
            }
            self.header[self.header_len] = input[pos];
            self.header_len += 1;
            pos += 1;
            if let Some(end) = self.try_header()? {
                // A zero-length message completes with its header.
                return Ok(Some(MessageEnd {
                    consumed: pos,
                    ..end
                }));
            }
        }
        Ok(None)
    }

    fn set_remaining(&mut self, csid: u32, remaining: u32) {
        if let Some(cs) = self.streams.get_mut(&csid) {
            cs.remaining = remaining;
        }
    }

    fn message_done(&mut self, cs: &ChunkStream) -> Result<(), ChunkError> {
        if cs.type_id == SET_CHUNK_SIZE && self.captured >= 4 {
            let asked = u32::from_be_bytes(self.capture) & 0x7fff_ffff;
            if asked == 0 {
                return Err(ChunkError::ChunkSizeZero);
            }
            if asked > self.max_chunk_size {
                return Err(ChunkError::ChunkSizeTooLarge {
                    asked,
                    limit: self.max_chunk_size,
                });
            }
            self.chunk_size = asked;
        }
        self.captured = 0;
        Ok(())
    }

    /// Once the buffered header is complete, applies it. `Some` for a zero-length message.
    fn try_header(&mut self) -> Result<Option<MessageEnd>, ChunkError> {
        let h = &self.header[..self.header_len];
        let fmt = h[0] >> 6;
        let (csid, basic) = match h[0] & 0x3f {
            0 if h.len() < 2 => return Ok(None),
            0 => (u32::from(h[1]) + 64, 2),
            1 if h.len() < 3 => return Ok(None),
            1 => (u32::from(h[1]) + 64 + u32::from(h[2]) * 256, 3),
            id => (u32::from(id), 1),
        };
        let msg_header = [11, 7, 3, 0][usize::from(fmt)];
        if h.len() < basic + msg_header {
            return Ok(None);
        }
        let prev = self.streams.get(&csid).copied();
        if fmt != 0 && prev.is_none() {
            return Err(ChunkError::NoPreviousHeader { fmt, csid });
        }
        if prev.is_none() && self.streams.len() >= MAX_CHUNK_STREAMS {
            return Err(ChunkError::TooManyChunkStreams(MAX_CHUNK_STREAMS));
        }
        let mut cs = prev.unwrap_or_default();
        let m = &h[basic..];
        let ts_field = match fmt {
            3 => cs.ts_field,
            _ => u32::from_be_bytes([0, m[0], m[1], m[2]]),
        };
        let extended = ts_field >= 0xff_ffff;
        if h.len() < basic + msg_header + if extended { 4 } else { 0 } {
            return Ok(None);
        }
        let new_message = cs.remaining == 0;
        if !new_message && fmt != 3 {
            return Err(ChunkError::HeaderMidMessage { csid });
        }
        if let Some(open) = self.open.filter(|open| *open != csid) {
            return Err(ChunkError::Interleaved { csid, open });
        }
        if extended && fmt != 0 && new_message {
            let e = basic + msg_header;
            let ext = u32::from_be_bytes([h[e], h[e + 1], h[e + 2], h[e + 3]]);
            if ext < 0xff_ffff {
                return Err(ChunkError::BadExtendedTimestamp(ext));
            }
        }
        if fmt <= 1 {
            cs.length = u32::from_be_bytes([0, m[3], m[4], m[5]]);
            cs.type_id = m[6];
            if cs.length > self.max_message_size {
                return Err(ChunkError::MessageTooLarge {
                    size: cs.length,
                    limit: self.max_message_size,
                });
            }
        }
        if fmt == 0 {
            cs.stream_id = u32::from_le_bytes([m[7], m[8], m[9], m[10]]);
        }
        if fmt != 3 {
            cs.ts_field = ts_field;
        }
        if new_message {
            cs.remaining = cs.length;
            self.captured = 0;
        }
        self.header_len = 0;
        self.streams.insert(csid, cs);
        if cs.length == 0 {
            return Ok(Some(MessageEnd {
                consumed: 0,
                type_id: cs.type_id,
                stream_id: cs.stream_id,
            }));
        }
        self.open = Some(csid);
        self.in_payload = Some((csid, cs.remaining.min(self.chunk_size)));
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
