#!/usr/bin/env python3
"""Summarise llhls_latency.sh results: summarize_latency.py RESULTS_DIR.

Reads runN-showroom.json / runN-nginx.json (hlsjs_play.mjs lines), runN-cpu.json and
runN-check.txt (llhls_check.py output) and prints per-run lines, then medians and p95 over runs
and over the pooled per-second samples, and Showroom/nginx ratios. Also writes summary.json.
"""
import glob
import json
import math
import os
import re
import statistics
import sys


def pct(values, p):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    k = (len(v) - 1) * p / 100.0
    f = int(math.floor(k))
    c = min(f + 1, len(v) - 1)
    return round(v[f] + (v[c] - v[f]) * (k - f), 1)


def med(values):
    v = [x for x in values if x is not None]
    return round(statistics.median(v), 1) if v else None


def settled(player, key):
    w = int(player.get("warmup") or 0)
    return [x for x in player.get(key, [])[w:] if isinstance(x, (int, float))]


def main(d):
    runs = sorted(int(m.group(1)) for f in glob.glob(os.path.join(d, "run*-cpu.json"))
                  if (m := re.search(r"run(\d+)-cpu", f)))
    if not runs:
        sys.exit(f"no results in {d}")
    rows = []
    for r in runs:
        load = lambda name: json.load(open(os.path.join(d, f"run{r}-{name}.json")))
        s, n, cpu = load("showroom"), load("nginx"), load("cpu")
        check = open(os.path.join(d, f"run{r}-check.txt")).read()
        m = re.search(r"llhls_check: (\d+) passed, (\d+) failed, (\d+) warnings; "
                      r"origin_latency_p50_ms=(\S+) p95_ms=(\S+) part_target_ms=(\S+)", check)
        num = lambda x: None if x in (None, "na") else float(x)
        rows.append({
            "run": r,
            "showroom": {"glass": settled(s, "glass_latency_samples_ms"),
                         "pdt": settled(s, "true_latency_samples_ms"),
                         "hls_latency_ms": s.get("latency_p50_ms"), "ok": s.get("ok"),
                         "errors": s.get("error_count"), "fatal": s.get("fatal"),
                         "target_latency_s": s.get("target_latency_s")},
            "nginx": {"glass": settled(n, "glass_latency_samples_ms"),
                      "hls_latency_ms": n.get("latency_p50_ms"), "ok": n.get("ok"),
                      "errors": n.get("error_count"), "fatal": n.get("fatal"),
                      "target_latency_s": n.get("target_latency_s")},
            "cpu": cpu["cpu_pct"], "window_s": cpu["window_s"],
            "check": {"passed": int(m.group(1)), "failed": int(m.group(2)),
                      "origin_p50_ms": num(m.group(4)), "origin_p95_ms": num(m.group(5)),
                      "part_target_ms": num(m.group(6))} if m else None,
        })
    for x in rows:
        c = x["check"] or {}
        print(f"run {x['run']}: glass p50 showroom {pct(x['showroom']['glass'], 50)} ms, "
              f"nginx {pct(x['nginx']['glass'], 50)} ms; PDT (hls.playingDate) showroom "
              f"{pct(x['showroom']['pdt'], 50)} ms; hls.latency showroom "
              f"{x['showroom']['hls_latency_ms']} ms, nginx {x['nginx']['hls_latency_ms']} ms; "
              f"cpu% showroom {x['cpu']['showroom']} nginx {x['cpu']['nginx']}; origin p50 "
              f"{c.get('origin_p50_ms')} p95 {c.get('origin_p95_ms')} ms "
              f"(checker {c.get('passed')} passed, {c.get('failed')} failed)")
    pooled = lambda who, key: [v for x in rows for v in x[who][key]]
    summary = {
        "runs": len(rows),
        "glass_latency_ms": {
            who: {"median_of_run_p50": med([pct(x[who]["glass"], 50) for x in rows]),
                  "pooled_p50": pct(pooled(who, "glass"), 50),
                  "pooled_p95": pct(pooled(who, "glass"), 95),
                  "samples": len(pooled(who, "glass"))} for who in ("showroom", "nginx")},
        "pdt_latency_ms_showroom": {"pooled_p50": pct(pooled("showroom", "pdt"), 50),
                                    "pooled_p95": pct(pooled("showroom", "pdt"), 95)},
        "hls_latency_ms_median": {who: med([x[who]["hls_latency_ms"] for x in rows])
                                  for who in ("showroom", "nginx")},
        "cpu_pct_median": {who: med([x["cpu"][who] for x in rows]) for who in ("showroom", "nginx")},
        "origin_latency_ms": {
            "median_of_run_p50": med([(x["check"] or {}).get("origin_p50_ms") for x in rows]),
            "median_of_run_p95": med([(x["check"] or {}).get("origin_p95_ms") for x in rows]),
            "max_of_run_p95": max([v for x in rows if (v := (x["check"] or {}).get("origin_p95_ms"))
                                   is not None], default=None),
            "part_target_ms": med([(x["check"] or {}).get("part_target_ms") for x in rows]),
            "checker_failures": [(x["check"] or {}).get("failed") for x in rows]},
        "player_errors": {who: [x[who]["errors"] for x in rows] for who in ("showroom", "nginx")},
        "player_fatal": {who: [x[who]["fatal"] for x in rows] for who in ("showroom", "nginx")},
    }
    g = summary["glass_latency_ms"]
    ratio = lambda a, b: round(a / b, 3) if a is not None and b else None
    summary["ratio_showroom_over_nginx"] = {
        "glass_latency_p50": ratio(g["showroom"]["pooled_p50"], g["nginx"]["pooled_p50"]),
        "cpu": ratio(summary["cpu_pct_median"]["showroom"], summary["cpu_pct_median"]["nginx"]),
    }
    json.dump(summary, open(os.path.join(d, "summary.json"), "w"), indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: summarize_latency.py RESULTS_DIR")
    main(sys.argv[1])
