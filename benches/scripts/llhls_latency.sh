#!/usr/bin/env bash
# RTMP -> LL-HLS latency benchmark, Showroom against nginx-rtmp in the same run.
#
#   benches/scripts/llhls_latency.sh [RUNS]          (default 3 runs)
#
# Per run: one ffmpeg (x264 zerolatency + AAC, 640x360, 30 fps, GOP 2 s, the source clock burned
# into the picture) feeds both servers through `-f tee`. Then, one after the other (order
# alternates between runs), hls.js (lowLatencyMode) in headless Chromium plays Showroom's LL-HLS
# and nginx-rtmp's HLS for PLAY_S seconds each; CPU (utime+stime from /proc) of both servers is
# taken over that same window. Last, llhls_check.py measures Showroom's origin latency.
# Results: JSON per run in $OUT (default a temp dir, printed), summary by summarize_latency.py.
#
# Env: PLAY_S (25), WARMUP_S (8), CHECK_S (20), BFRAMES (0), HLS_CONFIG (extra hls.js options as
#      JSON for both players, e.g. '{"maxLiveSyncPlaybackRate":1.5}'; default none), SHOWROOM_BIN
#      (default target/release/showroom: `cargo build --release -p showroom-engine --bin showroom`),
#      LLHLS_CHECK_PY (path of llhls_check.py), OUT.
# Only loopback addresses are used; every process started here is stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUNS=${1:-3}
PLAY_S=${PLAY_S:-25}
WARMUP_S=${WARMUP_S:-8}
CHECK_S=${CHECK_S:-20}
BFRAMES=${BFRAMES:-0}
BIN=${SHOWROOM_BIN:-$REPO/target/release/showroom}
# The engine refuses unknown SHOWROOM_* variables: keep this one out of its environment.
unset SHOWROOM_BIN

die() { echo "llhls_latency: $*" >&2; exit 1; }
for tool in ffmpeg nginx node npm python3 curl; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/deps.sh test installs it)"
done
[ -x "$BIN" ] || die "$BIN missing: cargo build --release -p showroom-engine --bin showroom"
[ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] || die "libnginx-mod-rtmp is not installed"
CHECKER=${LLHLS_CHECK_PY:-}
for c in "$REPO/../shared/tools/llhls_check.py" /work/shared/tools/llhls_check.py; do
  [ -z "$CHECKER" ] && [ -f "$c" ] && CHECKER=$c
done
[ -n "$CHECKER" ] || die "llhls_check.py not found (shared/ beside the repo, or LLHLS_CHECK_PY)"
if [ ! -f "$REPO/tests/browser/node_modules/hls.js/dist/hls.min.js" ]; then
  (cd "$REPO/tests/browser" && npm ci --no-audit --no-fund >/dev/null)
fi

. "$HERE/lib.sh" llhls-bench
chmod 755 "$WORK"
# utime+stime (clock ticks) summed over the given pids and their children.
ticks() {
  local total=0 p
  for p in "$@" $(for q in "$@"; do pgrep -P "$q" || true; done); do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}
wait_http() { # URL SECONDS [GREP]
  local i
  for i in $(seq 1 $(($2 * 5))); do
    if body=$(curl -sf "$1" 2>/dev/null) && { [ -z "${3:-}" ] || grep -q -- "$3" <<<"$body"; }; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# --- Showroom -------------------------------------------------------------------------------
HTTP=$(free_port); RTMP=$(free_port)
SHOWROOM_HTTP__BIND=127.0.0.1 SHOWROOM_RTMP__BIND=127.0.0.1 RUST_LOG=warn NO_COLOR=1 \
  "$BIN" serve --data-dir "$WORK/engine" --http-port "$HTTP" --rtmp-port "$RTMP" \
  >"$WORK/engine.log" 2>&1 &
ENGINE=$!; PIDS+=("$ENGINE")
wait_http "http://127.0.0.1:$HTTP/healthz" 30 || die "showroom not ready: $(tail -5 "$WORK/engine.log")"
ADMIN=$(cat "$WORK/engine/admin_key")

# --- nginx-rtmp peer -----------------------------------------------------------------------
NHTTP=$(free_port); NRTMP=$(free_port)
mkdir -p "$WORK/nginx/hls"
chmod 777 "$WORK/nginx/hls"   # nginx workers run as nobody
sed "s#@PREFIX@#$WORK/nginx#g; s#@RTMP_PORT@#$NRTMP#g; s#@HTTP_PORT@#$NHTTP#g" \
  "$HERE/nginx-rtmp.conf" >"$WORK/nginx/nginx.conf"
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
NGINX=$!; PIDS+=("$NGINX")
sleep 0.5
kill -0 "$NGINX" 2>/dev/null || die "nginx did not start: $(cat "$WORK/nginx/error.log")"

echo "llhls_latency: showroom pid $ENGINE (http $HTTP, rtmp $RTMP), nginx pid $NGINX (http $NHTTP, rtmp $NRTMP); results in $OUT" >&2

play() { # LABEL URL T0 RUN
  node "$REPO/tests/browser/hlsjs_play.mjs" "$2" --seconds "$PLAY_S" --warmup "$WARMUP_S" \
    --source-t0-ms "$3" --label "$1" ${HLS_CONFIG:+--hls-config "$HLS_CONFIG"} --screenshot "$OUT/run$4-$1.png" >"$OUT/run$4-$1.json" \
    || die "hlsjs_play failed for $1"
}

echo "load average at the start: $(cut -d" " -f1-3 /proc/loadavg)" | tee "$OUT/load_start.txt" >&2
for run in $(seq 1 "$RUNS"); do
  stream=$(curl -sf -X POST -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' \
    -d '{"title":"latency bench"}' "http://127.0.0.1:$HTTP/api/v1/streams")
  SKEY=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["stream_key"])' <<<"$stream")
  HLS=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["hls_url"])' <<<"$stream")
  NHLS="http://127.0.0.1:$NHTTP/hls/run$run.m3u8"
  if [ "$BFRAMES" = 0 ]; then X264=(-tune zerolatency); else X264=(-bf "$BFRAMES"); fi
  T0=$(date +%s%3N)
  ffmpeg -hide_banner -loglevel error -nostdin -re \
    -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine=frequency=1000:sample_rate=48000 \
    -filter_complex "[0:v]split[a][b];[b]crop=576:16:0:0,geq=lum='if(mod(floor(T*100/pow(2,floor(X/24))),2),235,16)':cb=128:cr=128[s];[a][s]overlay=0:0[v]" \
    -map '[v]' -map 1:a -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 60 -keyint_min 60 \
    -sc_threshold 0 -b:v 800k "${X264[@]}" -c:a aac -b:a 96k -flags +global_header \
    -f tee "[f=flv:onfail=ignore]rtmp://127.0.0.1:$RTMP/live/$SKEY|[f=flv:onfail=ignore]rtmp://127.0.0.1:$NRTMP/live/run$run" \
    >"$WORK/ffmpeg$run.log" 2>&1 &
  FF=$!; PIDS+=("$FF")
  wait_http "$HLS" 30 || die "showroom playlist not served: $(tail -5 "$WORK/engine.log")"
  wait_http "$NHLS" 30 "#EXTINF" || die "nginx playlist not served: $(tail -5 "$WORK/nginx/error.log")"
  sleep 4

  c0_s=$(ticks "$ENGINE"); c0_n=$(ticks "$NGINX"); w0=$(date +%s%N)
  if [ $((run % 2)) = 1 ]; then
    play showroom "$HLS" "$T0" "$run"; play nginx "$NHLS" "$T0" "$run"
  else
    play nginx "$NHLS" "$T0" "$run"; play showroom "$HLS" "$T0" "$run"
  fi
  c1_s=$(ticks "$ENGINE"); c1_n=$(ticks "$NGINX"); w1=$(date +%s%N)

  python3 "$CHECKER" "$HLS" --duration "$CHECK_S" --json >"$OUT/run$run-check.txt" 2>&1 || true
  kill "$FF" 2>/dev/null || true
  wait "$FF" 2>/dev/null || true

  python3 - "$OUT" "$run" "$c0_s" "$c1_s" "$c0_n" "$c1_n" "$w0" "$w1" <<'EOF'
import json, sys
out, run, c0s, c1s, c0n, c1n, w0, w1 = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
wall = (w1 - w0) / 1e9
rec = {"run": int(run), "window_s": round(wall, 1),
       "cpu_pct": {"showroom": round((c1s - c0s) / 100 / wall * 100, 2),
                   "nginx": round((c1n - c0n) / 100 / wall * 100, 2)}}
json.dump(rec, open(f"{out}/run{run}-cpu.json", "w"))
print(f"run {run}: cpu% over {wall:.0f} s: showroom {rec['cpu_pct']['showroom']}, nginx {rec['cpu_pct']['nginx']}",
      file=sys.stderr)
EOF
  tail -1 "$OUT/run$run-check.txt" >&2
done

echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg)" | tee "$OUT/load_end.txt" >&2
python3 "$HERE/summarize_latency.py" "$OUT"
