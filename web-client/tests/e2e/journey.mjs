#!/usr/bin/env node
// The full journey in a real browser (system Chromium via playwright-core) against a real engine
// fed by a real ffmpeg RTMP publisher:
//   1. studio: browser go-live over WHIP       → PENDING on WebRTC (the plain "use OBS" error is checked)
//   2. viewer: WHEP fails → hls.js plays, frames decoded grow (WebRTC framesDecoded: PENDING)
//   3. host pins a product; the viewer's overlay shows it once playback reaches the pin's PDT
//   4. viewer buys; the order exists in the API; the studio's live stats (host token) show the
//      order, the revenue and the viewer's reaction
//   5. a poll vote counts
//   6. the moderator bans the viewer; the viewer's next message is refused
// Throughout: the viewer count (badge and /info) counts the viewer while it plays (WebRTC, LL-HLS).
// Screenshots go to web-client/test-results/; with UPDATE_SCREENSHOTS=1 also to docs/screenshots/.
// Exit 0 = all non-pending steps passed.

import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { api, launchBrowser, pageBase, publish, REPO, requireTools, sleep, startEngine, waitFor, WEB } from './harness.mjs';

const OUT = join(WEB, 'test-results');
const SHOTS = join(REPO, 'docs/screenshots');
const results = [];
const step = (name, status, detail = '') => {
  results.push({ name, status, detail });
  console.log(`${status === 'ok' ? '✔' : status === 'pending' ? '…' : '✘'} ${name}${detail ? ` — ${detail}` : ''}`);
};

async function shot(page, name) {
  const p = join(OUT, `${name}.png`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: p, fullPage: name === 'watch' });
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(SHOTS, { recursive: true });
    copyFileSync(p, join(SHOTS, `${name}.png`));
  }
}

/** Controls without an accessible name (label, aria-label or text) on a page. */
async function unlabelled(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('button, input, select, textarea')]
      .filter((el) => el.offsetParent !== null)
      .filter((el) => !(el.getAttribute('aria-label') || el.labels?.length || (el.tagName === 'BUTTON' && el.textContent.trim())))
      .map((el) => el.outerHTML.slice(0, 80)));
}

async function main() {
  const bin = requireTools();
  mkdirSync(OUT, { recursive: true });
  const engine = await startEngine(bin);
  let ffmpeg, browser, pages;
  try {
    const admin = (path, opts = {}) => api(engine.base, path, { token: engine.adminKey, ...opts });
    const stream = await admin('/api/v1/streams', { method: 'POST', body: { title: 'Spring drop' } });
    const id = stream.id;
    const s = `/api/v1/streams/${id}`;
    const host = await api(engine.base, `${s}/tokens/host`, { method: 'POST', body: { stream_key: stream.stream_key } });
    const hostApi = (path, opts = {}) => api(engine.base, path, { token: host.token, ...opts });
    const p1 = await admin('/api/v1/products', { method: 'POST', body: { title: 'Linen shirt', price_minor: 4900, currency: 'EUR', stock: 20 } });
    const p2 = await admin('/api/v1/products', { method: 'POST', body: { title: 'Canvas tote', price_minor: 1900, currency: 'EUR', stock: 50 } });
    await hostApi(`${s}/products`, { method: 'PUT', body: { product_ids: [p1.id, p2.id] } });
    const gift = await admin('/api/v1/gifts', { method: 'POST', body: { name: 'Rose', coins: 5 } });

    pages = await pageBase(engine, id);
    console.log(`pages served by ${pages.servedBy} at ${pages.base}`);
    browser = await launchBrowser();
    const url = (kind, extra = '') => `${pages.base}/${kind}/${id}${pages.query}${extra}`;
    const info = async (sid = id) => (await fetch(`${engine.base}/api/v1/streams/${sid}/info`)).json();
    /** Wait until /info and the page's badge count this page's player on `transport`. */
    const counted = async (page, transport) => {
      const field = transport === 'webrtc' ? 'webrtc' : 'llhls';
      const i = await waitFor(`/info to count the ${transport} viewer`, async () => {
        const v = await info();
        return v.viewers >= 1 && v.audience?.[field] >= 1 ? v : null;
      }, 15_000, 250);
      const badge = await waitFor('the viewer badge', () => page.evaluate(() => {
        const el = document.querySelector('#viewers');
        return el && !el.hidden && Number(el.dataset.count) >= 1 ? { text: el.textContent, label: el.getAttribute('aria-label') } : null;
      }), 15_000, 250);
      if (!/watching$/.test(badge.text) || !new RegExp(`on ${transport === 'webrtc' ? 'WebRTC' : 'LL-HLS'}`).test(badge.label)) {
        throw new Error(`viewer badge reads "${badge.text}" / "${badge.label}"`);
      }
      return `/info viewers ${i.viewers} (webrtc ${i.audience.webrtc}, llhls ${i.audience.llhls}, ${i.audience.connected} sockets); badge "${badge.text}" [${badge.label}]`;
    };
    const logs = [];
    const watchConsole = (name, page) => page.on('console', (m) => logs.push(`[${name}] ${m.type()}: ${m.text()}`));

    // 0. The viewer arrives before the host is live: a plain "offline" message, then it plays by itself.
    const viewer = await browser.newPage();
    watchConsole('viewer', viewer);
    await viewer.setViewportSize({ width: 390, height: 844 });
    await viewer.goto(url('watch'));
    await viewer.waitForFunction(() => window.__showroom?.player?.state === 'offline', null, { timeout: 20_000 });
    const offlineMsg = await viewer.textContent('#player-status');
    if (!/offline/i.test(offlineMsg ?? '')) throw new Error(`offline message reads "${offlineMsg}"`);
    await shot(viewer, 'watch-offline');
    ffmpeg = publish(engine.rtmpPort, stream.stream_key, join(engine.dataDir, 'ffmpeg.log'));
    await waitFor('the LL-HLS playlist', async () => (await fetch(`${engine.base}/hls/${id}/index.m3u8`)).ok, 30_000, 250);
    await viewer.waitForFunction(() => window.__showroom.player.state === 'playing', null, { timeout: 30_000 });
    step('0. offline viewer retries on its own and plays when the host goes live', 'ok', `"${offlineMsg}"`);

    // 1. Studio: log in with the stream key; browser go-live over WHIP.
    const studio = await browser.newPage();
    watchConsole('studio', studio);
    await studio.goto(url('studio'));
    await studio.fill('#login-secret', stream.stream_key);
    await studio.click('#login-form button[type=submit]');
    await studio.waitForSelector('#obs-panel:not([hidden])');
    const obsServer = await studio.textContent('#obs-server');
    if (!obsServer?.startsWith('rtmp://')) throw new Error(`OBS server not shown: ${obsServer}`);
    await studio.waitForSelector(`#catalog li[data-product-id="${p1.id}"]`);
    await studio.waitForFunction(() => document.querySelectorAll('#cam option').length > 0, null, { timeout: 10_000 });
    // 1b. The main stream is live from ffmpeg (RTMP): a browser go-live on it is a second
    //     publisher and must be refused (409), with the reason shown.
    await studio.click('#golive-start');
    const busyMsg = await waitFor('the go-live answer', async () => {
      const t = await studio.textContent('#golive-msg');
      return t && !t.startsWith('Connecting') && !t.startsWith('Negotiated') ? t : null;
    }, 15_000);
    if (!/409/.test(busyMsg)) throw new Error(`go-live on a stream live over RTMP must be refused with 409: ${busyMsg}`);
    step('1b. go-live on a stream already live over RTMP is refused', 'ok', `"${busyMsg}"`);

    // 1. The studio goes live over WHIP (Chromium's fake camera) on a stream of its own.
    const live = await admin('/api/v1/streams', { method: 'POST', body: { title: 'Studio live' } });
    const liveInfo = async () => (await fetch(`${engine.base}/api/v1/streams/${live.id}/info`)).json();
    const studioLive = await browser.newPage();
    watchConsole('studio-live', studioLive);
    await studioLive.goto(`${pages.base}/studio/${live.id}${pages.query}`);
    await studioLive.fill('#login-secret', live.stream_key);
    await studioLive.click('#login-form button[type=submit]');
    await studioLive.waitForFunction(() => document.querySelectorAll('#cam option').length > 0, null, { timeout: 10_000 });
    await studioLive.click('#golive-start');
    await studioLive.waitForFunction(() => /You are live/.test(document.querySelector('#golive-msg')?.textContent ?? ''), null, { timeout: 20_000 });
    const wentLive = await waitFor('the WHIP stream to be live', async () => {
      const i = await liveInfo();
      return i.state === 'live' ? i : null;
    }, 20_000, 250);
    await waitFor('its LL-HLS playlist', async () => (await fetch(`${engine.base}/hls/${live.id}/index.m3u8`)).ok, 30_000, 250);
    await studioLive.click('#golive-stop');
    await waitFor('the WHIP stream to end', async () => ((await liveInfo()).state === 'idle' ? true : null), 15_000, 250);
    await studioLive.close();
    step('1. studio goes live over WHIP', 'ok', `stream ${live.id} live from the browser camera since ${wentLive.started_at}; its LL-HLS playlist is served; Stop ended it`);
    await shot(studio, 'studio');

    // 2. Viewer: WHEP first, LL-HLS fallback by itself; frames decoded grow.
    const frames = async (page, what) => {
      const a = await page.evaluate(() => window.__showroom.player.framesDecoded());
      await sleep(2_000);
      const b = await page.evaluate(() => window.__showroom.player.framesDecoded());
      if (!(b - a >= 20)) throw new Error(`frames decoded did not grow over ${what}: ${a} → ${b}`);
      return `framesDecoded ${a} → ${b} in 2 s`;
    };
    const whepStatus = (await fetch(`${engine.base}/whep/${id}`, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: 'v=0\r\n' })).status;
    const whepMissing = whepStatus === 404 || whepStatus === 405 || whepStatus === 501;
    if (!whepMissing) {
      // The engine has WHEP: the default viewer plays over WebRTC; then force the fallback.
      const rtc = await browser.newPage();
      await rtc.goto(url('watch'));
      await rtc.waitForFunction(() => window.__showroom?.player?.transport === 'webrtc' && window.__showroom.player.state === 'playing', null, { timeout: 30_000 });
      step('2b. framesDecoded grows over WebRTC (WHEP)', 'ok', await frames(rtc, 'WebRTC'));
      step('2c. the WebRTC viewer is counted (badge and /info)', 'ok', await counted(rtc, 'webrtc'));
      await rtc.close();
      await viewer.goto(url('watch') + (pages.query ? '&' : '?') + 'transport=ll-hls');
    }
    await viewer.waitForFunction(() => window.__showroom?.player?.transport === 'll-hls', null, { timeout: 20_000 });
    const fallback = await viewer.evaluate(() => window.__showroom.player.fallbackReason ?? 'forced with ?transport=ll-hls');
    await viewer.waitForFunction(() => window.__showroom.player.state === 'playing', null, { timeout: 30_000 });
    const grown = await frames(viewer, 'hls.js');
    const badge = await viewer.textContent('#transport');
    if (badge !== 'LL-HLS') throw new Error(`transport badge says ${badge}`);
    const lat = await viewer.evaluate(() => window.__showroom.player.latencyMs(Date.now()));
    step('2a. viewer falls back to hls.js and plays', 'ok', `${fallback}; ${grown}; badge "${badge}"; ${lat} ms behind PDT`);
    const hlsCounted = await counted(viewer, 'll-hls');
    if (!whepMissing) {
      // The WebRTC pages left (one closed, one navigated away): their sessions were hung up.
      await waitFor('the WebRTC viewers that left to be uncounted', async () => ((await info()).audience.webrtc === 0 ? true : null), 10_000, 250);
    }
    step('2d. the LL-HLS viewer is counted (badge and /info); WebRTC pages that left are not', 'ok', hlsCounted);
    if (whepMissing) step('2b. framesDecoded grows over WebRTC (WHEP)', 'pending', `PENDING on WebRTC: POST /whep/${id} answers ${whepStatus}`);

    // The viewer picks a name (named token) and says hello.
    await viewer.fill('#name-input', 'Vera');
    await viewer.click('#name-form button[type=submit]');
    await viewer.waitForSelector('#chat-form:not([hidden])');
    const viewerId = await waitFor('the named viewer id', () => viewer.evaluate(() => (window.__showroom.userId.startsWith('usr') ? window.__showroom.userId : null)));
    await viewer.fill('#chat-input', 'hello from Vera');
    await viewer.press('#chat-input', 'Enter');
    await viewer.waitForSelector('#chat li[data-message-id] .text >> text=hello from Vera');

    // 3. The host pins a product in the studio; the overlay shows it once the video reaches it.
    await studio.click(`#catalog li[data-product-id="${p1.id}"] button[aria-label^="Pin"]`);
    await viewer.waitForSelector(`#pins li[data-product-id="${p1.id}"]`, { timeout: 20_000 });
    const pinApplied = await viewer.evaluate(() => window.__showroom.applied.find((a) => a.kind === 'pin.added'));
    if (!pinApplied || pinApplied.playhead_ms === null || pinApplied.playhead_ms < pinApplied.pdt_ms) {
      throw new Error(`pin shown before playback reached it: ${JSON.stringify(pinApplied)}`);
    }
    // LL-HLS plays ~1 s behind the host, the event arrives in milliseconds: it must have waited.
    if (pinApplied.applied_ms - pinApplied.arrived_ms < 100) {
      throw new Error(`pin shown on arrival, not in stream time: ${JSON.stringify(pinApplied)}`);
    }
    step('3. host pins; viewer overlay shows it in stream time', 'ok',
      `pin PDT ${pinApplied.pdt_ms}, playhead at display ${pinApplied.playhead_ms} (+${pinApplied.playhead_ms - pinApplied.pdt_ms} ms), held ${pinApplied.applied_ms - pinApplied.arrived_ms} ms after the event arrived`);
    await shot(viewer, 'watch');

    // 4. The viewer buys the pinned product; the order exists in the API.
    await viewer.click(`#pins li[data-product-id="${p1.id}"] button`);
    const orderId = await waitFor('the order in the viewer page', () => viewer.evaluate(() => document.querySelector('#orders li[data-order-id]')?.getAttribute('data-order-id') ?? null), 15_000);
    const order = await admin(`/api/v1/orders/${orderId}`);
    if (order.user_id !== viewerId || order.status !== 'paid' || order.items?.[0]?.product_id !== p1.id) {
      throw new Error(`unexpected order: ${JSON.stringify(order)}`);
    }
    step('4. viewer buys; the order exists in the API', 'ok', `${orderId}: ${order.status}, ${order.total_minor} ${order.currency}, user ${order.user_id}`);

    // 4b. Live stats in the studio (logged in with the stream key: a host token, not the admin
    //     key): the order, the revenue, a reaction of the viewer's, and the viewer count.
    await viewer.click('#chat li[data-message-id]:has(.text:text("hello from Vera")) button[aria-label^="React"] >> nth=0');
    const st = await waitFor('the studio stats to show the order', () => studio.evaluate(() => {
      const t = (id) => document.getElementById(id)?.textContent ?? '';
      return t('st-orders') === '1' && /49/.test(t('st-revenue')) && t('st-reactions') === '1' && Number(t('st-viewers')) >= 1
        ? { orders: t('st-orders'), revenue: t('st-revenue'), reactions: t('st-reactions'), viewers: t('st-viewers') } : null;
    }), 15_000, 250);
    const apiStats = await hostApi(`${s}/stats`);
    if (apiStats.orders.paid !== 1 || apiStats.revenue.length !== 1 || apiStats.revenue[0].currency !== 'EUR' || apiStats.revenue[0].total_minor !== 4900 || apiStats.reactions !== 1) {
      throw new Error(`unexpected stats for the host: ${JSON.stringify(apiStats)}`);
    }
    const viewerToken = await viewer.evaluate(() => JSON.parse(Object.entries(localStorage).find(([k]) => k.startsWith('showroom.viewer.'))[1]).token);
    const refused = await fetch(`${engine.base}${s}/stats`, { headers: { authorization: `Bearer ${viewerToken}` } });
    if (refused.status !== 403) throw new Error(`a viewer token must not read the stats: ${refused.status}`);
    step('4b. studio live stats (host token): order, revenue, reaction, viewers', 'ok',
      `studio shows ${st.orders} order, ${st.revenue}, ${st.reactions} reaction, ${st.viewers} watching; /stats agrees; a viewer token gets 403`);

    // Gifts: coins granted by the admin, spent by the viewer.
    await admin(`/api/v1/users/${viewerId}/coins`, { method: 'POST', body: { amount: 20 } });
    await viewer.reload();
    await viewer.waitForFunction(() => document.querySelector('#coins')?.textContent === '20', null, { timeout: 15_000 });
    await viewer.click(`#gifts button[aria-label^="Send ${gift.name}"]`);
    await viewer.waitForFunction(() => document.querySelector('#coins')?.textContent === '15', null, { timeout: 10_000 });
    step('gift with coin balance', 'ok', '20 → 15 coins after one Rose');
    await viewer.waitForFunction(() => window.__showroom?.player?.state === 'playing', null, { timeout: 30_000 });

    // 5. Poll: the host creates it in the studio, the viewer votes, the vote counts.
    await studio.fill('#poll-q', 'Which colour next?');
    await studio.fill('#poll-opts', 'Sand\nOlive\nNavy');
    await studio.click('#poll-form button[type=submit]');
    const pollSel = '#polls fieldset[data-poll-id]';
    await viewer.waitForSelector(pollSel, { timeout: 20_000 });
    const pollId = await viewer.getAttribute(pollSel, 'data-poll-id');
    await viewer.click(`${pollSel} button[data-option="1"]`);
    await viewer.waitForSelector(`${pollSel} [data-tally="1"] >> text=1 votes`, { timeout: 10_000 });
    const poll = await hostApi(`${s}/polls/${pollId}`);
    if (poll.tally[1] !== 1 || poll.voters !== 1) throw new Error(`vote not counted: ${JSON.stringify(poll)}`);
    await studio.waitForSelector(`#studio-polls li[data-poll-id="${pollId}"] >> text=(1 voters)`, { timeout: 10_000 });
    step('5. a poll vote counts', 'ok', `tally ${JSON.stringify(poll.tally)}, live in viewer and studio`);
    await shot(viewer, 'watch');

    // Flash sale: started in the studio, a card with countdown and stock on the viewer, bought.
    await studio.selectOption('#flash-product', p2.id);
    await studio.fill('#flash-price', '1200');
    await studio.fill('#flash-stock', '5');
    await studio.fill('#flash-duration', '120');
    await studio.click('#flash-form button[type=submit]');
    const card = '#flash .card[data-sale-id]';
    await viewer.waitForSelector(`${card} .stock >> text=5 of 5 left`, { timeout: 20_000 });
    const countdown = await viewer.textContent(`${card} [data-countdown-sale]`);
    if (!/^Ends in [0-9]+:[0-9]{2}$/.test(countdown ?? '')) throw new Error(`flash countdown reads "${countdown}"`);
    await viewer.click(`${card} button`);
    await viewer.waitForSelector(`${card} .stock >> text=4 of 5 left`, { timeout: 10_000 });
    const orders = await api(engine.base, '/api/v1/orders', { token: await viewer.evaluate(() => JSON.parse(Object.entries(localStorage).find(([k]) => k.startsWith('showroom.viewer.'))[1]).token) });
    const flashOrder = orders.orders.find((o) => o.source !== 'cart' && o.items?.[0]?.product_id === p2.id);
    if (!flashOrder || flashOrder.total_minor !== 1200) throw new Error(`flash order missing: ${JSON.stringify(orders)}`);
    // The stock event can arrive before the purchase answer: wait for the second row.
    await viewer.waitForFunction(() => document.querySelectorAll('#orders li[data-order-id]').length >= 2, null, { timeout: 10_000 }).catch(() => undefined);
    const orderRows = await viewer.$$eval('#orders li[data-order-id]', (els) => els.map((e) => e.getAttribute('data-order-id')));
    if (orderRows.length !== 2 || new Set(orderRows).size !== 2 || !orderRows.includes(orderId) || !orderRows.includes(flashOrder.id)) {
      throw new Error(`the viewer's order list should hold both orders once: ${JSON.stringify(orderRows)}`);
    }
    const st2 = await waitFor('the studio stats to add the flash order', () => studio.evaluate(() => {
      const t = (id) => document.getElementById(id)?.textContent ?? '';
      return t('st-orders') === '2' && /61/.test(t('st-revenue')) ? t('st-revenue') : null;
    }), 15_000, 250);
    step('flash sale card: countdown, stock, purchase', 'ok', `"${countdown}", stock 5 → 4, order ${flashOrder.id} ${flashOrder.status} ${flashOrder.total_minor}; studio revenue ${st2}`);

    // 6. The moderator bans the viewer; the viewer's next message is refused.
    const mod = await hostApi(`${s}/tokens`, { method: 'POST', body: { role: 'moderator', name: 'Mo' } });
    const modStats = await api(engine.base, `${s}/stats`, { token: mod.token });
    if (modStats.orders.paid !== 2) throw new Error(`moderator stats: ${JSON.stringify(modStats)}`);
    const moderator = await browser.newPage();
    watchConsole('moderator', moderator);
    await moderator.goto(url('moderate', `#token=${mod.token}`));
    const row = `#mod-chat li[data-user-id="${viewerId}"]`;
    await moderator.waitForSelector(row, { timeout: 15_000 });
    await moderator.waitForFunction(() => Number(document.querySelector('#stream-viewers')?.textContent) >= 1, null, { timeout: 10_000 });
    // Word filter and delete, before the ban.
    await moderator.fill('#words', 'spoiler');
    await moderator.click('#settings-form button[type=submit]');
    await moderator.waitForSelector('#settings-msg >> text=Rules saved.', { timeout: 10_000 });
    await viewer.fill('#chat-input', 'huge SPOILER ahead');
    await viewer.press('#chat-input', 'Enter');
    await viewer.waitForSelector('#chat-msg[data-kind="error"]', { timeout: 10_000 });
    const filtered = await viewer.textContent('#chat-msg');
    if (!/word not allowed/.test(filtered ?? '')) throw new Error(`word filter refusal expected, got: ${filtered}`);
    await viewer.fill('#chat-input', 'please delete me');
    await viewer.press('#chat-input', 'Enter');
    const delRow = '#mod-chat li[data-message-id] .text >> text=please delete me';
    await moderator.waitForSelector(delRow, { timeout: 10_000 });
    await moderator.click(`#mod-chat li:has(.text:text("please delete me")) button[aria-label^="Delete"]`);
    await viewer.waitForSelector('#chat .text >> text=please delete me', { state: 'detached', timeout: 10_000 });
    await moderator.waitForSelector('#mod-log li[data-action="delete"]', { timeout: 10_000 });
    step('moderator word filter and delete', 'ok', `viewers shown to the moderator; filter: "${filtered}"; deleted message gone from the viewer's chat`);

    await moderator.selectOption('#duration', '600');
    await moderator.click(`${row} button[aria-label^="Ban"]`);
    await moderator.waitForSelector('#mod-log li[data-action="ban"]', { timeout: 10_000 });
    await viewer.fill('#chat-input', 'am I still here?');
    await viewer.press('#chat-input', 'Enter');
    await viewer.waitForSelector('#chat-msg[data-kind="error"]', { timeout: 10_000 });
    const refusal = await viewer.textContent('#chat-msg');
    if (!/banned/.test(refusal ?? '')) throw new Error(`expected a ban refusal, got: ${refusal}`);
    const history = await hostApi(`${s}/chat`);
    if (history.messages.some((m) => m.text === 'am I still here?')) throw new Error('the banned message was stored');
    step('6. moderator bans; the next message is refused', 'ok', `viewer sees: "${refusal}"`);
    await moderator.fill('#pinned', 'Be kind — shipping is free today');
    await moderator.click('#settings-form button[type=submit]');
    await viewer.waitForSelector('#pinned-message:not([hidden])', { timeout: 10_000 });
    await shot(moderator, 'moderate');
    await shot(studio, 'studio');
    await shot(viewer, 'watch');
    const bare = [...(await unlabelled(viewer)), ...(await unlabelled(studio)), ...(await unlabelled(moderator))];
    if (bare.length) throw new Error(`controls without an accessible name: ${bare.join(' | ')}`);
    step('every visible control has an accessible name', 'ok');

    // 7. The publisher drops: the viewer says so and comes back by itself when it returns.
    ffmpeg.kill('SIGKILL');
    await viewer.waitForFunction(() => ['offline', 'reconnecting'].includes(window.__showroom.player.state), null, { timeout: 30_000 });
    const dropMsg = await viewer.textContent('#player-status');
    await sleep(4_000); // at least one automatic retry while the host is away
    ffmpeg = publish(engine.rtmpPort, stream.stream_key, join(engine.dataDir, 'ffmpeg2.log'));
    await viewer.waitForFunction(() => window.__showroom.player.state === 'playing', null, { timeout: 45_000 });
    const g1 = await viewer.evaluate(() => window.__showroom.player.framesDecoded());
    await sleep(2_000);
    const g2 = await viewer.evaluate(() => window.__showroom.player.framesDecoded());
    if (!(g2 > g1)) throw new Error(`no frames after the publisher came back: ${g1} → ${g2}`);
    step('7. publisher drops and returns; the viewer recovers by itself', 'ok', `"${dropMsg}", then frames ${g1} → ${g2}`);
    if (process.env.JOURNEY_VERBOSE === '1') console.log(logs.join('\n'));
  } catch (e) {
    step('journey', 'failed', e.stack ?? String(e));
    console.error(engine.logText().split('\n').slice(-40).join('\n'));
  } finally {
    await browser?.close().catch(() => undefined);
    pages?.close();
    ffmpeg?.kill('SIGTERM');
    engine.stop();
  }
  const failed = results.filter((r) => r.status === 'failed');
  const pending = results.filter((r) => r.status === 'pending');
  console.log(`\n${results.length - failed.length - pending.length} passed, ${pending.length} pending on WebRTC, ${failed.length} failed`);
  process.exit(failed.length ? 1 : 0);
}

main().catch((e) => {
  console.error(`journey could not start: ${e.message}`);
  process.exit(1);
});
