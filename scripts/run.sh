#!/usr/bin/env bash
# Set-up command 1: install what is missing, build, and run `showroom serve` on the embedded
# default (configs/default.toml: SQLite in ./data, no Redis or PostgreSQL). Extra arguments go to
# `showroom serve` (e.g. --http-port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
scripts/web.sh
cargo build --release -p showroom-engine
exec "${CARGO_TARGET_DIR:-target}/release/showroom" serve --config configs/default.toml "$@"
