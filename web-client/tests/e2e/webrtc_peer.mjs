// A WHIP/WHEP *reference peer* for testing the pages' WebRTC clients before the engine has
// WHIP/WHEP: an HTTP front on 127.0.0.1 that answers `POST /whip/{id}` and `POST /whep/{id}`
// (RFC 9725: application/sdp offer → 201 + answer + Location) with a hidden Chromium tab as the
// media peer (it relays what the studio publishes to every WHEP viewer), and proxies everything
// else — pages, REST, the /ws WebSocket — to the real engine. It is a test rig, not the engine.

import { createServer, request } from 'node:http';
import { connect } from 'node:net';
import { freePort } from './harness.mjs';

const PEER_JS = `
  window.published = null;
  window.pcs = [];
  async function answer(pc, offer) {
    await pc.setRemoteDescription({ type: 'offer', sdp: offer });
    await pc.setLocalDescription(await pc.createAnswer());
    if (pc.iceGatheringState !== 'complete') {
      await new Promise((r) => { pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); setTimeout(r, 3000); });
    }
    window.pcs.push(pc);
    return pc.localDescription.sdp;
  }
  window.whip = async (offer) => {
    const pc = new RTCPeerConnection();
    const ms = new MediaStream();
    pc.ontrack = (e) => { ms.addTrack(e.track); window.published = ms; };
    return answer(pc, offer);
  };
  window.whep = async (offer) => {
    if (!window.published) throw new Error('nothing published');
    const pc = new RTCPeerConnection();
    await pc.setRemoteDescription({ type: 'offer', sdp: offer });
    for (const t of pc.getTransceivers()) {
      const track = window.published.getTracks().find((x) => x.kind === t.receiver.track.kind);
      if (track) { t.direction = 'sendonly'; await t.sender.replaceTrack(track); }
    }
    await pc.setLocalDescription(await pc.createAnswer());
    if (pc.iceGatheringState !== 'complete') {
      await new Promise((r) => { pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); setTimeout(r, 3000); });
    }
    window.pcs.push(pc);
    return pc.localDescription.sdp;
  };
`;

export async function startReferencePeer(browser, engine) {
  const tab = await browser.newPage();
  await tab.goto('about:blank');
  await tab.evaluate(PEER_JS);
  const log = [];
  let n = 0;
  const port = await freePort();
  const target = new URL(engine.base);
  const server = createServer(async (req, res) => {
    const m = /^\/(whip|whep)\/([^/?]+)(\/sessions\/\d+)?/.exec(req.url ?? '');
    if (!m) return proxy(req, res);
    const body = await new Promise((r) => {
      const parts = [];
      req.on('data', (c) => parts.push(c));
      req.on('end', () => r(Buffer.concat(parts).toString()));
    });
    if (req.method === 'DELETE' && m[3]) {
      log.push(`DELETE ${req.url}`);
      return res.writeHead(200).end();
    }
    if (req.method !== 'POST' || !(req.headers['content-type'] ?? '').startsWith('application/sdp')) {
      log.push(`refused ${req.method} ${req.url} (${req.headers['content-type']})`);
      return res.writeHead(415).end('application/sdp offers only');
    }
    log.push(`${m[1]} offer from ${req.headers.authorization ? 'bearer' : 'anonymous'}`);
    try {
      const answer = await tab.evaluate(([kind, offer]) => window[kind](offer), [m[1], body]);
      res.writeHead(201, { 'content-type': 'application/sdp', location: `/${m[1]}/${m[2]}/sessions/${++n}` }).end(answer);
    } catch (e) {
      log.push(`${m[1]} failed: ${e.message}`);
      res.writeHead(503).end(String(e.message));
    }
  });
  const proxy = (req, res) => {
    const up = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', (e) => res.writeHead(502).end(e.message));
    req.pipe(up);
  };
  server.on('upgrade', (req, socket, head) => {
    const up = connect(Number(target.port), target.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`, ...Object.entries(req.headers).map(([k, v]) => `${k}: ${k === 'host' ? target.host : v}`)];
      up.write(lines.join('\r\n') + '\r\n\r\n');
      if (head?.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${port}`, log, tab, close: () => server.close() };
}
