#!/usr/bin/env python3
"""Where a flash-sale winner's time goes, from commerce_server logs written with
RUST_LOG=showroom_commerce::flash_timing=debug (benches/scripts/flash_burst.sh keeps them as
$OUT/server-<path>-<n>.err). Usage: flash_timing.py FILE..."""
import re, statistics, sys

def pct(v, p):
    v = sorted(v)
    return v[min(int(len(v) * p), len(v) - 1)] / 1000 if v else float("nan")

for path in sys.argv[1:]:
    win, batch, settle, laps = [], [], [], []
    for line in open(path):
        kv = dict(re.findall(r"(\w+)=(\d+)", line))
        if "flash winner " in line:
            win.append({k: int(v) for k, v in kv.items()})
        elif "flash winners batch committed" in line:
            batch.append({k: int(v) for k, v in kv.items()})
        elif "settlement batch committed" in line:
            settle.append({k: int(v) for k, v in kv.items()})
        elif "flash winners statements" in line:
            laps.append(re.findall(r'\("([^"]+)", (\d+)\)', line))
    if not win:
        continue
    t0 = min(w["at_us"] for w in win)
    print(f"{path}: {len(win)} winners")
    print("  handler entry after first winner's: p50 %.1f max %.1f ms" % (pct([w["at_us"] - t0 for w in win], .5), pct([w["at_us"] - t0 for w in win], 1)))
    for k in ("reserve_us", "batch_us", "settle_us"):
        print(f"  {k[:-3]:8} p50 {pct([w[k] for w in win], .5):7.1f}  max {pct([w[k] for w in win], 1):7.1f} ms")
    tot = [w["reserve_us"] + w["batch_us"] + w["settle_us"] for w in win]
    print(f"  handler  p50 {pct(tot, .5):7.1f}  max {pct(tot, 1):7.1f} ms")
    # Batches on the winners' timeline: start (ms after the first winner entered its handler),
    # lane (PostgreSQL: two batches in flight, one kept connection each), size, wait, call time.
    at = lambda b: round((b["at_us"] - t0) / 1000, 1) if "at_us" in b else None
    print("  winner batches (size, waited ms, tx ms):", [(b["winners"], round(b["waited_us"] / 1000, 1), round(b["tx_us"] / 1000, 1)) for b in batch])
    if batch and "at_us" in batch[0]:
        print("  winner batches (start ms, lane, size, tx ms):", [(at(b), b.get("lane"), b["winners"], round(b["tx_us"] / 1000, 1)) for b in batch])
    for l in laps:
        print("    statements (cumulative ms):", ", ".join(f"{n} {int(t) / 1000:.1f}" for n, t in l))
    print("  settlement batches (size, tx ms):", [(b["settlements"], round(b["tx_us"] / 1000, 1)) for b in settle])
    if settle and "at_us" in settle[0]:
        print("  settlement batches (start ms, lane, size, waited ms, tx ms):", [(at(b), b.get("lane"), b["settlements"], round(b["waited_us"] / 1000, 1), round(b["tx_us"] / 1000, 1)) for b in settle])
