#!/usr/bin/env bash
# WebRTC glass-to-glass latency on loopback (one machine, one clock).
#
#   benches/scripts/webrtc_glass.sh [RUNS]      (default 3)
#
# Per run and ingest (whip, rtmp): a fresh engine server (`webrtc_fanout server` with
# WEBRTC_FANOUT_SOURCE=none: RTMP + WHIP ingest, the webrtc-rs SFU, a tap to str0m_fanout) and
# str0m_fanout; `webrtc_glass` publishes a clock-stamped 640x360 30 fps x264 stream (no B-frames)
# over WHIP (webrtcbin) or RTMP (rtmp2sink) and views it over the engine's WHEP with a webrtcbin
# viewer (jitterbuffer LATENCY_MS); a second `webrtc_glass view` watches the same packets through
# str0m_fanout at the same time (the peer). Each prints glass_ms_p50/p95 over SECS seconds.
# Env: SECS (30), LATENCY_MS (50), BIN_DIR (as webrtc_fanout.sh; needs examples/webrtc_fanout,
#      str0m_fanout, webrtc_glass), OUT.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUNS=${1:-3}
SECS=${SECS:-30}
export LATENCY_MS=${LATENCY_MS:-50}
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/release}
FANOUT=$BIN_DIR/examples/webrtc_fanout
STR0M=$BIN_DIR/str0m_fanout
GLASS=$BIN_DIR/webrtc_glass

. "$HERE/lib.sh" webrtc-glass
require python3 curl -- "$FANOUT" "$STR0M" "$GLASS"

for run in $(seq 1 "$RUNS"); do
  for mode in whip rtmp; do
    RTMP=$(free_port); HTTP=$(free_port); SHTTP=$(free_port); SV=$(free_port udp); SA=$(free_port udp)
    "$STR0M" "$SHTTP" "$SV" "$SA" >"$WORK/str0m-$run-$mode.log" 2>&1 &
    PIDS+=($!)
    WEBRTC_FANOUT_SOURCE=none "$FANOUT" server "$RTMP" "$HTTP" "v=127.0.0.1:$SV" "a=127.0.0.1:$SA" \
      >"$WORK/engine-$run-$mode.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$HTTP/" && break; sleep 0.2; done
    if [ "$mode" = whip ]; then
      pub=(whip "http://127.0.0.1:$HTTP/whip/bench" k-bench)
    else
      pub=(rtmp "rtmp://127.0.0.1:$RTMP/live/k-bench" -)
    fi
    load=$(uptime | sed 's/.*load average: //')
    "$GLASS" view - - "http://127.0.0.1:$SHTTP/whep/bench" "$((SECS + 3))" >"$WORK/str0m-view-$run-$mode.txt" 2>>"$WORK/glass.log" &
    peer=$!
    eng=$("$GLASS" "${pub[@]}" "http://127.0.0.1:$HTTP/whep/bench" "$SECS" 2>>"$WORK/glass.log" | tail -1) || eng="error"
    wait "$peer" || true
    s0=$(tail -1 "$WORK/str0m-view-$run-$mode.txt" 2>/dev/null || echo error)
    echo "run=$run ingest=$mode server=engine load_avg=\"$load\" $eng" | tee -a "$OUT/results.txt"
    echo "run=$run ingest=$mode server=str0m load_avg=\"$load\" $s0" | tee -a "$OUT/results.txt"
    stop_started
  done
done
python3 - "$OUT/results.txt" <<'EOF'
import re, statistics, sys
rows = [dict(re.findall(r'(\w+)=("[^"]*"|\S+)', l)) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    if "glass_ms_p50" in r:
        groups.setdefault((r["ingest"], r["server"]), []).append(r)
for (ingest, server), rs in sorted(groups.items()):
    p50 = [float(r["glass_ms_p50"]) for r in rs]
    p95 = [float(r["p95"]) for r in rs]
    print(f"{ingest:5s} via {server:6s}: runs={len(rs)} glass p50 median={statistics.median(p50):.0f} ms "
          f"(runs {p50}) p95 median={statistics.median(p95):.0f} ms (runs {p95}) "
          f"frames counted {[int(r['counted']) for r in rs]}")
EOF
