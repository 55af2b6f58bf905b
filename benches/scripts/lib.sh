# Shared by the benchmark scripts (source it: `. "$HERE/lib.sh" NAME`): a work dir $WORK
# (/tmp/NAME.XXXXXX), $OUT (default $WORK/results), $PIDS (every process the script starts;
# stopped on exit, by pid only), and free loopback ports.
WORK=$(mktemp -d "/tmp/$1.XXXXXX")
OUT=${OUT:-$WORK/results}
mkdir -p "$OUT"
PIDS=()
stop_started() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap stop_started EXIT

# A free TCP port (tcp) or UDP port (udp) on 127.0.0.1.
free_port() {
  python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "${1:-tcp}"
}

# Exits with a message naming what is missing: `require TOOL... -- FILE...` (tools on PATH,
# then executables by path).
require() {
  local what files=false
  for what; do
    if [ "$what" = "--" ]; then files=true; continue; fi
    if $files; then
      [ -x "$what" ] || { echo "$(basename "$0"): $what missing (see the header for the build command)" >&2; exit 1; }
    else
      command -v "$what" >/dev/null || { echo "$(basename "$0"): $what is not installed (scripts/deps.sh bench)" >&2; exit 1; }
    fi
  done
}
