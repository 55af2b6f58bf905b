// Headless Chromium publishes its fake camera and microphone over WHIP and prints JSON:
// { status, location, framesEncoded, packetsSent, codec, deleteStatus } (or { error }).
// Usage: node whip_publish.mjs <page-url> <whip-url> <stream-key> <seconds>
// Only 127.0.0.1 candidates are sent to the server (tests stay on loopback).
import { chromium } from 'playwright-core';

const [pageUrl, whipUrl, key, seconds] = process.argv.slice(2);
if (!pageUrl || !whipUrl || !key) {
  console.error('usage: node whip_publish.mjs <page-url> <whip-url> <stream-key> <seconds>');
  process.exit(2);
}
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
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.error('[page]', m.text()));
  await page.goto(pageUrl);
  const result = await page.evaluate(async ({ whipUrl, key, seconds }) => {
    const media = await navigator.mediaDevices.getUserMedia({
      video: { width: 640, height: 360, frameRate: 30 }, audio: true,
    });
    const pc = new RTCPeerConnection();
    for (const track of media.getTracks()) {
      pc.addTransceiver(track, { direction: 'sendonly', streams: [media] });
    }
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
      setTimeout(resolve, 3000);
    });
    const sdp = pc.localDescription.sdp
      .split('\r\n')
      .filter((l) => !l.startsWith('a=candidate:') || l.includes(' 127.0.0.1 '))
      .join('\r\n');
    const resp = await fetch(whipUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${key}` },
      body: sdp,
    });
    const body = await resp.text();
    if (resp.status !== 201) return { status: resp.status, error: body };
    const location = resp.headers.get('Location');
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const stats = await pc.getStats();
    let framesEncoded = 0; let packetsSent = 0; let codec = null; let state = pc.connectionState;
    const codecs = {};
    stats.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
    stats.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        framesEncoded = s.framesEncoded || 0;
        packetsSent = s.packetsSent || 0;
        codec = codecs[s.codecId] || null;
      }
    });
    const del = await fetch(new URL(location, whipUrl), { method: 'DELETE' });
    pc.close();
    return { status: resp.status, location, framesEncoded, packetsSent, codec, state, deleteStatus: del.status };
  }, { whipUrl, key, seconds: Number(seconds || 5) });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
