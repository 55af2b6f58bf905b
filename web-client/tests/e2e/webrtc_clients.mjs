#!/usr/bin/env node
// The pages' WebRTC clients, end to end in Chromium, against a WHIP/WHEP *reference peer*
// (webrtc_peer.mjs: a Chromium tab behind an RFC 9725 HTTP front; REST and /ws go to the real
// engine). It checks the client side of issue steps 1–2 until the engine has WHIP/WHEP:
//   a viewer waiting on an offline stream, the studio going live over WHIP (fake camera), the
//   viewer then playing over WHEP by itself with framesDecoded growing, the WebRTC playhead (playout.ts) is on the sender's wall clock,
//   and Stop sends the DELETE.
// Exit 0 when all of that holds.

import { join } from 'node:path';
import { api, launchBrowser, requireTools, sleep, startEngine, WEB } from './harness.mjs';
import { startReferencePeer } from './webrtc_peer.mjs';

async function main() {
  const bin = requireTools();
  const engine = await startEngine(bin);
  let browser, peer;
  let ok = false;
  try {
    const stream = await api(engine.base, '/api/v1/streams', { method: 'POST', token: engine.adminKey, body: { title: 'WebRTC clients' } });
    // Loopback ICE between tabs: plain host candidates instead of mDNS names.
    browser = await launchBrowser(['--disable-features=WebRtcHideLocalIpsWithMdns']);
    peer = await startReferencePeer(browser, engine);
    // The viewer arrives first: nothing to play (WHEP 503, no LL-HLS playlist) → "offline", retrying.
    const viewer = await browser.newPage();
    await viewer.goto(`${peer.base}/watch/${stream.id}`);
    await viewer.waitForFunction(() => window.__showroom?.player?.state === 'offline', null, { timeout: 20_000 });
    const studio = await browser.newPage();
    await studio.goto(`${peer.base}/studio/${stream.id}`);
    await studio.fill('#login-secret', stream.stream_key);
    await studio.click('#login-form button[type=submit]');
    await studio.waitForFunction(() => document.querySelectorAll('#cam option').length > 0, null, { timeout: 15_000 });
    await studio.selectOption('#bitrate', '1500000');
    await studio.click('#golive-start');
    await studio.waitForSelector('#golive-msg >> text=You are live.', { timeout: 20_000 });
    if (!peer.log.includes('whip offer from bearer')) throw new Error(`WHIP offer without the stream key: ${peer.log}`);
    console.log('✔ studio goes live over WHIP (stream key as bearer, 201 + Location)');

    // …and switches to WebRTC by itself once the host is live.
    await viewer.waitForFunction(() => window.__showroom?.player?.transport === 'webrtc' && window.__showroom.player.state === 'playing', null, { timeout: 20_000 });
    const f1 = await viewer.evaluate(() => window.__showroom.player.framesDecoded());
    await sleep(2_000);
    const f2 = await viewer.evaluate(() => window.__showroom.player.framesDecoded());
    if (!(f2 - f1 >= 10)) throw new Error(`framesDecoded over WebRTC did not grow: ${f1} → ${f2}`);
    const badge = await viewer.textContent('#transport');
    if (badge !== 'WebRTC') throw new Error(`transport badge says ${badge}`);
    console.log(`✔ offline viewer switches to WHEP by itself when the host goes live: framesDecoded ${f1} → ${f2} in 2 s, badge "${badge}"`);

    const lag = await viewer.evaluate(() => {
      const p = window.__showroom.player.playhead();
      return p.kind === 'playing' ? Date.now() - p.pdtMs : null;
    });
    if (lag === null || lag < -500 || lag > 5_000) throw new Error(`WebRTC playhead not on the sender's clock: lag ${lag} ms`);
    console.log(`✔ WebRTC playhead for the overlay scheduler: ${lag} ms behind the sender's wall clock`);
    await studio.screenshot({ path: join(WEB, 'test-results/studio-whip-reference.png') });
    await viewer.screenshot({ path: join(WEB, 'test-results/watch-whep-reference.png') });

    await studio.click('#golive-stop');
    await studio.waitForSelector('#golive-msg >> text=Stopped.', { timeout: 10_000 });
    if (!peer.log.some((l) => l.startsWith('DELETE /whip/'))) throw new Error(`Stop sent no DELETE: ${peer.log}`);
    console.log('✔ Stop ends the WHIP session with DELETE on the Location');
    ok = true;
  } catch (e) {
    console.error(`✘ ${e.stack ?? e}`);
    if (peer) console.error(`reference peer log: ${peer.log.join(' | ')}`);
  } finally {
    await browser?.close().catch(() => undefined);
    peer?.close();
    engine.stop();
  }
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.error(`could not start: ${e.message}`);
  process.exit(1);
});
