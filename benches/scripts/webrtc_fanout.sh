#!/usr/bin/env bash
# WebRTC fan-out, four forwarders in the same run, fed the same packets, loaded by the same tool:
#   engine  the engine's webrtc-rs SFU (signaling/examples/webrtc_fanout.rs `server`: RTMP ingest
#           of one ffmpeg 600 kbit/s publish → RTP egress → Fanout → webrtc-rs peers)
#   str0m   benches/src/bin/str0m_fanout.rs (str0m 0.24, one socket, one task), each packet's
#           datagrams to all viewers sent in batches with sendmmsg
#   str0m1  the same binary with `--send-each`: one sendto per datagram (the unbatched peer)
#   janus   Janus 1.1 (Debian `janus`), streaming plugin, RTP mountpoint 1
# The engine server taps its own Fanout and sends every forwarded packet (H.264 + Opus) to the
# str0m and Janus RTP ports, so all four forward the same packets at the same time.
#
#   benches/scripts/webrtc_fanout.sh [RUNS] [N ...]     (default: 3 runs, N = 100 200)
#
# Per run and N, the load process (`webrtc_fanout load`, N webrtc-rs receivers) is pointed at each
# server in turn (order rotates between runs); it reports received pkt/s, loss, the server's CPU
# (utime+stime from /proc over the window) and RSS growth. Results: $OUT/results.txt, summary by
# summarize_webrtc_fanout.py (medians over runs, ratios to the engine).
#
# Env: SECS (15, measured window), PAUSE_S (8, between loads), SERVERS (default
#      "engine str0m str0m1 janus": which to load, in rotating order; SERVER@PROFILE loads SERVER
#      with viewers that offer only that SRTP profile, e.g. str0m@aes128gcm), PERF=1 (perf record -g each server over the
#      measured window → $OUT/perf-<server>-n<N>-run<R>.data; use for profiles, not for figures),
#      WEBRTC_FANOUT_SRTP (the one SRTP profile the viewers offer, see webrtc_fanout.rs), BIN_DIR (default
#      $CARGO_TARGET_DIR/release or target/release; needs examples/webrtc_fanout and str0m_fanout:
#      `cargo build --release -p showroom-signaling --example webrtc_fanout` and
#      `cargo build --release -p showroom-benches --bin str0m_fanout`), OUT.
# Only loopback addresses are used; every process started here is stopped on exit.
set -euo pipefail

# Janus's libnice never gathers loopback addresses. So the whole run happens in a network
# namespace of its own (unshare -n, as root): lo plus one veth pair whose 198.18.0.1 (RFC 2544
# benchmarking range, exists only inside that namespace) Janus gathers on. Nothing leaves it.
if [ -z "${WEBRTC_FANOUT_NETNS:-}" ]; then
  exec unshare -n env WEBRTC_FANOUT_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
ip link add bench0 type veth peer name bench1
ip addr add 198.18.0.1/32 dev bench0
ip link set bench0 up
ip link set bench1 up

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUNS=${1:-3}
shift || true
NS=("$@")
[ ${#NS[@]} -eq 0 ] && NS=(100 200)
SECS=${SECS:-15}
PAUSE_S=${PAUSE_S:-8}
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/release}
FANOUT=$BIN_DIR/examples/webrtc_fanout
STR0M=$BIN_DIR/str0m_fanout

die() { echo "webrtc_fanout: $*" >&2; exit 1; }
. "$HERE/lib.sh" webrtc-fanout
require ffmpeg janus python3 curl ip -- "$FANOUT" "$STR0M"
wait_log() { # FILE PATTERN SECONDS
  local i
  for i in $(seq 1 $(($3 * 5))); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

# UDP datagrams dropped at full receive buffers in this namespace so far (/proc/net/snmp).
udp_rcvbuf_errors() {
  awk '/^Udp:/ { if (h) { print $6; exit } h = 1 }' /proc/net/snmp
}

RTMP_PORT=$(free_port); ENGINE_HTTP=$(free_port); STR0M_HTTP=$(free_port); JANUS_HTTP=$(free_port)
STR0M_V=$(free_port udp); STR0M_A=$(free_port udp); JANUS_V=$(free_port udp); JANUS_A=$(free_port udp)
STR0M1_HTTP=$(free_port); STR0M1_V=$(free_port udp); STR0M1_A=$(free_port udp)

# --- Janus: only the HTTP transport and the streaming plugin, ICE on lo -------------------------
J=$WORK/janus
mkdir -p "$J"
LIBDIR=$(dirname "$(dirname "$(find /usr/lib -path '*janus/plugins/libjanus_streaming.so' | head -1)")")
others() { # DIR KEEP: comma list of the .so files in DIR except KEEP
  (cd "$LIBDIR/$1" && ls *.so | grep -v "^$2\$" | paste -sd, -)
}
cat >"$J/janus.jcfg" <<EOF
general: {
	configs_folder = "$J"
	plugins_folder = "$LIBDIR/plugins"
	transports_folder = "$LIBDIR/transports"
	events_folder = "$LIBDIR/events"
	loggers_folder = "$LIBDIR/loggers"
	debug_level = 3
	session_timeout = 0
}
nat: {
	ice_enforce_list = "bench0"
}
plugins: {
	disable = "$(others plugins libjanus_streaming.so)"
}
transports: {
	disable = "$(others transports libjanus_http.so)"
}
events: {
	broadcast = false
}
loggers: {
	disable = "$(others loggers none)"
}
EOF
cat >"$J/janus.transport.http.jcfg" <<EOF
general: {
	json = "plain"
	base_path = "/janus"
	http = true
	port = $JANUS_HTTP
	interface = "lo"
	https = false
}
admin: {
	admin_http = false
}
EOF
cat >"$J/janus.plugin.streaming.jcfg" <<EOF
general: {
	string_ids = false
}
bench: {
	type = "rtp"
	id = 1
	description = "bench"
	media = (
		{ type = "video" mid = "v" label = "video" port = $JANUS_V iface = "127.0.0.1" pt = 96 codec = "h264" fmtp = "profile-level-id=42e01f;packetization-mode=1" },
		{ type = "audio" mid = "a" label = "audio" port = $JANUS_A iface = "127.0.0.1" pt = 111 codec = "opus" fmtp = "sprop-stereo=1" }
	)
}
EOF

janus -F "$J" -C "$J/janus.jcfg" -o >"$WORK/janus.log" 2>&1 &
JANUS_PID=$!; PIDS+=("$JANUS_PID")
"$STR0M" "$STR0M_HTTP" "$STR0M_V" "$STR0M_A" >"$WORK/str0m.log" 2>&1 &
STR0M_PID=$!; PIDS+=("$STR0M_PID")
"$STR0M" "$STR0M1_HTTP" "$STR0M1_V" "$STR0M1_A" --send-each >"$WORK/str0m1.log" 2>&1 &
STR0M1_PID=$!; PIDS+=("$STR0M1_PID")
"$FANOUT" server "$RTMP_PORT" "$ENGINE_HTTP" \
  "v=127.0.0.1:$STR0M_V" "a=127.0.0.1:$STR0M_A" "v=127.0.0.1:$JANUS_V" "a=127.0.0.1:$JANUS_A" \
  "v=127.0.0.1:$STR0M1_V" "a=127.0.0.1:$STR0M1_A" \
  >"$WORK/engine.log" 2>&1 &
ENGINE_PID=$!; PIDS+=("$ENGINE_PID")

wait_log "$WORK/engine.log" "server ready" 60 || die "engine server did not start: $(tail -5 "$WORK/engine.log")"
wait_log "$WORK/str0m.log" "str0m_fanout ready" 20 || die "str0m_fanout did not start: $(tail -5 "$WORK/str0m.log")"
wait_log "$WORK/str0m1.log" "str0m_fanout ready" 20 || die "str0m_fanout --send-each did not start: $(tail -5 "$WORK/str0m1.log")"
curl -sf -X POST -d '{"janus":"info","transaction":"x"}' "http://127.0.0.1:$JANUS_HTTP/janus" >/dev/null \
  || die "janus did not start: $(tail -5 "$WORK/janus.log")"
echo "webrtc_fanout: engine pid $ENGINE_PID, str0m pid $STR0M_PID, str0m1 pid $STR0M1_PID, janus pid $JANUS_PID; results in $OUT" >&2

declare -A URL=(
  [engine]="http://127.0.0.1:$ENGINE_HTTP/whep/bench"
  [str0m]="http://127.0.0.1:$STR0M_HTTP/whep/bench"
  [str0m1]="http://127.0.0.1:$STR0M1_HTTP/whep/bench"
  [janus]="janus:http://127.0.0.1:$JANUS_HTTP/janus"
)
declare -A PID=([engine]=$ENGINE_PID [str0m]=$STR0M_PID [str0m1]=$STR0M1_PID [janus]=$JANUS_PID)
read -r -a ORDER <<<"${SERVERS:-engine str0m str0m1 janus}"
K=${#ORDER[@]}
sleep 5
for run in $(seq 1 "$RUNS"); do
  for n in "${NS[@]}"; do
    for i in $(seq 0 $((K - 1))); do
      who=${ORDER[$(((i + run - 1) % K))]}
      # SERVER@PROFILE: the viewers offer only that SRTP profile (WEBRTC_FANOUT_SRTP).
      srv=${who%@*}; srtp=${WEBRTC_FANOUT_SRTP:-}; [ "$srv" != "$who" ] && srtp=${who#*@}
      sleep "$PAUSE_S"
      load=$(uptime | sed 's/.*load average: //')
      ifaces=lo; [ "$srv" = janus ] && ifaces=lo,bench0
      perf=; [ -n "${PERF:-}" ] && perf=$OUT/perf-$who-n$n-run$run.data
      rcvbuf0=$(udp_rcvbuf_errors)
      line=$(WEBRTC_FANOUT_IFACES=$ifaces WEBRTC_FANOUT_PERF=$perf WEBRTC_FANOUT_SRTP=$srtp "$FANOUT" load "${URL[$srv]}" "${PID[$srv]}" "$n" "$SECS" 2>>"$WORK/load.log" | tail -1) || line="error"
      # Datagrams the kernel dropped at a full receiver socket (the viewers' or anyone's in this
      # namespace) during the whole load, joins included: loss the load process caused.
      echo "run=$run server=$who n=$n load_avg=\"$load\" $line udp_rcvbuf_errors=$(($(udp_rcvbuf_errors) - rcvbuf0))" | tee -a "$OUT/results.txt"
    done
  done
done
python3 "$HERE/summarize_webrtc_fanout.py" "$OUT/results.txt"
