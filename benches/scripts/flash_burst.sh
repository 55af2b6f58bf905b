#!/usr/bin/env bash
# Flash-sale burst, Redis path and SQL-only peer in the same run (docs/benchmarks.md,
# "Flash-sale burst"). Starts its own PostgreSQL (fsync off) and redis-server on free loopback
# ports; ROUNDS rounds, each one run of each path (order alternating), a fresh commerce_server per
# run; `uptime` recorded before every run; medians per path at the end.
#   cargo build --release -p showroom-benches --bin commerce_server --bin commerce_flash_burst
#   benches/scripts/flash_burst.sh [ROUNDS=3] [ATTEMPTS=5000] [STOCK=100] [CONCURRENCY=256]
# RATE=R runs both paths open loop instead (--rate R: attempt i sent at i/R s whatever is in
# flight, latency from the scheduled time; CONCURRENCY then only sizes the idle connection pool
# and WARM's warm-up); the summary adds the all/winners p90/p99 and whether the tool kept the
# schedule (its send lag p99 <= 5 ms).
# WARM=1 passes --warm-connections to the load tool (keep-alive connections opened before the clock).
# RUST_LOG=showroom_commerce::flash_timing=debug makes each server log its winners' stages
# (kept in $OUT/server-<path>-<n>.err; benches/scripts/flash_timing.py sums them up).
# PEER_BIN=/path/to/another/commerce_server: A/B of two builds instead — each round runs the Redis
# path on this build (`redis`) and on PEER_BIN (`peer`, also with Redis), order alternating, same
# PostgreSQL, same redis-server, same load tool; the SQL-only path is not run.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" flash_burst
ROUNDS=${1:-3}; ATTEMPTS=${2:-5000}; STOCK=${3:-100}; CONC=${4:-256}
BIN=${CARGO_TARGET_DIR:-$HERE/../../target}/release
require redis-server setpriv -- /usr/local/bin/initdb /usr/local/bin/postgres "$BIN/commerce_server" "$BIN/commerce_flash_burst" ${PEER_BIN:+"$PEER_BIN"}

chown postgres:postgres "$WORK"
as_pg() { setpriv --reuid=postgres --regid=postgres --clear-groups -- env HOME=/tmp "$@"; }
as_pg /usr/local/bin/initdb -D "$WORK/pg" -A trust -U postgres --no-sync -E UTF8 >/dev/null
PGPORT=$(free_port)
# Not through the as_pg function: a backgrounded function is a subshell, and $! would be that
# subshell, not postgres (the EXIT trap then left PostgreSQL running).
setpriv --reuid=postgres --regid=postgres --clear-groups -- env HOME=/tmp /usr/local/bin/postgres -D "$WORK/pg" -k "$WORK" -p "$PGPORT" -c listen_addresses=127.0.0.1 \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 \
  >"$WORK/postgres.log" 2>&1 &
PIDS+=($!)
REDISPORT=$(free_port)
redis-server --port "$REDISPORT" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  (echo >/dev/tcp/127.0.0.1/"$PGPORT") 2>/dev/null && (echo >/dev/tcp/127.0.0.1/"$REDISPORT") 2>/dev/null && break
  sleep 0.1
done
sleep 1
DB=postgres://postgres@127.0.0.1:$PGPORT/postgres

one_run() { # PATH_NAME [--redis URL]
  local name=$1; shift
  RUN=$((${RUN:-0} + 1))
  # A file per run: with one shared file, the loop below could read the previous (killed)
  # server's READY line before the new process had truncated it, and aim the tool at a dead port.
  local ready="$WORK/server-$RUN.out"
  # Created before the server starts: under load the background redirection may not have run
  # yet when the loop below first reads it (sed then failed, and `set -e` ended the script).
  : >"$ready"
  local server="$BIN/commerce_server"
  [ "$name" = peer ] && server=$PEER_BIN
  "$server" --port 0 --db "$DB" "$@" >"$ready" 2>"$OUT/server-$name-$RUN.err" &
  local spid=$!
  local url=""
  for _ in $(seq 300); do
    url=$(sed -n 's/^READY //p' "$ready" 2>/dev/null || true)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { echo "commerce_server did not start" >&2; cat "$OUT/server-$name-$RUN.err" >&2; kill "$spid"; exit 1; }
  echo "[$name] uptime: $(uptime)" | tee -a "$OUT/log"
  "$BIN/commerce_flash_burst" --url "$url" --stream s1 --admin-key bench-admin --attempts "$ATTEMPTS" \
    --stock "$STOCK" --concurrency "$CONC" --runs 1 --db "$DB" ${WARM:+--warm-connections} ${RATE:+--rate "$RATE"} 2>&1 | sed "s/^/[$name] /" | tee -a "$OUT/log"
  kill "$spid"; wait "$spid" 2>/dev/null || true
}

REDIS="redis://127.0.0.1:$REDISPORT"
peer_run() { if [ -n "${PEER_BIN:-}" ]; then one_run peer --redis "$REDIS"; else one_run sql; fi; }
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then
    one_run redis --redis "$REDIS"; peer_run
  else
    peer_run; one_run redis --redis "$REDIS"
  fi
done
python3 - "$OUT/log" <<'PY'
import re, statistics, sys
runs, extra = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"\[(\w+)\] percentiles_ms all p50=\S+ p90=([\d.]+) p99=([\d.]+) max=\S+ winners p50=([\d.]+) p90=\S+ p99=([\d.]+)", line)
    if m:
        extra.setdefault(m[1], {}).setdefault("pct", []).append(tuple(float(x) for x in m.groups()[1:]))
    m = re.match(r"\[(\w+)\] open_loop .*sent_per_s=(\d+) send_lag_ms p50=\S+ p99=([\d.]+).* schedule_kept=(\w+)", line)
    if m:
        extra.setdefault(m[1], {}).setdefault("open", []).append((float(m[2]), float(m[3]), m[4]))
    m = re.match(r"\[(\w+)\] attempts=.*attempts_per_s=(\d+) latency_ms p50=([\d.]+) p99=([\d.]+) max=([\d.]+) oversell=(\w+)", line)
    if m:
        runs.setdefault(m[1], []).append((float(m[2]), float(m[3]), float(m[4]), m[6]))
for name, rs in runs.items():
    med = lambda i: statistics.median(r[i] for r in rs)
    print(f"{name}: runs={len(rs)} attempts_per_s median={med(0):.0f} ({' / '.join(f'{r[0]:.0f}' for r in rs)}) "
          f"p50 median={med(1):.1f} ms p99 median={med(2):.1f} ms ({' / '.join(f'{r[2]:.1f}' for r in rs)}) oversell={[r[3] for r in rs]}")
    e = extra.get(name, {})
    if e.get("pct"):
        ps = e["pct"]
        pm = lambda i: statistics.median(p[i] for p in ps)
        print(f"{name}: p90 median={pm(0):.1f} ms winners p50 median={pm(2):.1f} ms winners p99 median={pm(3):.1f} ms "
              f"({' / '.join(f'{p[3]:.1f}' for p in ps)})")
    if e.get("open"):
        os_ = e["open"]
        print(f"{name}: open loop sent_per_s={' / '.join(f'{o[0]:.0f}' for o in os_)} send_lag_p99_ms={' / '.join(f'{o[1]:.1f}' for o in os_)} "
              f"schedule_kept={[o[2] for o in os_]}")
PY
