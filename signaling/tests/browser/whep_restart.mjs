// Headless Chromium watches a stream with trickle ICE, then restarts ICE (pc.restartIce()) and
// keeps watching. Prints JSON: { patches: [status…], restartStatus, restartType, ufragBefore,
// ufragAfter, serverUfragBefore, serverUfragAfter, framesAtRestart, framesEnd, stateEnd }.
// Usage: node whep_restart.mjs <page-url> <whep-url> <patch|ws> [<ws-url>]
//   patch: RFC 9725 — POST an offer without candidates, trickle them with PATCH (If-Match: the
//          ETag), restart with a PATCH fragment (If-Match: *), 200 + answer fragment.
//   ws:    /ws/signal — view, candidate messages, restart with the new offer.
// Only 127.0.0.1 candidates are sent (tests stay on loopback).
import { args, installHelpers, openPage } from './launch.mjs';

const [pageUrl, whepUrl, mode, wsUrl] = args('whep_restart.mjs <page-url> <whep-url> <patch|ws> [<ws-url>]', 3);
const { browser, page } = await openPage(pageUrl);
try {
  await installHelpers(page);
  const result = await page.evaluate(async ({ whepUrl, mode, wsUrl }) => {
    const attr = window.rtcTest.iceAttr;
    const noCandidates = (sdp) => sdp.split('\r\n')
      .filter((l) => !l.startsWith('a=candidate:') && !l.startsWith('a=end-of-candidates'))
      .join('\r\n');
    const loopback = (c) => c && c.candidate && c.candidate.includes(' 127.0.0.1 ');
    const waitFrames = (atLeast, ms) => window.rtcTest.waitFrames(pc, atLeast, ms);
    const gathered = () => new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      const t = setTimeout(resolve, 3000);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
      });
    });

    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const out = { patches: [] };
    const early = [];
    let send = (c) => early.push(c);
    pc.onicecandidate = (e) => { if (loopback(e.candidate)) send(e.candidate); };
    await pc.setLocalDescription(await pc.createOffer());
    const offer = noCandidates(pc.localDescription.sdp);
    out.offerHadCandidates = pc.localDescription.sdp.includes('a=candidate:');
    out.ufragBefore = attr(pc.localDescription.sdp, 'ice-ufrag');

    let restart;
    if (mode === 'patch') {
      const resp = await fetch(whepUrl, {
        method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer,
      });
      const body = await resp.text();
      if (resp.status !== 201) return { error: `POST ${resp.status}: ${body}` };
      const location = new URL(resp.headers.get('Location'), whepUrl);
      let etag = resp.headers.get('ETag');
      out.etag = etag;
      // The server's candidates are dropped: only its checks towards the trickled candidates
      // can connect, so the session connects only if trickle works.
      await pc.setRemoteDescription({ type: 'answer', sdp: noCandidates(body) });
      const mid = pc.getTransceivers()[0].mid;
      const mline = pc.localDescription.sdp.split('\r\n').find((l) => l.startsWith('m='));
      const frag = (ufrag, pwd, cands, end) => [
        `a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, mline, `a=mid:${mid}`,
        ...cands.map((c) => `a=${c.candidate}`), ...(end ? ['a=end-of-candidates'] : []), '',
      ].join('\r\n');
      send = async (c) => {
        const sdp = pc.localDescription.sdp;
        const r = await fetch(location, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': etag },
          body: frag(attr(sdp, 'ice-ufrag'), attr(sdp, 'ice-pwd'), [c], false),
        });
        out.patches.push(r.status);
      };
      for (const c of early.splice(0)) await send(c);
      restart = async () => {
        send = () => {};
        pc.restartIce();
        await pc.setLocalDescription(await pc.createOffer());
        await gathered();
        const sdp = pc.localDescription.sdp;
        const cands = sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:') && l.includes(' 127.0.0.1 '))
          .map((l) => ({ candidate: l.slice(2) }));
        const r = await fetch(location, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': '*' },
          body: frag(attr(sdp, 'ice-ufrag'), attr(sdp, 'ice-pwd'), cands, true),
        });
        out.restartStatus = r.status;
        out.restartType = r.headers.get('Content-Type');
        out.etagAfter = r.headers.get('ETag');
        const answerFrag = await r.text();
        out.answerFrag = answerFrag;
        if (r.status !== 200) return;
        const ufrag = attr(answerFrag, 'ice-ufrag');
        const pwd = attr(answerFrag, 'ice-pwd');
        const fragCands = answerFrag.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
        let first = true;
        const answer = pc.currentRemoteDescription.sdp.split('\r\n').flatMap((l) => {
          if (l.startsWith('a=ice-ufrag:')) return [`a=ice-ufrag:${ufrag}`];
          if (l.startsWith('a=ice-pwd:')) return [`a=ice-pwd:${pwd}`];
          if (l.startsWith('a=candidate:') || l.startsWith('a=end-of-candidates')) return [];
          if (l.startsWith('a=mid:') && first) { first = false; return [l, ...fragCands, 'a=end-of-candidates']; }
          return [l];
        }).join('\r\n');
        await pc.setRemoteDescription({ type: 'answer', sdp: answer });
        // A trickle with the ETag from before the restart is refused.
        const stale = await fetch(location, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': etag },
          body: frag(ufrag, pwd, [], true),
        });
        out.stalePatch = stale.status;
        etag = out.etagAfter;
      };
      out.leave = async () => (await fetch(location, { method: 'DELETE' })).status;
    } else {
      const ws = new WebSocket(wsUrl);
      await new Promise((res, rej) => { ws.onopen = res; ws.onerror = rej; });
      const inbox = [];
      let waiter = null;
      ws.onmessage = (m) => { inbox.push(JSON.parse(m.data)); if (waiter) waiter(); };
      const next = async () => {
        const end = performance.now() + 10000;
        while (!inbox.length && performance.now() < end) await new Promise((r) => { waiter = r; setTimeout(r, 200); });
        return inbox.shift() || { type: 'timeout' };
      };
      ws.send(JSON.stringify({ type: 'view', stream: whepUrl.split('/').pop(), sdp: offer }));
      const a = await next();
      if (a.type !== 'answer') return { error: `view: ${JSON.stringify(a)}` };
      const session = a.session;
      await pc.setRemoteDescription({ type: 'answer', sdp: noCandidates(a.sdp) });
      send = (c) => {
        ws.send(JSON.stringify({
          type: 'candidate', session, candidate: c.candidate, sdp_mid: c.sdpMid, sdp_mline_index: c.sdpMLineIndex,
        }));
        out.patches.push('sent');
      };
      for (const c of early.splice(0)) send(c);
      restart = async () => {
        send = () => {};
        pc.restartIce();
        await pc.setLocalDescription(await pc.createOffer());
        await gathered();
        const sdp = pc.localDescription.sdp.split('\r\n')
          .filter((l) => !l.startsWith('a=candidate:') || l.includes(' 127.0.0.1 ')).join('\r\n');
        ws.send(JSON.stringify({ type: 'restart', session, sdp }));
        const r = await next();
        out.restartStatus = r.type === 'answer' ? 200 : (r.status || 0);
        out.restartType = r.type;
        if (r.type !== 'answer') { out.answerFrag = JSON.stringify(r); return; }
        await pc.setRemoteDescription({ type: 'answer', sdp: r.sdp });
      };
      out.leave = async () => {
        ws.send(JSON.stringify({ type: 'leave', session }));
        const r = await next();
        return r.type === 'left' ? 200 : 0;
      };
    }

    out.serverUfragBefore = attr(pc.currentRemoteDescription.sdp, 'ice-ufrag');
    out.framesBeforeRestart = await waitFrames(30, 10000);
    out.stateBefore = pc.connectionState;
    await restart();
    await window.rtcTest.afterRestart(pc, out);
    out.leaveStatus = await out.leave();
    delete out.leave;
    pc.close();
    return out;
  }, { whepUrl, mode, wsUrl });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
