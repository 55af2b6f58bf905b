#!/usr/bin/env bash
# One run of the WebSocket fan-out benchmark (docs/benchmarks.md, "Fan-out: 10,000 WebSocket
# subscribers on one stream"): a fresh commerce_server (SQLite, in-process bus), the
# commerce_ws_fanout load tool in a separate process, and the server's CPU over the tool's run
# (connects + deliveries) read from /proc/PID/stat.
#
#   benches/scripts/ws_fanout.sh EVENTS RATE [SUBSCRIBERS] [SERVER_BIN] [TOOL_BIN]
#   e.g. benches/scripts/ws_fanout.sh 100 10        # 100k deliveries/s offered
#        benches/scripts/ws_fanout.sh 200 25        # 250k deliveries/s offered
# Binaries default to $CARGO_TARGET_DIR (or target)/release/{commerce_server,commerce_ws_fanout}
# (cargo build --release -p showroom-benches --bin commerce_server --bin commerce_ws_fanout).
# Prints one line: the tool's report plus server_cpu_s and the load average.
set -euo pipefail
EVENTS=${1:?events}
RATE=${2:?rate}
SUBS=${3:-10000}
REL=${CARGO_TARGET_DIR:-target}/release
SRV=${4:-$REL/commerce_server}
TOOL=${5:-$REL/commerce_ws_fanout}
OUT=$(mktemp)
"$SRV" --port 0 >"$OUT" 2>/dev/null &
SPID=$!
trap 'kill $SPID 2>/dev/null || true; rm -f "$OUT"' EXIT
for _ in $(seq 100); do grep -q READY "$OUT" && break; sleep 0.1; done
URL=$(awk '/READY/ {print $2}' "$OUT")
cpu() { awk '{print $14 + $15}' "/proc/$SPID/stat"; }
C0=$(cpu)
LINE=$("$TOOL" --url "$URL" --stream s1 --admin-key bench-admin \
  --subscribers "$SUBS" --events "$EVENTS" --rate "$RATE") || RC=$?
C1=$(cpu)
echo "server=$(basename "$SRV") $LINE server_cpu_s=$(awk "BEGIN {print ($C1 - $C0) / 100}") \
load=\"$(cut -d' ' -f1-3 /proc/loadavg)\" rc=${RC:-0}"
