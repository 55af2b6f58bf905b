// WHIP / WHEP signalling (RFC 9725 and the WHEP draft): one HTTP POST of an SDP offer,
// `201 Created` with the SDP answer and a `Location` for the session, DELETE to end it.
// ICE candidates are gathered before the POST (no trickle), which every WHIP/WHEP server accepts.
// ICE restart (RFC 9725 §4.4): PATCH the session with the new credentials and candidates as an
// `application/trickle-ice-sdpfrag` (`If-Match: *`); the answer fragment carries the server's.

/** The server answered something other than `201 Created` with an SDP answer. */
export class SignalError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'SignalError';
  }

  /** The endpoint does not exist or is not implemented on this server. */
  get unsupported(): boolean {
    return this.status === 404 || this.status === 405 || this.status === 501;
  }
}

export interface Session {
  /** Absolute URL of the session resource (DELETE it to hang up). */
  resource: string | null;
  /** The `ETag` for ICE restarts (PATCH), if given. */
  etag: string | null;
}

/** Wait until ICE gathering completes, or `timeoutMs` passes (then use what we have). */
export function gathered(pc: RTCPeerConnection, timeoutMs = 2_000): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener('icegatheringstatechange', check);
      clearTimeout(t);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const t = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/** Send the offer of `pc` to `endpoint`, apply the answer. `token` goes in `Authorization: Bearer`. */
export async function negotiate(
  pc: RTCPeerConnection,
  endpoint: string,
  token: string | null,
  signal?: AbortSignal,
): Promise<Session> {
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await gathered(pc);
  const sdp = pc.localDescription?.sdp ?? offer.sdp ?? '';
  const headers: Record<string, string> = { 'content-type': 'application/sdp' };
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(endpoint, { method: 'POST', headers, body: sdp, signal });
  } catch (e) {
    throw new SignalError(0, `cannot reach ${endpoint}: ${String(e)}`);
  }
  const body = await res.text();
  if (res.status !== 201 && res.status !== 200) {
    throw new SignalError(res.status, `${endpoint} answered ${res.status}: ${body.trim().slice(0, 200) || res.statusText}`);
  }
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('application/sdp') || !body.startsWith('v=')) {
    throw new SignalError(res.status, `${endpoint} did not answer with an SDP (content-type ${type || 'none'})`);
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  const loc = res.headers.get('location');
  return {
    resource: loc ? new URL(loc, endpoint).toString() : null,
    etag: res.headers.get('etag'),
  };
}

/** End a session (best effort: the server also times it out). */
export async function hangUp(session: Session, token: string | null): Promise<void> {
  if (!session.resource) return;
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    await fetch(session.resource, { method: 'DELETE', headers });
  } catch (e) {
    console.warn('showroom: DELETE of the session failed', e);
  }
}

/** The media type of ICE fragments (RFC 8840). */
export const SDPFRAG = 'application/trickle-ice-sdpfrag';

/**
 * The ICE part of `sdp` as a trickle fragment: its credentials, the first `m=` section with
 * its `a=mid` and candidates (BUNDLE: one transport), and `a=end-of-candidates`.
 */
export function iceFragment(sdp: string): string {
  const lines = sdp.split(/\r?\n/);
  const attr = (name: string) => lines.find((l) => l.startsWith(`a=${name}:`));
  const first = lines.findIndex((l) => l.startsWith('m='));
  const next = lines.findIndex((l, i) => i > first && l.startsWith('m='));
  const section = first < 0 ? [] : lines.slice(first, next < 0 ? undefined : next);
  const out = [attr('ice-ufrag'), attr('ice-pwd'), section[0], section.find((l) => l.startsWith('a=mid:'))];
  out.push(...section.filter((l) => l.startsWith('a=candidate:')), 'a=end-of-candidates', '');
  return out.filter((l) => l !== undefined).join('\r\n');
}

/**
 * `answer` (the session's SDP answer) with the credentials and candidates of an ICE restart
 * answer fragment: new `a=ice-ufrag`/`a=ice-pwd` everywhere, the fragment's candidates after
 * the first `a=mid` (BUNDLE), every other candidate dropped.
 */
export function applyFragment(answer: string, fragment: string): string {
  const frag = fragment.split(/\r?\n/);
  const ufrag = frag.find((l) => l.startsWith('a=ice-ufrag:'));
  const pwd = frag.find((l) => l.startsWith('a=ice-pwd:'));
  const candidates = frag.filter((l) => l.startsWith('a=candidate:'));
  if (!ufrag || !pwd) throw new SignalError(200, 'ICE restart answer without a=ice-ufrag/a=ice-pwd');
  let placed = false;
  const out: string[] = [];
  for (const l of answer.split(/\r?\n/)) {
    if (l.startsWith('a=candidate:') || l.startsWith('a=end-of-candidates')) continue;
    out.push(l.startsWith('a=ice-ufrag:') ? ufrag : l.startsWith('a=ice-pwd:') ? pwd : l);
    if (!placed && l.startsWith('a=mid:')) {
      out.push(...candidates, 'a=end-of-candidates');
      placed = true;
    }
  }
  return out.join('\r\n');
}

/**
 * ICE restart of a session (after the connection failed, or a network change): new credentials
 * and candidates PATCHed to the session, the server's applied. Updates `session.etag`.
 */
export async function restartIce(
  pc: RTCPeerConnection,
  session: Session,
  token: string | null,
  signal?: AbortSignal,
): Promise<void> {
  const answer = pc.currentRemoteDescription?.sdp;
  if (!session.resource || !answer) throw new SignalError(0, 'no session to restart');
  pc.restartIce();
  await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
  await gathered(pc);
  const headers: Record<string, string> = { 'content-type': SDPFRAG, 'if-match': '*' };
  if (token) headers.authorization = `Bearer ${token}`;
  const body = iceFragment(pc.localDescription?.sdp ?? '');
  let res: Response;
  try {
    res = await fetch(session.resource, { method: 'PATCH', headers, body, signal });
  } catch (e) {
    throw new SignalError(0, `cannot reach ${session.resource}: ${String(e)}`);
  }
  const text = await res.text();
  if (res.status !== 200) {
    await pc.setLocalDescription({ type: 'rollback' }).catch(() => undefined);
    throw new SignalError(res.status, `ICE restart refused (${res.status}): ${text.trim().slice(0, 200)}`);
  }
  session.etag = res.headers.get('etag') ?? session.etag;
  await pc.setRemoteDescription({ type: 'answer', sdp: applyFragment(answer, text) });
}
