// Headless Chromium (the system /usr/bin/chromium, or $CHROMIUM) for the WebRTC tests: loopback
// ICE candidates allowed, no mDNS hiding, fake camera and microphone. Opens `pageUrl` and returns
// { browser, page }; page console lines go to stderr.
import { chromium } from 'playwright-core';

// The script's arguments; exits with `usage` when fewer than `required` are given.
export function args(usage, required) {
  const argv = process.argv.slice(2);
  if (argv.slice(0, required).some((a) => !a)) {
    console.error(`usage: node ${usage}`);
    process.exit(2);
  }
  return argv;
}

export async function openPage(pageUrl) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--allow-loopback-in-peer-connection', '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ],
  });
  const page = await browser.newPage();
  page.on('console', (m) => console.error('[page]', m.text()));
  await page.goto(pageUrl);
  return { browser, page };
}

// Page-side helpers as `window.rtcTest`: sleep(ms), frames(pc) (video framesDecoded),
// waitFrames(pc, atLeast, ms), iceAttr(sdp, name), transportUfrag(pc), afterRestart(pc, out).
export async function installHelpers(page) {
  await page.evaluate(() => {
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const frames = async (pc) => {
      let fd = 0;
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') fd = s.framesDecoded || 0;
      });
      return fd;
    };
    const waitFrames = async (pc, atLeast, ms) => {
      const end = performance.now() + ms;
      let fd = await frames(pc);
      while (fd < atLeast && performance.now() < end) { await sleep(100); fd = await frames(pc); }
      return fd;
    };
    const iceAttr = (sdp, name) => {
      const line = sdp.split('\r\n').find((l) => l.startsWith(`a=${name}:`));
      return line ? line.slice(name.length + 3) : null;
    };
    const transportUfrag = async (pc) => {
      let u = null;
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'transport') u = s.iceLocalUsernameFragment || null;
      });
      return u;
    };
    // After an ICE restart: both sides' new ufrags, frames then and 60 frames later (10 s at
    // most), the connection state and the ufrag the transport runs on.
    const afterRestart = async (pc, out) => {
      out.ufragAfter = iceAttr(pc.localDescription.sdp, 'ice-ufrag');
      out.serverUfragAfter = iceAttr(pc.currentRemoteDescription.sdp, 'ice-ufrag');
      out.framesAtRestart = await frames(pc);
      out.framesEnd = await waitFrames(pc, out.framesAtRestart + 60, 10000);
      out.stateEnd = pc.connectionState;
      out.transportUfrag = await transportUfrag(pc);
    };
    window.rtcTest = { sleep, frames, waitFrames, iceAttr, transportUfrag, afterRestart };
  });
}
