//! Shared helpers of Showroom's load tools (`src/bin/`) and criterion benchmarks (`benches/`).

pub mod ws_subscribers;
