// Shoppable replay in the system Chromium: ffmpeg publishes over RTMP, the host pins a product
// ~10 s into the show, the show ends; /watch/{id} then plays the recording (/vod/{id}) with hls.js
// and the pin appears when the replay reaches the pin's stream time (±0.2 s).
// Prints one JSON line `replay-result {...}` and exits non-zero on failure.

import { join } from 'node:path';
import { api, launchBrowser, pageBase, publish, requireTools, sleep, startEngine, waitFor } from './harness.mjs';

const TOLERANCE_S = 0.2;

function pdtMs(line) {
  return Date.parse(line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length));
}

async function main() {
  const bin = requireTools();
  const engine = await startEngine(bin);
  let ffmpeg, browser, pages;
  try {
    const admin = (path, opts = {}) => api(engine.base, path, { token: engine.adminKey, ...opts });
    const stream = await admin('/api/v1/streams', { method: 'POST', body: { title: 'Replay show' } });
    const id = stream.id;
    const s = `/api/v1/streams/${id}`;
    const host = await api(engine.base, `${s}/tokens/host`, { method: 'POST', body: { stream_key: stream.stream_key } });
    const product = await admin('/api/v1/products', { method: 'POST', body: { title: 'Replay sneaker', price_minor: 5900, currency: 'EUR', stock: 10 } });
    await api(engine.base, `${s}/products`, { method: 'PUT', token: host.token, body: { product_ids: [product.id] } });

    ffmpeg = publish(engine.rtmpPort, stream.stream_key, join(engine.dataDir, 'ffmpeg.log'));
    await waitFor('the stream to go live', async () => (await admin(s)).state === 'live', 30_000, 100);
    const liveAt = Date.now();
    await sleep(Math.max(0, 10_000 - (Date.now() - liveAt)));
    const pin = await api(engine.base, `${s}/pins`, { method: 'POST', token: host.token, body: { product_id: product.id } });
    await sleep(5_000);
    ffmpeg.kill('SIGINT');
    await waitFor('the stream to end', async () => (await admin(s)).state !== 'live', 30_000, 200);
    const playlist = await waitFor('the complete replay playlist', async () => {
      const r = await fetch(`${engine.base}/vod/${id}/index.m3u8`);
      const t = r.ok ? await r.text() : '';
      return t.includes('#EXT-X-ENDLIST') ? t : null;
    }, 30_000, 200);
    const firstPdt = pdtMs(playlist.split('\n').find((l) => l.startsWith('#EXT-X-PROGRAM-DATE-TIME:')));
    const expected = (pin.stamp.pdt_ms - firstPdt) / 1000;

    pages = await pageBase(engine, id);
    browser = await launchBrowser();
    const page = await browser.newPage();
    const logs = [];
    page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    await page.goto(`${pages.base}/watch/${id}${pages.query}`);
    await page.waitForFunction(() => !!window.__showroom?.replay, null, { timeout: 20_000 });
    // Before the pin's time the pin list is empty (the end state was cleared for the replay).
    const early = await page.evaluate(() => ({ t: document.querySelector('video').currentTime, pins: document.querySelectorAll('#pins li').length }));
    const applied = await page.waitForFunction(() => window.__showroom.replay.applied.find((a) => a.kind === 'pin.added') ?? null, null, { timeout: 40_000, polling: 20 })
      .then((h) => h.jsonValue());
    const shown = await page.evaluate((title) => [...document.querySelectorAll('#pins li')].some((li) => li.textContent.includes(title)), 'Replay sneaker');
    const transport = await page.textContent('#transport');
    // The scrubber previews the sprite-sheet tile of the time under the pointer.
    await page.waitForSelector('.replay-scrubber input[type=range]', { timeout: 10_000 });
    const range = await page.$('.replay-scrubber input[type=range]');
    const box = await range.boundingBox();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
    await page.mouse.move(box.x + box.width * 0.52, box.y + box.height / 2);
    const preview = await page.evaluate(() => {
      const p = document.querySelector('.replay-preview');
      return { hidden: p.hidden, image: p.style.backgroundImage, position: p.style.backgroundPosition, at: Number(p.dataset.at) };
    });
    const result = { expected_s: expected, applied_s: applied.media_s, error_s: applied.media_s - expected, pin_pts_ms: pin.stamp.pts_ms, early, shown, transport, preview };
    console.log(`replay-result ${JSON.stringify(result)}`);
    const problems = [];
    if (Math.abs(result.error_s) > TOLERANCE_S) problems.push(`pin at ${applied.media_s.toFixed(3)} s of the replay, expected ${expected.toFixed(3)} s`);
    if (expected < 8 || expected > 12) problems.push(`the pin was made ${expected.toFixed(2)} s into the recording, not ~10 s`);
    if (!shown) problems.push('the pinned product is not shown over the video');
    if (early.t < expected - 1 && early.pins !== 0) problems.push(`pins shown before their time: ${early.pins}`);
    if (transport !== 'Replay') problems.push(`transport badge reads ${transport}`);
    if (preview.hidden || !preview.image.includes('sprite-') || !(preview.at > 0)) problems.push(`no sprite preview on the scrubber: ${JSON.stringify(preview)}`);
    if (problems.length) {
      console.log(logs.join('\n'));
      throw new Error(problems.join('; '));
    }
    console.log('replay: ok');
  } finally {
    ffmpeg?.kill('SIGKILL');
    await browser?.close().catch(() => undefined);
    pages?.close();
    engine.stop();
  }
}

main().catch((e) => {
  console.error(`replay: FAILED ${e.stack ?? e}`);
  process.exit(1);
});
