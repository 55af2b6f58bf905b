// Headless Chromium (the system /usr/bin/chromium) watches a WHEP stream and prints JSON:
// { firstFrameMs, samples: [{ms, framesDecoded, width, height, audioPackets, state}], deleteStatus }.
// Usage: node whep_view.mjs <page-url> <whep-url> <seconds>
// Only 127.0.0.1 candidates are sent to the server (tests stay on loopback).
import { args, openPage } from './launch.mjs';

const [pageUrl, whepUrl, seconds] = args('whep_view.mjs <page-url> <whep-url> <seconds>', 2);
const { browser, page } = await openPage(pageUrl);
try {
  const result = await page.evaluate(async ({ whepUrl, seconds }) => {
    const t0 = performance.now();
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
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
    const resp = await fetch(whepUrl, {
      method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: sdp,
    });
    const body = await resp.text();
    if (resp.status !== 201) return { error: `POST ${resp.status}: ${body}` };
    const location = resp.headers.get('Location');
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    const samples = [];
    let firstFrameMs = null;
    const end = t0 + seconds * 1000;
    while (performance.now() < end) {
      const stats = await pc.getStats();
      let v = null; let a = null;
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') v = s;
        if (s.type === 'inbound-rtp' && s.kind === 'audio') a = s;
      });
      const fd = v ? (v.framesDecoded || 0) : 0;
      if (fd > 0 && firstFrameMs === null) firstFrameMs = performance.now() - t0;
      samples.push({
        ms: Math.round(performance.now() - t0), framesDecoded: fd,
        width: v ? v.frameWidth : null, height: v ? v.frameHeight : null,
        audioPackets: a ? (a.packetsReceived || 0) : 0, state: pc.connectionState,
      });
      await new Promise((r) => setTimeout(r, 100));
    }
    let deleteStatus = null;
    if (location) {
      deleteStatus = (await fetch(new URL(location, whepUrl), { method: 'DELETE' })).status;
    }
    pc.close();
    return { firstFrameMs, samples, deleteStatus, location };
  }, { whepUrl, seconds: Number(seconds || 5) });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
