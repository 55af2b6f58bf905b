#!/usr/bin/env python3
"""Summarise webrtc_fanout.sh results: summarize_webrtc_fanout.py RESULTS_TXT.

Each line: run=R server=S n=N load_avg="..." key=value ... (the `webrtc_fanout load` line).
Prints, per N and server, the median over runs of each figure, and the server CPU per viewer as
a ratio to the engine's (webrtc-rs): the ratio of the medians, and the median of the per-run
ratios (each run's engine load is minutes from the other servers' loads, so it survives the
machine's noise better). Also each median as a fraction of the issue's 2,000 viewers per core.
A load whose viewers lost more than MAX_LOSS_PCT of their packets, or received less than
MIN_SERVED of the packet rate per viewer that the median load saw, is left out of the medians and
listed as such: its viewers were not all served (e.g. DTLS handshakes stalled under the machine's
load), so its server CPU per viewer reads too low.
Writes summary.json beside the input.
"""
import json
import os
import re
import statistics
import sys

KEYS = ["viewers", "pps", "loss", "server_cpu_pct", "packets_per_cpu_s", "viewers_per_core",
        "rss_per_viewer_kib", "first_video_packet_ms_p50", "p95", "udp_rcvbuf_errors"]
TARGET = 2000.0
MAX_LOSS_PCT = 1.0
MIN_SERVED = 0.9


def parse(line):
    out = dict(re.findall(r'(\w+)="([^"]*)"', line))
    for k, v in re.findall(r'(\w+)=([^\s"]+)', line):
        out.setdefault(k, v)
    for k in KEYS + ["run", "n"]:
        if k in out:
            try:
                out[k] = float(out[k].rstrip("%"))
            except ValueError:
                out[k] = None
    return out


def main(path):
    rows = [parse(l) for l in open(path) if l.strip()]
    per_viewer = [r["pps"] / r["viewers"] for r in rows if r.get("pps") and r.get("viewers")]
    ref = statistics.median(per_viewer) if per_viewer else 0.0
    for r in rows:
        served = (r.get("pps") or 0.0) / r["viewers"] if r.get("viewers") else 0.0
        r["valid"] = (r.get("viewers_per_core") is not None
                      and (r.get("loss") or 0.0) <= MAX_LOSS_PCT and served >= MIN_SERVED * ref)
    groups = {}
    for r in rows:
        groups.setdefault((int(r["n"]), r["server"]), []).append(r)
    summary = {}
    for (n, server), rs in sorted(groups.items()):
        ok = [r for r in rs if r["valid"]]
        med = {k: round(statistics.median([r[k] for r in ok if r.get(k) is not None]), 3)
               for k in KEYS if any(r.get(k) is not None for r in ok)}
        med["runs"] = len(ok)
        med["failed_runs"] = len(rs) - len(ok)
        med["left_out"] = [f"run {int(r['run'])}: loss {r.get('loss')} %, {r.get('pps')} pkt/s, "
                           f"{r.get('viewers_per_core')}/core" for r in rs if r not in ok]
        med["viewers_per_core_all"] = [r.get("viewers_per_core") for r in ok]
        med["load_avg"] = [r.get("load_avg") for r in rs]
        summary.setdefault(str(n), {})[server] = med
    # Per run: engine viewers/core ÷ this server's (its CPU per viewer relative to the engine's).
    per_run = {}
    for r in rows:
        if r["valid"]:
            per_run[(int(r["n"]), int(r["run"]), r["server"])] = r["viewers_per_core"]
    for n, by in summary.items():
        eng = by.get("engine", {}).get("viewers_per_core")
        print(f"N={n} (load average per load: {[r.get('load_avg') for r in rows if str(int(r['n'])) == n]})")
        for server, m in by.items():
            # CPU per viewer relative to the engine = engine viewers/core ÷ this viewers/core.
            ratio = (eng / m["viewers_per_core"]) if eng and m.get("viewers_per_core") else None
            m["cpu_per_viewer_vs_engine"] = round(ratio, 3) if ratio else None
            rs = [per_run[(int(n), run, "engine")] / v for (nn, run, srv), v in per_run.items()
                  if nn == int(n) and srv == server and (nn, run, "engine") in per_run]
            m["cpu_per_viewer_vs_engine_per_run"] = [round(x, 3) for x in rs]
            m["cpu_per_viewer_vs_engine_median_of_runs"] = (
                round(statistics.median(rs), 3) if rs else None)
            m["fraction_of_target"] = (round(m["viewers_per_core"] / TARGET, 3)
                                       if m.get("viewers_per_core") else None)
            print(f"  {server:7s} runs={m['runs']} viewers={m.get('viewers')} pps={m.get('pps')} "
                  f"loss={m.get('loss')}% cpu={m.get('server_cpu_pct')}% "
                  f"pkt/cpu-s={m.get('packets_per_cpu_s')} viewers/core={m.get('viewers_per_core')} "
                  f"(runs {m['viewers_per_core_all']}) rss/viewer={m.get('rss_per_viewer_kib')} KiB "
                  f"first-pkt p50={m.get('first_video_packet_ms_p50')} ms "
                  f"cpu/viewer vs engine={m['cpu_per_viewer_vs_engine']} "
                  f"(median of per-run ratios {m['cpu_per_viewer_vs_engine_median_of_runs']}, "
                  f"runs {m['cpu_per_viewer_vs_engine_per_run']}) "
                  f"of 2,000/core target={m['fraction_of_target']} "
                  f"udp rcvbuf drops={m.get('udp_rcvbuf_errors')} left out: {m['left_out']}")
    out = os.path.join(os.path.dirname(os.path.abspath(path)), "summary.json")
    json.dump(summary, open(out, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
