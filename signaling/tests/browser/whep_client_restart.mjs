// The web client's own signalling (web-client/src/player/rfc9725.ts, transpiled to `module`)
// in headless Chromium: negotiate() a WHEP session, then restartIce() it. Prints JSON:
// { etagBefore, etagAfter, serverUfragBefore, serverUfragAfter, framesBeforeRestart,
//   framesAtRestart, framesEnd, stateEnd, transportUfrag, ufragAfter } (or { error }).
// Usage: node whep_client_restart.mjs <page-url> <whep-url> <rfc9725.js>
// Only 127.0.0.1 candidates are sent (tests stay on loopback).
import { readFileSync } from 'node:fs';
import { args, installHelpers, openPage } from './launch.mjs';

const [pageUrl, whepUrl, module] = args('whep_client_restart.mjs <page-url> <whep-url> <rfc9725.js>', 3);
const { browser, page } = await openPage(pageUrl);
try {
  await installHelpers(page);
  const code = readFileSync(module, 'utf8');
  await page.addScriptTag({ type: 'module', content: `${code}\nwindow.rfc9725 = { negotiate, restartIce, hangUp };` });
  await page.waitForFunction(() => window.rfc9725 !== undefined);
  const result = await page.evaluate(async ({ whepUrl }) => {
    const { negotiate, restartIce, hangUp } = window.rfc9725;
    const attr = window.rtcTest.iceAttr;
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    // What the client code reads as its local description carries only loopback candidates.
    const real = Object.getOwnPropertyDescriptor(RTCPeerConnection.prototype, 'localDescription').get;
    Object.defineProperty(pc, 'localDescription', {
      get() {
        const d = real.call(pc);
        if (!d) return d;
        const sdp = d.sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:') || l.includes(' 127.0.0.1 ')).join('\r\n');
        return { type: d.type, sdp };
      },
    });
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const waitFrames = (atLeast, ms) => window.rtcTest.waitFrames(pc, atLeast, ms);
    const out = {};
    let session;
    try {
      session = await negotiate(pc, whepUrl, null);
    } catch (e) {
      return { error: `negotiate: ${e}` };
    }
    out.etagBefore = session.etag;
    out.serverUfragBefore = attr(pc.currentRemoteDescription.sdp, 'ice-ufrag');
    out.framesBeforeRestart = await waitFrames(30, 10000);
    try {
      await restartIce(pc, session, null);
    } catch (e) {
      return { ...out, error: `restartIce: ${e}` };
    }
    out.etagAfter = session.etag;
    await window.rtcTest.afterRestart(pc, out);
    await hangUp(session, null);
    pc.close();
    return out;
  }, { whepUrl });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
