//! Watching a GStreamer pipeline's bus: the one place that logs a graph's failure with the
//! path of the element that posted it.

use futures::StreamExt;
use gst::prelude::*;

/// How a pipeline's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphEnd {
    Eos,
    /// An error was posted (and logged).
    Error,
    /// The bus went away (the pipeline was dropped).
    Closed,
}

/// Waits until the pipeline posts EOS or an error. An error is logged with the failing
/// element's path; `kind` says which graph it is (`"llhls packager"`), `name` which one.
pub async fn wait_end(bus: gst::Bus, kind: &'static str, name: &str) -> GraphEnd {
    let mut messages = bus.stream();
    while let Some(msg) = messages.next().await {
        match msg.view() {
            gst::MessageView::Eos(_) => {
                tracing::debug!(graph = kind, name, "reached EOS");
                return GraphEnd::Eos;
            }
            gst::MessageView::Error(err) => {
                let source = msg
                    .src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default();
                tracing::error!(
                    graph = kind,
                    name,
                    source,
                    error = %err.error(),
                    debug = ?err.debug(),
                    "GStreamer graph failed"
                );
                return GraphEnd::Error;
            }
            _ => {}
        }
    }
    GraphEnd::Closed
}

/// Sets `pipeline` playing and watches its bus on tokio: when it reaches EOS or fails (logged
/// by [`wait_end`]), it is set to Null. Needs a tokio runtime.
pub fn play_watched(
    pipeline: &gst::Pipeline,
    kind: &'static str,
) -> Result<(), gst::StateChangeError> {
    if let Some(bus) = pipeline.bus() {
        let weak = pipeline.downgrade();
        let name = pipeline.name().to_string();
        tokio::spawn(async move {
            wait_end(bus, kind, &name).await;
            if let Some(p) = weak.upgrade() {
                let _ = p.set_state(gst::State::Null);
            }
        });
    }
    pipeline.set_state(gst::State::Playing).map(|_| ())
}
