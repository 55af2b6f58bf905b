#!/usr/bin/env node
// hlsjs_play.mjs URL [--seconds N] [--warmup N] [--screenshot PATH] [--label NAME]
//                    [--source-t0-ms EPOCH_MS] [--hls-config JSON]
//
// Plays a (LL-)HLS URL with hls.js (lowLatencyMode, muted) in the system's headless Chromium
// (/usr/bin/chromium, never a downloaded browser) and prints ONE JSON line on stdout:
//   { ok, url, frames_first, frames_last, frames: [...], latency_s, target_latency_s,
//     true_latency_ms: {p50, p95, n}, errors: [...], fatal, ... }
// The page and hls.js are served by a static server on 127.0.0.1 that this script starts.
// Samples are taken once a second for --seconds (default 20); samples taken during the first
// --warmup seconds (default 5) are left out of the latency figures, not out of `frames`.
// With --source-t0-ms (the wall clock, in ms since the epoch, of source time 0 of a publisher
// that burns its source clock into the picture, see page.html), it also reports
// glass_latency_ms: wall clock now minus the wall clock at which the frame on screen was made.
// That works for any origin, PDT or not (the nginx-rtmp peer has none).
// Exit status: 0 when the JSON line was printed (the caller judges it), 2 for usage errors,
// 3 when Chromium or the page could not be started at all.

import { readFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HERE, withChromium } from './chromium.mjs';

function parseArgs(argv) {
  const o = { url: null, seconds: 20, warmup: 5, screenshot: null, label: null, t0: null, cfg: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--seconds') o.seconds = Number(next());
    else if (a === '--warmup') o.warmup = Number(next());
    else if (a === '--screenshot') o.screenshot = next();
    else if (a === '--label') o.label = next();
    else if (a === '--source-t0-ms') o.t0 = Number(next());
    else if (a === '--hls-config') o.cfg = next();
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (!o.url) o.url = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!o.url || !/^https?:\/\//.test(o.url)) usage('URL (http:// or https://) required');
  if (!(o.seconds > 0) || !(o.warmup >= 0)) usage('--seconds must be > 0, --warmup >= 0');
  if (o.t0 !== null && !(o.t0 > 0)) usage('--source-t0-ms must be a positive epoch in ms');
  if (o.cfg !== null) {
    try { JSON.parse(o.cfg); } catch (e) { usage(`--hls-config is not JSON: ${e.message}`); }
  }
  return o;
}

function usage(msg) {
  process.stderr.write(`hlsjs_play: ${msg}\nusage: hlsjs_play.mjs URL [--seconds N] [--warmup N] [--screenshot PATH] [--label NAME] [--source-t0-ms MS] [--hls-config JSON]\n`);
  process.exit(2);
}

function pct(values, p) {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const k = (s.length - 1) * p / 100;
  const f = Math.floor(k);
  const c = Math.min(f + 1, s.length - 1);
  return Math.round(s[f] + (s[c] - s[f]) * (k - f));
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const html = await readFile(join(HERE, 'page.html'));
  const consoleErrors = [];
  await withChromium('hlsjs_play', html, { width: 660, height: 420 }, async (page, port) => {
    page.on('console', (m) => {
      if (m.type() === 'error' && consoleErrors.length < 50) consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => { if (consoleErrors.length < 50) consoleErrors.push(String(e)); });
    const cfg = o.cfg ? `&cfg=${encodeURIComponent(o.cfg)}` : '';
    const pageUrl = `http://127.0.0.1:${port}/?src=${encodeURIComponent(o.url)}${cfg}`;
    await page.goto(pageUrl, { waitUntil: 'load', timeout: 15000 });

    const samples = [];
    const t0 = Date.now();
    for (let i = 1; i <= Math.ceil(o.seconds); i++) {
      await page.waitForTimeout(Math.max(0, t0 + i * 1000 - Date.now()));
      const s = await page.evaluate(() => window.__sample());
      s.t = Math.round((Date.now() - t0) / 100) / 10;
      s.glass_latency_ms = o.t0 !== null && typeof s.source_clock_ms === 'number'
        ? s.now - (o.t0 + s.source_clock_ms) : null;
      samples.push(s);
    }
    if (o.screenshot) {
      await mkdir(dirname(o.screenshot), { recursive: true });
      await page.screenshot({ path: o.screenshot });
    }
    const detail = await page.evaluate(() => ({ errors: window.__t.errors, events: window.__t.events }));

    const settled = samples.filter((s) => s.t > o.warmup);
    const trueLat = settled.map((s) => s.true_latency_ms).filter((v) => typeof v === 'number');
    const glassLat = settled.map((s) => s.glass_latency_ms).filter((v) => typeof v === 'number');
    const hlsLat = settled.map((s) => s.latency).filter((v) => typeof v === 'number' && v > 0);
    const last = samples[samples.length - 1];
    const first = samples.find((s) => typeof s.frames === 'number') || last;
    const byDetail = {};
    for (const e of detail.errors) byDetail[e.details] = (byDetail[e.details] || 0) + 1;
    const out = {
      ok: !last.fatal && last.frames > 0 && last.frames > first.frames,
      label: o.label,
      url: o.url,
      seconds: o.seconds,
      warmup: o.warmup,
      hls_config: o.cfg ? JSON.parse(o.cfg) : {},
      frames_first: first.frames,
      frames_last: last.frames,
      frames: samples.map((s) => s.frames),
      dropped_frames: last.dropped,
      video_size: [last.width, last.height],
      latency_s: last.latency,
      latency_p50_ms: pct(hlsLat.map((v) => v * 1000), 50),
      target_latency_s: last.target_latency,
      true_latency_ms: { p50: pct(trueLat, 50), p95: pct(trueLat, 95), n: trueLat.length },
      true_latency_samples_ms: samples.map((s) => s.true_latency_ms),
      glass_latency_ms: { p50: pct(glassLat, 50), p95: pct(glassLat, 95), n: glassLat.length },
      glass_latency_samples_ms: samples.map((s) => s.glass_latency_ms),
      frags_buffered: last.frags_buffered,
      fatal: last.fatal,
      error_count: detail.errors.length,
      errors_by_detail: byDetail,
      errors: detail.errors.slice(-10),
      console_errors: consoleErrors.slice(-10),
      events: detail.events.slice(0, 10),
      screenshot: o.screenshot,
    };
    process.stdout.write(JSON.stringify(out) + '\n');
  });
}

main().catch((e) => {
  process.stderr.write(`hlsjs_play: ${e.stack || e}\n`);
  process.exitCode = 3;
});
