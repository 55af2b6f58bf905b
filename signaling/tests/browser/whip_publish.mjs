// Headless Chromium publishes its fake camera and microphone over WHIP and prints JSON:
// { status, location, framesEncoded, packetsSent, codec, deleteStatus } (or { error }).
// Usage: node whip_publish.mjs <page-url> <whip-url> <stream-key> <seconds>
// Only 127.0.0.1 candidates are sent to the server (tests stay on loopback).
import { args, openPage } from './launch.mjs';

const [pageUrl, whipUrl, key, seconds] = args('whip_publish.mjs <page-url> <whip-url> <stream-key> <seconds>', 3);
const { browser, page } = await openPage(pageUrl);
try {
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
