//! Shared helpers of Showroom's load tools (`src/bin/`) and criterion benchmarks (`benches/`).
