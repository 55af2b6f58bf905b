#!/usr/bin/env bash
# Installs the Debian 12 packages Showroom needs, only those missing (fast when nothing is).
# Usage: scripts/deps.sh run|test|bench   (bench = test + the peers the benchmarks run beside us)
set -euo pipefail

run_pkgs=(
  pkg-config gcc
  libssl-dev  # str0m's OpenSSL backend (benches/str0m_fanout; the workspace builds it)
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-nice gstreamer1.0-libav gstreamer1.0-tools
  libswscale-dev  # FFmpeg's scaler, linked by pipelines' showroomscale element (ABR ladder)
)
# Real clients and servers the test suite and benchmarks drive.
test_pkgs=(ffmpeg redis-server postgresql chromium python3 nginx-light libnginx-mod-rtmp procps)
# Peers measured in the same run by benches/scripts (not needed by the test suite).
bench_pkgs=(janus curl valgrind)  # valgrind: benches/scripts/abr_callgrind.sh

want=("${run_pkgs[@]}")
# The web client is built with node + npm; Debian's only if none is on PATH.
command -v npm >/dev/null || want+=(nodejs npm)
[ "${1:-run}" = "test" ] && want+=("${test_pkgs[@]}")
[ "${1:-run}" = "bench" ] && want+=("${test_pkgs[@]}" "${bench_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  # Services are started by the tests themselves; don't let package scripts start them.
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  $sudo rm -f /usr/sbin/policy-rc.d
fi

# moto: the S3-compatible server tests/tests/record_s3.rs records to (PyPI, not Debian).
if [ "${1:-run}" != "run" ] && ! python3 -c 'import moto.server' 2>/dev/null; then
  echo "deps: installing moto[server]==5.2.1"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-pip
  fi
  # Debian's own python3 is "externally managed" (PEP 668): allow the install there.
  python3 -m pip install -q 'moto[server]==5.2.1' 2>/dev/null \
    || $sudo python3 -m pip install -q --break-system-packages 'moto[server]==5.2.1'
fi

# s3s-fs: a second, independent S3 server for the same tests (crates.io; built once, ~5 min).
S3S_FS_VERSION=0.14.1  # tests/src/services.rs S3S_FS_VERSION
if [ "${1:-run}" != "run" ] && command -v cargo >/dev/null \
  && ! s3s-fs --version 2>/dev/null | grep -q " $S3S_FS_VERSION\$"; then
  echo "deps: installing s3s-fs $S3S_FS_VERSION (cargo install)"
  cargo install -q --locked --features binary "s3s-fs@$S3S_FS_VERSION"
fi

if ! command -v cargo >/dev/null; then
  echo "deps: cargo not found: install a Rust toolchain (1.95 or newer) with rustup first" >&2
  exit 1
fi
