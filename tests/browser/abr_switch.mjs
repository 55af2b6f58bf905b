#!/usr/bin/env node
// abr_switch.mjs URL [--warmup N] [--throttle-kbps N] [--wait N]
//
// ABR under a throttled network: hls.js (lowLatencyMode) in the system's headless Chromium
// (/usr/bin/chromium) plays a multivariant LL-HLS URL, starting on the highest level with a
// high bandwidth estimate. After --warmup seconds (default 8) of unthrottled playback, the
// page's network is throttled through CDP (Network.emulateNetworkConditions) to
// --throttle-kbps (default 400) and the script waits up to --wait seconds (default 30) for
// hls.js to switch to a lower level. Prints ONE JSON line on stdout:
//   { ok, levels: [{height, bitrate}], start_level, throttled_at_level, switches: [...],
//     switched_down, frames_before, frames_after, errors: [...] }
// Exit status: 0 when the JSON line was printed (the caller judges it), 2 for usage errors,
// 3 when Chromium or the page could not be started.

import { withChromium } from './chromium.mjs';

const PAGE = `<!doctype html><html><body>
<video id="v" muted autoplay playsinline width="640" height="360"></video>
<script src="/hls.js"></script>
<script>
  const t = { switches: [], errors: [], levels: [], startLevel: null };
  window.__t = t;
  const src = new URLSearchParams(location.search).get('src');
  const video = document.getElementById('v');
  const hls = new Hls({ lowLatencyMode: true, abrEwmaDefaultEstimate: 20000000,
                        testBandwidth: false, capLevelToPlayerSize: false });
  window.__hls = hls;
  hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) => {
    t.levels = d.levels.map((l) => ({ height: l.height, bitrate: l.bitrate, url: String(l.url) }));
    t.startLevel = d.levels.length - 1;
    hls.startLevel = t.startLevel;
    video.play().catch(() => {});
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => {
    t.switches.push({ level: d.level, height: hls.levels[d.level] && hls.levels[d.level].height,
                      at: Date.now() });
  });
  hls.on(Hls.Events.ERROR, (_e, d) => {
    if (t.errors.length < 50) t.errors.push({ details: d.details, fatal: d.fatal });
  });
  hls.loadSource(src);
  hls.attachMedia(video);
  window.__sample = () => {
    const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    return { level: hls.currentLevel, frames: q ? q.totalVideoFrames : null,
             bw: Math.round(hls.bandwidthEstimate || 0), now: Date.now() };
  };
</script></body></html>`;

function parseArgs(argv) {
  const o = { url: null, warmup: 8, kbps: 400, wait: 30 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return Number(argv[++i]);
    };
    if (a === '--warmup') o.warmup = next();
    else if (a === '--throttle-kbps') o.kbps = next();
    else if (a === '--wait') o.wait = next();
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (!o.url) o.url = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!o.url || !/^https?:\/\//.test(o.url)) usage('URL (http:// or https://) required');
  if (!(o.warmup >= 0) || !(o.kbps > 0) || !(o.wait > 0)) usage('bad number');
  return o;
}

function usage(msg) {
  process.stderr.write(`abr_switch: ${msg}\n`);
  process.exit(2);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  await withChromium('abr_switch', PAGE, { width: 660, height: 400 }, async (page, port, context) => {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await page.goto(`http://127.0.0.1:${port}/?src=${encodeURIComponent(o.url)}`,
      { waitUntil: 'load', timeout: 15000 });
    const samples = [];
    const sample = async () => {
      const s = await page.evaluate(() => window.__sample());
      samples.push(s);
      return s;
    };
    for (let i = 0; i < o.warmup; i++) {
      await page.waitForTimeout(1000);
      await sample();
    }
    const before = await sample();
    const bytesPerSec = Math.round(o.kbps * 1000 / 8);
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 20, downloadThroughput: bytesPerSec, uploadThroughput: bytesPerSec,
    });
    const throttledAt = Date.now();
    let down = false;
    let last = before;
    for (let i = 0; i < o.wait && !down; i++) {
      await page.waitForTimeout(1000);
      last = await sample();
      const t = await page.evaluate(() => window.__t);
      down = t.switches.some((s) => s.at >= throttledAt && s.level < before.level);
    }
    // Keep playing a little on the lower level: frames must still advance.
    const mid = await sample();
    await page.waitForTimeout(3000);
    const after = await sample();
    const t = await page.evaluate(() => window.__t);
    const out = {
      ok: down && after.frames > mid.frames,
      levels: t.levels.map((l) => ({ height: l.height, bitrate: l.bitrate })),
      start_level: t.startLevel,
      throttled_at_level: before.level,
      throttle_kbps: o.kbps,
      switches: t.switches.map((s) => ({ level: s.level, height: s.height,
                                         after_throttle_ms: s.at - throttledAt })),
      switched_down: down,
      frames_before: before.frames,
      frames_mid: mid.frames,
      frames_after: after.frames,
      bandwidth_estimates: samples.map((s) => s.bw),
      levels_over_time: samples.map((s) => s.level),
      errors: t.errors.slice(-10),
      last,
    };
    process.stdout.write(JSON.stringify(out) + '\n');
  });
}

main().catch((e) => {
  process.stderr.write(`abr_switch: ${e.stack || e}\n`);
  process.exitCode = 3;
});
