#!/usr/bin/env bash
# Held-request scale: CLIENTS concurrent blocking playlist requests on one live stream.
#
#   benches/scripts/hls_held.sh [RUNS]               (default 3 runs)
#
# Starts Showroom (release build) on loopback, publishes one ffmpeg stream (x264 zerolatency +
# AAC, 640x360, 30 fps, GOP 2 s), then runs `hls_held` RUNS times: CLIENTS viewers, each on its
# own HTTP/1.1 connection, ask together for the next part (_HLS_msn/_HLS_part) for PARTS parts.
# Engine CPU% and peak RSS come from /proc/<pid>. Results: one JSON line per run in $OUT.
# Peer in the same run: nginx-rtmp (same ffmpeg through `-f tee`) gets the same CLIENTS
# simultaneous playlist requests each round; it has no blocking reload and answers at once, so
# its spread is the cost of answering CLIENTS requests at the same moment on this machine.
#
# Env: CLIENTS (2000), PARTS (20), GZIP (empty, or --gzip to send Accept-Encoding: gzip), SHOWROOM_BIN (default target/release/showroom),
#      HLS_HELD_BIN (default target/release/hls_held), OUT.
# Build first: cargo build --release -p showroom-engine --bin showroom -p showroom-benches --bin hls_held
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUNS=${1:-3}
CLIENTS=${CLIENTS:-2000}
PARTS=${PARTS:-20}
GZIP=${GZIP:-}
BIN=${SHOWROOM_BIN:-$REPO/target/release/showroom}
HELD=${HLS_HELD_BIN:-$REPO/target/release/hls_held}
# The engine refuses unknown SHOWROOM_* variables: keep this one out of its environment.
unset SHOWROOM_BIN

die() { echo "hls_held.sh: $*" >&2; exit 1; }
for tool in ffmpeg nginx python3 curl; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/deps.sh test installs it)"
done
[ -x "$BIN" ] || die "$BIN missing: cargo build --release -p showroom-engine --bin showroom"
[ -x "$HELD" ] || die "$HELD missing: cargo build --release -p showroom-benches --bin hls_held"
ulimit -n $((CLIENTS * 2 + 1024)) 2>/dev/null || die "cannot raise the open-file limit to $((CLIENTS * 2 + 1024))"

. "$HERE/lib.sh" hls-held

HTTP=$(free_port); RTMP=$(free_port)
SHOWROOM_HTTP__BIND=127.0.0.1 SHOWROOM_RTMP__BIND=127.0.0.1 RUST_LOG=warn NO_COLOR=1 \
  "$BIN" serve --data-dir "$WORK/engine" --http-port "$HTTP" --rtmp-port "$RTMP" \
  >"$WORK/engine.log" 2>&1 &
ENGINE=$!; PIDS+=("$ENGINE")
for _ in $(seq 1 150); do curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null || die "showroom not ready: $(tail -5 "$WORK/engine.log")"
ADMIN=$(cat "$WORK/engine/admin_key")
stream=$(curl -sf -X POST -H "Authorization: Bearer $ADMIN" -H 'content-type: application/json' \
  -d '{"title":"held bench"}' "http://127.0.0.1:$HTTP/api/v1/streams")
SKEY=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["stream_key"])' <<<"$stream")
HLS=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["hls_url"])' <<<"$stream")

NHTTP=$(free_port); NRTMP=$(free_port)
mkdir -p "$WORK/nginx/hls"
chmod 755 "$WORK"; chmod 777 "$WORK/nginx/hls"   # nginx workers run as nobody
sed "s#@PREFIX@#$WORK/nginx#g; s#@RTMP_PORT@#$NRTMP#g; s#@HTTP_PORT@#$NHTTP#g" \
  "$HERE/nginx-rtmp.conf" >"$WORK/nginx/nginx.conf"
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
NGINX=$!; PIDS+=("$NGINX")
NHLS="http://127.0.0.1:$NHTTP/hls/peer.m3u8"

ffmpeg -hide_banner -loglevel error -nostdin -re \
  -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine=frequency=1000:sample_rate=48000 \
  -map 0:v -map 1:a -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 60 -keyint_min 60 \
  -sc_threshold 0 -b:v 800k -tune zerolatency -c:a aac -b:a 96k -flags +global_header \
  -f tee "[f=flv:onfail=ignore]rtmp://127.0.0.1:$RTMP/live/$SKEY|[f=flv:onfail=ignore]rtmp://127.0.0.1:$NRTMP/live/peer" \
  >"$WORK/ffmpeg.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 150); do curl -sf "$HLS" >/dev/null && curl -sf "$NHLS" >/dev/null && break; sleep 0.2; done
curl -sf "$HLS" >/dev/null || die "playlist not served: $(tail -5 "$WORK/engine.log")"
curl -sf "$NHLS" >/dev/null || die "nginx playlist not served: $(tail -5 "$WORK/nginx/error.log")"
sleep 4
NWORKER=$(pgrep -P "$NGINX" | head -1)
echo "hls_held.sh: showroom pid $ENGINE, $HLS; nginx worker $NWORKER, $NHLS; results in $OUT" >&2

export RUST_BACKTRACE=0
echo "load average at the start: $(cut -d" " -f1-3 /proc/loadavg)" >&2
for run in $(seq 1 "$RUNS"); do
  "$HELD" "$HLS" --clients "$CLIENTS" --parts "$PARTS" --pid "$ENGINE" $GZIP >"$OUT/run$run.txt" \
    || { cat "$OUT/run$run.txt"; die "hls_held run $run failed"; }
  grep '^{' "$OUT/run$run.txt" >"$OUT/run$run.json"
  tail -1 "$OUT/run$run.txt"
  sleep 1
  "$HELD" "$NHLS" --clients "$CLIENTS" --parts "$PARTS" --pid "$NWORKER" $GZIP >"$OUT/peer$run.txt" \
    || { cat "$OUT/peer$run.txt"; die "hls_held (nginx) run $run failed"; }
  grep '^{' "$OUT/peer$run.txt" >"$OUT/peer$run.json"
  echo "nginx peer: $(tail -1 "$OUT/peer$run.txt")"
  sleep 1
done

echo "load average at the end: $(cut -d" " -f1-3 /proc/loadavg)" >&2
python3 - "$OUT" "$RUNS" <<'EOF'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
def summary(prefix):
  rows = [json.load(open(f"{out}/{prefix}{r}.json")) for r in range(1, runs + 1)]
  med = lambda k, sub=None: statistics.median(r[k][sub] if sub else r[k] for r in rows)
  return {
    "runs": runs, "clients": rows[0]["clients"], "parts_per_run": rows[0]["parts"],
    "spread_last_ms_median_of_p50": med("spread_last_ms", "p50"),
    "spread_last_ms_median_of_p95": med("spread_last_ms", "p95"),
    "spread_last_ms_worst": max(r["spread_last_ms"]["max"] for r in rows),
    "parts_within_50ms": sum(r["parts_within_50ms"] for r in rows),
    "parts_total": sum(r["parts"] for r in rows),
    "held_first_ms_median": med("held_first_ms", "p50"),
    "engine_cpu_pct_median": med("engine_cpu_pct"),
    "engine_cpu_ms_per_1k_answers_median": med("engine_cpu_ms_per_1k_answers"),
    "engine_rss_peak_mib_max": max(r["engine_rss_peak_mib"] for r in rows),
    "errors": sum(r["errors"] + r["non_200"] for r in rows),
    "not_held_rounds": sum(r["not_held_rounds"] for r in rows),
  }
s, n = summary("run"), summary("peer")
ratio = lambda a, b: round(a / b, 3) if b else None
print(json.dumps({"showroom": s, "nginx_peer": n, "ratio_showroom_over_nginx": {
    "spread_last_ms_median_of_p50": ratio(s["spread_last_ms_median_of_p50"], n["spread_last_ms_median_of_p50"]),
    "engine_cpu_ms_per_1k_answers": ratio(s["engine_cpu_ms_per_1k_answers_median"], n["engine_cpu_ms_per_1k_answers_median"]),
    "rss_peak": ratio(s["engine_rss_peak_mib_max"], n["engine_rss_peak_mib_max"])}}, indent=2))
EOF
