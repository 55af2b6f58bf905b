// Headless Chromium (the system /usr/bin/chromium) watches a WHEP stream and prints JSON:
// { firstFrameMs, samples: [{ms, framesDecoded, width, height, audioPackets, state}], deleteStatus,
// location, answerExtmaps (the answer's `a=extmap` lines) }.
// Usage: node whep_view.mjs <page-url> <whep-url> <seconds> [<relay-viewer-side> <relay-server-side>]
// Only 127.0.0.1 candidates are sent to the server (tests stay on loopback). With a relay
// (host:port pairs), the offer's only candidate is the relay's server side and the answer's
// candidates all point to the relay's viewer side: every packet goes through the relay.
import { args, openPage } from './launch.mjs';

const [pageUrl, whepUrl, seconds, relayViewer, relayServer] = args(
  'whep_view.mjs <page-url> <whep-url> <seconds> [<relay-viewer-side> <relay-server-side>]', 2);
const { browser, page } = await openPage(pageUrl);
try {
  const result = await page.evaluate(async ({ whepUrl, seconds, relayViewer, relayServer }) => {
    const hostPort = (a) => { const i = a.lastIndexOf(':'); return [a.slice(0, i), a.slice(i + 1)]; };
    // Every candidate line of `sdp` replaced by one host candidate at `addr` (per m-section).
    const onlyCandidate = (sdp, addr) => {
      const [host, port] = hostPort(addr);
      const out = [];
      for (const l of sdp.split('\r\n')) {
        if (l.startsWith('a=candidate:') || l.startsWith('a=end-of-candidates')) continue;
        out.push(l);
        if (l.startsWith('a=mid:')) out.push(`a=candidate:1 1 udp 2122260223 ${host} ${port} typ host`);
      }
      return out.join('\r\n');
    };
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
    const sdp = relayServer ? onlyCandidate(pc.localDescription.sdp, relayServer) : pc.localDescription.sdp
      .split('\r\n')
      .filter((l) => !l.startsWith('a=candidate:') || l.includes(' 127.0.0.1 '))
      .join('\r\n');
    const resp = await fetch(whepUrl, {
      method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: sdp,
    });
    const body = await resp.text();
    if (resp.status !== 201) return { error: `POST ${resp.status}: ${body}` };
    const location = resp.headers.get('Location');
    await pc.setRemoteDescription({
      type: 'answer', sdp: relayViewer ? onlyCandidate(body, relayViewer) : body,
    });
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
    const answerExtmaps = body.split('\r\n').filter((l) => l.startsWith('a=extmap:'));
    return { firstFrameMs, samples, deleteStatus, location, answerExtmaps };
  }, { whepUrl, seconds: Number(seconds || 5), relayViewer, relayServer });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
