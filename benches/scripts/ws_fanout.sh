#!/usr/bin/env bash
# One run of the WebSocket fan-out benchmark (docs/benchmarks.md, "Fan-out: 10,000 WebSocket
# subscribers on one stream"): a fresh commerce_server (SQLite, in-process bus), the
# commerce_ws_fanout load tool in a separate process, and the server's CPU over the tool's run
# (connects + deliveries) read from /proc/PID/stat.
#
#   benches/scripts/ws_fanout.sh EVENTS RATE [SUBSCRIBERS] [SERVER_BIN] [TOOL_BIN]
#   e.g. benches/scripts/ws_fanout.sh 100 10        # 100k deliveries/s offered
#        benches/scripts/ws_fanout.sh 200 25        # 250k deliveries/s offered
#        WS_TOOL_ARGS="--io epoll" benches/scripts/ws_fanout.sh 100 10   # the tool's epoll reader
# WS_TOOL_ARGS: extra arguments for the tool (a tool built before `--io` existed takes none).
# Binaries default to $CARGO_TARGET_DIR (or target)/release/{commerce_server,commerce_ws_fanout}
# (cargo build --release -p showroom-benches --bin commerce_server --bin commerce_ws_fanout).
# Prints one line: the tool's report plus server_cpu_s (whole run), server_cpu_live_s (from
# the tool's "connected" line on: the deliveries alone) and the load average.
set -euo pipefail
EVENTS=${1:?events}
RATE=${2:?rate}
SUBS=${3:-10000}
REL=${CARGO_TARGET_DIR:-target}/release
SRV=${4:-$REL/commerce_server}
TOOL=${5:-$REL/commerce_ws_fanout}
OUT=$(mktemp)
TOUT=$(mktemp)
TERR=$(mktemp)
"$SRV" --port 0 >"$OUT" 2>/dev/null &
SPID=$!
trap 'kill $SPID 2>/dev/null || true; rm -f "$OUT" "$TOUT" "$TERR"' EXIT
for _ in $(seq 100); do grep -q READY "$OUT" && break; sleep 0.1; done
URL=$(awk '/READY/ {print $2}' "$OUT")
cpu() { awk '{print $14 + $15}' "/proc/$SPID/stat"; }
C0=$(cpu)
# shellcheck disable=SC2086 # WS_TOOL_ARGS is a list of arguments
"$TOOL" --url "$URL" --stream s1 --admin-key bench-admin \
  --subscribers "$SUBS" --events "$EVENTS" --rate "$RATE" ${WS_TOOL_ARGS:-} >"$TOUT" 2>"$TERR" &
TPID=$!
CL=$C0
while kill -0 $TPID 2>/dev/null; do
  if grep -q "subscribers connected" "$TERR"; then CL=$(cpu); break; fi
  sleep 0.05
done
wait $TPID || RC=$?
C1=$(cpu)
cat "$TERR" >&2
echo "server=$(basename "$SRV") $(cat "$TOUT") server_cpu_s=$(awk "BEGIN {print ($C1 - $C0) / 100}") \
server_cpu_live_s=$(awk "BEGIN {print ($C1 - $CL) / 100}") load=\"$(cut -d' ' -f1-3 /proc/loadavg)\" rc=${RC:-0}"
