#!/usr/bin/env bash
# Instruction counts of the ABR ladder (valgrind callgrind, so machine load does not matter):
# the engine's transcode graph (pipelines/src/transcode/graph.rs, run by the `launch` example
# with showroomscale registered) against the ffmpeg command of benches/scripts/abr_ladder.py,
# on the same 2 s of 1080p30 H.264, one thread everywhere. Prints total instructions and the
# split per library.
#
#   benches/scripts/abr_callgrind.sh [SCALER]    SCALER: showroomscale (default) | videoscale
#   CASCADE=0 ...     scale every rung from 1080p instead of 480p/360p from the 720p frames
#   PEER_CASCADE=1    the ffmpeg peer scales 480p/360p from its 720p frames too
# Needs: valgrind, ffmpeg, gstreamer1.0-{libav,plugins-ugly}; builds the example (release).
set -euo pipefail
cd "$(dirname "$0")/../.."
SCALER=${1:-showroomscale}
CASCADE=${CASCADE:-1}
PEER_CASCADE=${PEER_CASCADE:-0}
OUT=${OUT:-$(mktemp -d /tmp/abr-callgrind.XXXXXX)}
TARGET=${CARGO_TARGET_DIR:-target}

LAUNCH=${LAUNCH:-}  # a built `launch` example, else it is built here
if [ -z "$LAUNCH" ]; then
  cargo build --release -q -p showroom-pipelines --example launch
  LAUNCH="$TARGET/release/examples/launch"
fi

IN="$OUT/in.mp4"
[ -s "$IN" ] || ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i testsrc2=size=1920x1080:rate=30 -f lavfi -i sine=frequency=1000:sample_rate=48000 -t 2 \
  -c:v libx264 -preset ultrafast -tune zerolatency -g 30 -keyint_min 30 -sc_threshold 0 -b:v 5000k \
  -pix_fmt yuv420p -c:a aac -b:a 96k "$IN"

# The engine's graph: decode once, scale (cascade: 480p/360p from 720p), x264enc as in
# transcode/encoder.rs, threads=1 (the engine lets x264 pick; instruction counts are the same
# work either way).
q='queue max-size-buffers=8 max-size-bytes=0 max-size-time=0'
enc() { echo "x264enc tune=zerolatency speed-preset=ultrafast bframes=0 key-int-max=100000 bitrate=$1 option-string=scenecut=0 threads=1 ! fakesink sync=false"; }
raw() { echo "video/x-raw,width=$1,height=$2,pixel-aspect-ratio=1/1"; }
sc=$SCALER
conv="videoconvert ! "  # graph.rs puts it ahead of showroomscale (passthrough for I420)
[ "$sc" = videoscale ] && sc="videoscale add-borders=false" && conv=""
if [ "$CASCADE" = 1 ]; then from=t; else from=d; fi
GRAPH="filesrc location=$IN ! qtdemux ! h264parse ! avdec_h264 max-threads=1 ! $conv tee name=d \
 d. ! $q ! $sc ! $(raw 1280 720) ! tee name=t  t. ! $q ! $(enc 2500) \
 $from. ! $q ! $sc ! $(raw 854 480) ! $(enc 1000) \
 $from. ! $q ! $sc ! $(raw 640 360) ! $(enc 600)"

# The peer: benches/scripts/abr_ladder.py's ffmpeg command, one thread.
if [ "$PEER_CASCADE" = 1 ]; then
  FILTER="[0:v]scale=1280:720,split=3[o0][a][b];[a]scale=854:480[o1];[b]scale=640:360[o2]"
else
  FILTER="[0:v]split=3[s0][s1][s2];[s0]scale=1280:720[o0];[s1]scale=854:480[o1];[s2]scale=640:360[o2]"
fi
PEER=(ffmpeg -hide_banner -loglevel error -nostdin -threads 1 -i "$IN" -filter_threads 1
  -filter_complex_threads 1 -filter_complex "$FILTER")
i=0
for b in 2500 1000 600; do
  PEER+=(-map "[o$i]" -c:v libx264 -threads 1 -preset ultrafast -tune zerolatency -bf 0 -b:v "${b}k"
    -maxrate "${b}k" -bufsize "$((b * 6 / 10))k" -x264-params scenecut=0 -an -f null -)
  i=$((i + 1))
done

split() {  # per-library self instructions of a callgrind file
  callgrind_annotate --threshold=100 "$1" 2>/dev/null | awk '
    /^ *[0-9,]+ .*\[/ { n=$1; gsub(",", "", n); o=$0; sub(/.*\[/, "", o); sub(/\].*/, "", o);
      sub(/.*\//, "", o); by[o]+=n }
    END { for (o in by) if (by[o] > 1e7) printf "  %-40s %6.2f G\n", o, by[o]/1e9 }' | sort -k2 -rn
}
total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { n=$1; gsub(",", "", n); printf "%.2f", n/1e9 }'; }

valgrind --tool=callgrind --callgrind-out-file="$OUT/gst.out" "$LAUNCH" "$GRAPH" 2>"$OUT/gst.log"
valgrind --tool=callgrind --callgrind-out-file="$OUT/ffmpeg.out" "${PEER[@]}" 2>"$OUT/ffmpeg.log"
echo "scaler=$SCALER cascade=$CASCADE peer_cascade=$PEER_CASCADE (files in $OUT)"
echo "gst graph: $(total "$OUT/gst.out") G instructions"; split "$OUT/gst.out"
echo "ffmpeg:    $(total "$OUT/ffmpeg.out") G instructions"; split "$OUT/ffmpeg.out"
