//! `gst-launch-1.0` with Showroom's own elements registered (`showroomscale`): runs one
//! pipeline description to EOS. Used by `benches/scripts/abr_callgrind.sh`.
//!
//! ```text
//! cargo run --release -p showroom-pipelines --example launch -- 'videotestsrc num-buffers=30 ! showroomscale ! video/x-raw,width=640,height=360 ! fakesink'
//! ```

use anyhow::{bail, Context, Result};
use gst::prelude::*;

fn main() -> Result<()> {
    let desc = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    if desc.is_empty() {
        bail!("usage: launch 'PIPELINE DESCRIPTION'");
    }
    showroom_pipelines::gst_init::init()?;
    let pipeline = gst::parse::launch(&desc).context("parse")?;
    let bus = pipeline.bus().context("no bus")?;
    pipeline.set_state(gst::State::Playing)?;
    let result = loop {
        let Some(msg) = bus.timed_pop(gst::ClockTime::NONE) else {
            break Ok(());
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => {
                break Err(anyhow::anyhow!("{} ({:?})", e.error(), e.debug()))
            }
            _ => {}
        }
    };
    pipeline.set_state(gst::State::Null)?;
    result
}
