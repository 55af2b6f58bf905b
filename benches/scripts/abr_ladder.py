#!/usr/bin/env python3
"""ABR ladder benchmark: Showroom's transcoder against ffmpeg doing the same ladder.

    benches/scripts/abr_ladder.py [--runs N] [--seconds S] [--out FILE.json]

Input: one 1080p30 H.264 file (testsrc2, x264 ultrafast, GOP 1 s, + AAC), made once. Per run,
one after the other (order alternating between runs), each fed in real time (-re) from that
same file:
  showroom-ladder       the engine with the ladder (720p 2500k, 480p 1000k, 360p 600k, x264
                        ultrafast, tune zerolatency, no B-frames), ffmpeg -c copy publishing RTMP
  showroom-passthrough  the same engine and publish with an empty ladder (LL-HLS packaging only)
  ffmpeg-ladder         ffmpeg decoding the file once and encoding the same three renditions
                        with libx264 (-preset ultrafast -tune zerolatency -bf 0, same bitrates and
                        the same VBV as x264enc's default pass=cbr: -maxrate = bitrate,
                        -bufsize = 600 ms of it; scenecut=0), outputs to the null muxer
CPU = utime+stime of the process (engine: /proc delta over the publish; ffmpeg: rusage), in
CPU-seconds per output minute of the ladder (one minute of all three renditions). The
transcode's own cost is showroom-ladder minus showroom-passthrough.
Then: the largest ladder the engine holds in real time (ladders of 1 to 5 rungs; held = no
rendition dropped by the real-time watchdog and the renditions' newest part within 1.5 s of
the source's), and the added latency of a transcoded rendition: blocking reloads on the source
and on 360p for the same (MSN, part) at once; latency = arrival(360p) - arrival(source).

Env: SHOWROOM_BIN (default target/release/showroom). Loopback only; everything started here is
stopped on exit.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TICK = os.sysconf("SC_CLK_TCK")
LADDER = [("720p", 720, 2500), ("480p", 480, 1000), ("360p", 360, 600)]
BIG = [("720p", 720, 2500), ("540p", 540, 1800), ("480p", 480, 1000), ("360p", 360, 600),
       ("240p", 240, 300)]
WIDTH = {720: 1280, 540: 960, 480: 854, 360: 640, 240: 426}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def make_input(path, seconds):
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30",
         "-keyint_min", "30", "-sc_threshold", "0", "-b:v", "5000k", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "96k", path], check=True)


def ladder_toml(ladder):
    return "[" + ",".join(
        f'{{name="{n}",height={h},bitrate_kbps={b},max_fps=30}}' for n, h, b in ladder) + "]"


class Engine:
    def __init__(self, binary, ladder, workdir):
        self.dir = tempfile.mkdtemp(dir=workdir)
        self.http, self.rtmp = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOWROOM_")}
        env.update({"SHOWROOM_HTTP__BIND": "127.0.0.1", "SHOWROOM_RTMP__BIND": "127.0.0.1",
                    "SHOWROOM_ABR__LADDER": ladder_toml(ladder), "SHOWROOM_ABR__ENCODER": "x264",
                    "RUST_LOG": "info", "NO_COLOR": "1"})
        self.log_path = os.path.join(self.dir, "engine.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "serve", "--data-dir", self.dir, "--http-port", str(self.http),
             "--rtmp-port", str(self.rtmp)], env=env, stdout=self.log, stderr=self.log,
            stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(self.url("/healthz"), timeout=2)
                break
            except Exception:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("engine not ready:\n" + self.text())
                time.sleep(0.1)
        with open(os.path.join(self.dir, "admin_key")) as f:
            key = f.read().strip()
        req = urllib.request.Request(self.url("/api/v1/streams"), method="POST",
                                     data=b'{"title":"abr bench"}',
                                     headers={"authorization": f"Bearer {key}",
                                              "content-type": "application/json"})
        s = json.load(urllib.request.urlopen(req, timeout=10))
        self.id, self.key = s["id"], s["stream_key"]

    def url(self, path):
        return f"http://127.0.0.1:{self.http}{path}"

    def hls(self, file):
        return self.url(f"/hls/{self.id}/{file}")

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def publish(engine, path):
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", path,
         "-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{engine.rtmp}/live/{engine.key}"],
        stdin=subprocess.DEVNULL)


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def newest(playlist):
    """(msn, part index) of the newest part listed."""
    msn = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", playlist).group(1))
    part = -1
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-PART:"):
            part += 1
        elif line and not line.startswith("#"):
            msn += 1
            part = -1
    return msn, part


def run_engine(binary, ladder, path, seconds, workdir):
    e = Engine(binary, ladder, workdir)
    try:
        before = cpu_ticks(e.proc.pid)
        pub = publish(e, path)
        t0 = time.time()
        pub.wait(seconds + 30)
        time.sleep(1.5)  # flush
        ticks = cpu_ticks(e.proc.pid) - before
        wall = time.time() - t0
        log = e.text()
        return {"cpu_s": ticks / TICK, "wall_s": wall,
                "dropped": log.count("rendition dropped"),
                "transcoding": "abr: transcoding session" in log,
                "scaler": ("showroomscale" if "abr: scaler libswscale" in log else
                           "videoscale" if "scaling with videoscale" in log else None)}
    finally:
        e.stop()


def run_ffmpeg(path, ladder):
    n = len(ladder)
    split = f"[0:v]split={n}" + "".join(f"[s{i}]" for i in range(n)) + ";" + ";".join(
        f"[s{i}]scale={WIDTH[h]}:{h}[o{i}]" for i, (_, h, _) in enumerate(ladder))
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", path,
           "-filter_complex", split]
    for i, (_, _, b) in enumerate(ladder):
        # x264enc's pass=cbr is ABR with a VBV of vbv-buf-capacity (600 ms) at the bitrate:
        # the same rate control for libx264.
        cmd += ["-map", f"[o{i}]", "-c:v", "libx264", "-preset", "ultrafast", "-tune",
                "zerolatency", "-bf", "0", "-b:v", f"{b}k", "-maxrate", f"{b}k",
                "-bufsize", f"{b * 6 // 10}k", "-x264-params", "scenecut=0",
                "-an", "-f", "null", "-"]
    t0 = time.time()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = status
    return {"cpu_s": ru.ru_utime + ru.ru_stime, "wall_s": time.time() - t0}


def holds(binary, ladder, path, seconds, workdir):
    """Publishes and samples the newest part of the source and of the smallest rendition."""
    e = Engine(binary, ladder, workdir)
    try:
        pub = publish(e, path)
        lags = []
        end = time.time() + seconds
        last = ladder[-1][0]
        while time.time() < end and pub.poll() is None:
            time.sleep(1)
            try:
                src = newest(get(e.hls("video.m3u8")))
                outs = [newest(get(e.hls(f"{n}.m3u8"))) for n, _, _ in ladder]
            except Exception:
                continue
            # Parts behind the source (200 ms each); whole segments count 10 parts.
            lags.append(max((src[0] - o[0]) * 10 + (src[1] - o[1]) for o in outs))
        pub.kill()
        pub.wait()
        log = e.text()
        dropped = log.count("rendition dropped")
        tail = lags[len(lags) // 2:]
        return {"rungs": [n for n, _, _ in ladder], "dropped": dropped,
                "max_parts_behind_2nd_half": max(tail) if tail else None,
                "held": dropped == 0 and bool(tail) and max(tail) <= 7, "last": last}
    finally:
        e.stop()


def added_latency(binary, path, seconds, workdir):
    e = Engine(binary, LADDER, workdir)
    try:
        pub = publish(e, path)
        deadline = time.time() + 40
        while time.time() < deadline:
            try:
                if "360p.m3u8" in get(e.hls("index.m3u8")):
                    break
            except Exception:
                pass
            time.sleep(0.3)
        time.sleep(3)
        arrivals = {"video": {}, "360p": {}}
        stop = time.time() + seconds

        def follow(name):
            msn, part = newest(get(e.hls(f"{name}.m3u8")))
            while time.time() < stop:
                part += 1
                try:
                    text = get(e.hls(f"{name}.m3u8?_HLS_msn={msn}&_HLS_part={part}"))
                except Exception:
                    msn, part = newest(get(e.hls(f"{name}.m3u8")))
                    continue
                now = time.time()
                n = newest(text)
                if n[0] > msn:  # the segment ended: its next part is part 0 of msn+1
                    msn, part = n[0], n[1]
                arrivals[name].setdefault(n, now)

        ts = [threading.Thread(target=follow, args=(n,)) for n in arrivals]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        pub.kill()
        pub.wait()
        common = set(arrivals["video"]) & set(arrivals["360p"])
        diffs = sorted((arrivals["360p"][k] - arrivals["video"][k]) * 1000 for k in common)
        return {"parts": len(diffs),
                "p50_ms": round(statistics.median(diffs)) if diffs else None,
                "p95_ms": round(diffs[int(len(diffs) * 0.95) - 1]) if diffs else None}
    finally:
        e.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--out")
    ap.add_argument("--skip-holds", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    a = ap.parse_args()
    binary = os.environ.get("SHOWROOM_BIN", os.path.join(REPO, "target/release/showroom"))
    for tool in ("ffmpeg",):
        if not shutil.which(tool):
            sys.exit(f"abr_ladder: {tool} not installed")
    if not os.access(binary, os.X_OK):
        sys.exit(f"abr_ladder: {binary} missing (cargo build --release -p showroom-engine)")
    work = tempfile.mkdtemp(prefix="abr-bench.")
    src = os.path.join(work, "in1080p.mp4")
    make_input(src, a.seconds)
    out = {"load_before": os.getloadavg(), "seconds": a.seconds, "runs": []}
    minutes = a.seconds / 60.0
    for r in range(a.runs):
        order = ["ours", "pass", "ffmpeg"] if r % 2 == 0 else ["ffmpeg", "pass", "ours"]
        run = {"load": os.getloadavg()}
        for what in order:
            if what == "ours":
                run["showroom_ladder"] = run_engine(binary, LADDER, src, a.seconds, work)
            elif what == "pass":
                run["showroom_passthrough"] = run_engine(binary, [], src, a.seconds, work)
            else:
                run["ffmpeg_ladder"] = run_ffmpeg(src, LADDER)
        for k in ("showroom_ladder", "showroom_passthrough", "ffmpeg_ladder"):
            run[k]["cpu_s_per_output_min"] = round(run[k]["cpu_s"] / minutes, 2)
        run["transcode_only_cpu_s_per_output_min"] = round(
            (run["showroom_ladder"]["cpu_s"] - run["showroom_passthrough"]["cpu_s"]) / minutes, 2)
        print(json.dumps(run), flush=True)
        out["runs"].append(run)
    med = lambda xs: round(statistics.median(xs), 2)
    ours = med([r["showroom_ladder"]["cpu_s_per_output_min"] for r in out["runs"]])
    only = med([r["transcode_only_cpu_s_per_output_min"] for r in out["runs"]])
    ff = med([r["ffmpeg_ladder"]["cpu_s_per_output_min"] for r in out["runs"]])
    out["median"] = {"showroom_ladder": ours, "transcode_only": only, "ffmpeg_ladder": ff,
                     "ratio_total": round(ours / ff, 2), "ratio_transcode_only": round(only / ff, 2)}
    print(json.dumps(out["median"]), flush=True)
    if not a.skip_holds:
        out["holds"] = []
        by_size = [BIG[3:4], BIG[2:4], [BIG[0], BIG[2], BIG[3]], BIG[:4], BIG]
        for ladder in by_size:
            h = holds(binary, ladder, src, a.seconds, work)
            h["load"] = os.getloadavg()
            print(json.dumps(h), flush=True)
            out["holds"].append(h)
    if not a.skip_latency:
        out["added_latency"] = added_latency(binary, src, a.seconds, work)
        out["added_latency"]["load"] = os.getloadavg()
        print(json.dumps(out["added_latency"]), flush=True)
    out["load_after"] = os.getloadavg()
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
