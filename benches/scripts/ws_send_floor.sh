#!/usr/bin/env bash
# One run of the fan-out send floor (docs/benchmarks.md, "Send floor"): ws_send_floor (a bare
# WebSocket sender, no runtime or sessions) in place of commerce_server, read by the real load
# tool through benches/scripts/ws_fanout.sh. Prints the tool's line and the sender's own
# per-pass figures (pass = one event written to every socket).
#
#   benches/scripts/ws_send_floor.sh MODE EVENTS RATE [SUBSCRIBERS]
#   MODE: write | threads2 | uring (FLOOR_BATCH SQEs per submit, default 1024); FLOOR_CC=reno
#   sets the subscriber sockets' congestion control.
# Binaries: $CARGO_TARGET_DIR (or target)/release/{ws_send_floor,commerce_ws_fanout}
# (cargo build --release -p showroom-benches --bin ws_send_floor --bin commerce_ws_fanout).
set -euo pipefail
MODE=${1:?mode}
REL=${CARGO_TARGET_DIR:-target}/release
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
FLOOR_MODE=$MODE FLOOR_LOG=$LOG "$(dirname "$0")/ws_fanout.sh" "${2:?events}" "${3:?rate}" \
  "${4:-10000}" "$REL/ws_send_floor" "$REL/commerce_ws_fanout"
echo "floor: batch=${FLOOR_BATCH:-1024} cc=${FLOOR_CC:-system} $(cat "$LOG")"
