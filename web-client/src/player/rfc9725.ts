// WHIP / WHEP signalling (RFC 9725 and the WHEP draft): one HTTP POST of an SDP offer,
// `201 Created` with the SDP answer and a `Location` for the session, DELETE to end it.
// ICE candidates are gathered before the POST (no trickle), which every WHIP/WHEP server accepts.

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
