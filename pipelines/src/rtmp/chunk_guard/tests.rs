use bytes::Bytes;
use rml_rtmp::chunk_io::ChunkSerializer;
use rml_rtmp::messages::MessagePayload;
use rml_rtmp::time::RtmpTimestamp;

use super::*;

fn payload(type_id: u8, stream_id: u32, ts: u32, len: usize) -> MessagePayload {
    MessagePayload {
        timestamp: RtmpTimestamp::new(ts),
        type_id,
        message_stream_id: stream_id,
        data: Bytes::from(vec![7u8; len]),
    }
}

fn ends(guard: &mut ChunkGuard, mut input: &[u8]) -> Result<Vec<MessageEnd>, ChunkError> {
    let mut out = Vec::new();
    while let Some(end) = guard.advance(input)? {
        input = &input[end.consumed..];
        out.push(end);
    }
    Ok(out)
}

#[test]
fn finds_message_ends_across_chunks_and_byte_splits() {
    let mut ser = ChunkSerializer::new();
    let mut wire = Vec::new();
    for (i, len) in [300usize, 5, 128, 1000].into_iter().enumerate() {
        let p = payload(9, 1, 40 * i as u32, len);
        wire.extend(
            ser.serialize(&p, false, false)
                .map(|p| p.bytes)
                .unwrap_or_default(),
        );
    }
    let mut guard = ChunkGuard::new(65536, 1 << 20);
    let all = ends(&mut guard, &wire).unwrap_or_default();
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|e| e.type_id == 9 && e.stream_id == 1));
    // Byte by byte gives the same messages.
    let mut guard = ChunkGuard::new(65536, 1 << 20);
    let mut count = 0;
    for b in &wire {
        if let Ok(Some(end)) = guard.advance(std::slice::from_ref(b)) {
            assert_eq!(end.consumed, 1);
            count += 1;
        }
    }
    assert_eq!(count, 4);
}

#[test]
fn follows_set_chunk_size_and_extended_timestamps() {
    let mut ser = ChunkSerializer::new();
    let mut wire = ser
        .set_max_chunk_size(4096, RtmpTimestamp::new(0))
        .map(|p| p.bytes)
        .unwrap_or_default();
    for ts in [0xFF_FFF0u32, 0x100_0000, 0x100_0021] {
        let p = payload(8, 1, ts, 3000);
        wire.extend(
            ser.serialize(&p, false, false)
                .map(|p| p.bytes)
                .unwrap_or_default(),
        );
    }
    let mut guard = ChunkGuard::new(65536, 1 << 20);
    let all = ends(&mut guard, &wire).unwrap_or_default();
    assert_eq!(
        all.iter().map(|e| e.type_id).collect::<Vec<_>>(),
        vec![1, 8, 8, 8]
    );
}

#[test]
fn refuses_oversized_chunk_size_and_message() {
    let mut ser = ChunkSerializer::new();
    let wire = ser
        .set_max_chunk_size(1 << 20, RtmpTimestamp::new(0))
        .map(|p| p.bytes)
        .unwrap_or_default();
    let mut guard = ChunkGuard::new(65536, 1 << 20);
    assert_eq!(
        guard.advance(&wire),
        Err(ChunkError::ChunkSizeTooLarge {
            asked: 1 << 20,
            limit: 65536
        })
    );
    let mut ser = ChunkSerializer::new();
    let p = payload(9, 1, 0, 2000);
    let wire = ser
        .serialize(&p, false, false)
        .map(|p| p.bytes)
        .unwrap_or_default();
    let mut guard = ChunkGuard::new(65536, 1000);
    assert_eq!(
        guard.advance(&wire[..12]),
        Err(ChunkError::MessageTooLarge {
            size: 2000,
            limit: 1000
        })
    );
}

#[test]
fn refuses_interleaving_and_headers_without_history() {
    // Type 0 header on csid 4 announcing 200 bytes, first chunk of 128, then csid 5 starts.
    let mut wire = vec![0x04, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0];
    wire.extend([0u8; 128]);
    wire.extend([0x05, 0, 0, 0, 0, 0, 4, 8, 1, 0, 0, 0]);
    let mut guard = ChunkGuard::new(65536, 1 << 20);
    assert_eq!(
        guard.advance(&wire),
        Err(ChunkError::Interleaved { csid: 5, open: 4 })
    );
    let mut guard = ChunkGuard::new(65536, 1 << 20);
    assert_eq!(
        guard.advance(&[0x44, 0, 0, 0, 0, 0, 1, 9]),
        Err(ChunkError::NoPreviousHeader { fmt: 1, csid: 4 })
    );
}
