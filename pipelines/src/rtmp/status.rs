//! onStatus messages for refusals, written with our own chunk serializer.
//!
//! rml_rtmp only answers requests with `_error`; a refusal after the publish was accepted (a
//! codec we do not take) needs an `onStatus` on the publishing stream. The serializer uses the
//! chunk size the session announced and full (type 0) headers, so it never depends on the
//! session serializer's header compression state.

use std::collections::HashMap;

use rml_rtmp::chunk_io::ChunkSerializer;
use rml_rtmp::messages::RtmpMessage;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::time::RtmpTimestamp;

pub(super) struct StatusWriter {
    serializer: ChunkSerializer,
}

impl StatusWriter {
    pub(super) fn new(chunk_size: u32) -> Self {
        let mut serializer = ChunkSerializer::new();
        // Only the serializer's state matters: the peer already got this size from the session.
        if let Err(e) = serializer.set_max_chunk_size(chunk_size, RtmpTimestamp::new(0)) {
            tracing::debug!(error = %e, "status serializer keeps the default chunk size");
        }
        Self { serializer }
    }

    /// `onStatus` with level `error` on message stream `stream_id`; empty if it cannot be built.
    pub(super) fn error(&mut self, stream_id: u32, code: &str, description: &str) -> Vec<u8> {
        let info = HashMap::from([
            (
                "level".to_owned(),
                Amf0Value::Utf8String("error".to_owned()),
            ),
            ("code".to_owned(), Amf0Value::Utf8String(code.to_owned())),
            (
                "description".to_owned(),
                Amf0Value::Utf8String(description.to_owned()),
            ),
        ]);
        let message = RtmpMessage::Amf0Command {
            command_name: "onStatus".to_owned(),
            transaction_id: 0.0,
            command_object: Amf0Value::Null,
            additional_arguments: vec![Amf0Value::Object(info)],
        };
        let packet = message
            .into_message_payload(RtmpTimestamp::new(0), stream_id)
            .map_err(|e| e.to_string())
            .and_then(|p| {
                self.serializer
                    .serialize(&p, true, false)
                    .map_err(|e| e.to_string())
            });
        match packet {
            Ok(p) => p.bytes,
            Err(e) => {
                tracing::debug!(error = %e, code, "could not build onStatus");
                Vec::new()
            }
        }
    }
}
