#!/usr/bin/env bash
# Cost of recording: two engines fed by the same ffmpeg (`-f tee`), one with `[recording]`
# enabled (default: fMP4 segments + a thumbnail every 5 s), the peer with recording.enabled=false.
#
#   benches/scripts/record_cpu.sh [RUNS] [SECONDS]     (default 3 runs of 30 s)
#
# Per run: utime+stime of each engine over the publish (from /proc/<pid>/stat), as % of one core,
# the ratio, and the bytes written under recordings/. One JSON line per run on stdout.
# Env: SHOWROOM_BIN (default target/release/showroom).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUNS=${1:-3}
SECS=${2:-30}
BIN=${SHOWROOM_BIN:-$REPO/target/release/showroom}
unset SHOWROOM_BIN
die() { echo "record_cpu.sh: $*" >&2; exit 1; }
for tool in ffmpeg python3 curl; do command -v "$tool" >/dev/null || die "$tool is not installed"; done
[ -x "$BIN" ] || die "$BIN missing: cargo build --release -p showroom-engine --bin showroom"

WORK=$(mktemp -d /tmp/record-cpu.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start_engine NAME ENABLED → sets PID_<NAME>, HTTP_<NAME>, RTMP_<NAME>, KEY_<NAME>
start_engine() {
  local name=$1 enabled=$2 http rtmp dir admin stream
  http=$(free_port); rtmp=$(free_port); dir=$WORK/$name-$run
  SHOWROOM_HTTP__BIND=127.0.0.1 SHOWROOM_RTMP__BIND=127.0.0.1 SHOWROOM_RECORDING__ENABLED=$enabled \
    RUST_LOG=warn NO_COLOR=1 "$BIN" serve --data-dir "$dir" --http-port "$http" --rtmp-port "$rtmp" \
    >"$dir.log" 2>&1 &
  local pid=$!; PIDS+=("$pid")
  for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$http/healthz" >/dev/null && break; sleep 0.2; done
  admin=$(cat "$dir/admin_key")
  stream=$(curl -sf -X POST -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
    -d '{"title":"record bench"}' "http://127.0.0.1:$http/api/v1/streams")
  printf -v "PID_$name" %s "$pid"
  printf -v "URL_$name" %s "rtmp://127.0.0.1:$rtmp/live/$(python3 -c 'import json,sys; print(json.load(sys.stdin)["stream_key"])' <<<"$stream")"
  printf -v "DIR_$name" %s "$dir"
}

echo "# load at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
HZ=$(getconf CLK_TCK)
for run in $(seq 1 "$RUNS"); do
  start_engine on true
  start_engine off false
  a0=$(cpu_ticks "$PID_on"); b0=$(cpu_ticks "$PID_off")
  ffmpeg -hide_banner -loglevel error -nostdin -re -f lavfi -i testsrc2=size=1280x720:rate=30 \
    -f lavfi -i sine=frequency=1000:sample_rate=48000 -t "$SECS" \
    -c:v libx264 -preset veryfast -tune zerolatency -g 60 -b:v 2500k -c:a aac -b:a 96k -flags +global_header \
    -map 0:v -map 1:a -f tee "[f=flv]$URL_on|[f=flv]$URL_off"
  sleep 6 # the recorder's last segment and sprite sheet
  a1=$(cpu_ticks "$PID_on"); b1=$(cpu_ticks "$PID_off")
  bytes=$(du -sb "$DIR_on/recordings" | cut -f1)
  python3 -c "
import json
on=($a1-$a0)/$HZ/($SECS+6)*100; off=($b1-$b0)/$HZ/($SECS+6)*100
print(json.dumps({'run': $run, 'seconds': $SECS, 'cpu_recording_pct': round(on,2), 'cpu_peer_pct': round(off,2), 'ratio': round(on/off,3) if off else None, 'recorded_bytes': $bytes}))"
  kill "$PID_on" "$PID_off"; wait "$PID_on" "$PID_off" 2>/dev/null || true
done
echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
