//! cmafmux output to init segment and parts: the appsink side of the [`super::packager`].

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use gst::prelude::*;
use parking_lot::Mutex;

use super::packager::{Output, Shared, Sink};

pub(super) fn install_sink(
    appsink: &gst_app::AppSink,
    shared: Arc<Mutex<Shared>>,
    sink: Sink,
    name: String,
    parsed: gst::Pad,
) {
    let eos_sink = Arc::clone(&sink);
    appsink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |appsink| {
                let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let mut buffers: Vec<gst::Buffer> = Vec::new();
                if let Some(list) = sample.buffer_list() {
                    buffers.extend(list.iter().map(|b| b.to_owned()));
                } else if let Some(b) = sample.buffer() {
                    buffers.push(b.to_owned());
                }
                split_output(&buffers, &shared, &sink, &name, &parsed);
                Ok(gst::FlowSuccess::Ok)
            })
            .eos(move |_| eos_sink(Output::Eos))
            .build(),
    );
}

/// Cuts cmafmux output into the init segment and parts (each part starts with a header buffer
/// holding `styp`/`moof`), and pairs each part with the segmenter's description.
fn split_output(
    buffers: &[gst::Buffer],
    shared: &Mutex<Shared>,
    sink: &Sink,
    name: &str,
    parsed: &gst::Pad,
) {
    let mut current: Option<BytesMut> = None;
    let flush = |bytes: BytesMut| {
        let meta = shared.lock().metas.pop_front();
        match meta {
            Some(meta) => sink(Output::Part(meta, bytes.freeze())),
            None => tracing::error!(
                pipeline = name,
                "llhls: cmafmux emitted a part the segmenter did not close"
            ),
        }
    };
    for buffer in buffers {
        let Ok(map) = buffer.map_readable() else {
            continue;
        };
        let data = map.as_slice();
        let kind = data.get(4..8).unwrap_or_default();
        let header = buffer.flags().contains(gst::BufferFlags::HEADER);
        if header && kind == b"ftyp" {
            sink(Output::Init(
                Bytes::copy_from_slice(data),
                parsed.current_caps(),
            ));
            continue;
        }
        if header && (kind == b"moof" || kind == b"styp") {
            if let Some(done) = current.take() {
                flush(done);
            }
            current = Some(BytesMut::from(data));
            continue;
        }
        match current.as_mut() {
            Some(c) => c.extend_from_slice(data),
            None => tracing::warn!(
                pipeline = name,
                "llhls: media data before any part header dropped"
            ),
        }
    }
    if let Some(done) = current.take() {
        flush(done);
    }
}
