#!/usr/bin/env bash
# Set-up command 2: install what is missing (test clients and servers included) and run the
# whole test suite: formatting, clippy, unit and integration tests with real clients.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
export RUSTFLAGS="${RUSTFLAGS:-} -D warnings"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# Browser tests and the web client: every npm project in the repo (hls.js, playwright-core with
# /usr/bin/chromium; no browser is ever downloaded).
for lock in $(git ls-files '*package-lock.json'); do
  dir=$(dirname "$lock")
  if [ ! -d "$dir/node_modules" ] || [ "$lock" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
# The integration tests in tests/ spawn the real binary.
cargo build -p showroom-engine --bin showroom
# Integration tests run real encoders; two at a time fits a 2-core machine.
cargo test --workspace --no-fail-fast -- --test-threads="${SHOWROOM_TEST_THREADS:-2}"
