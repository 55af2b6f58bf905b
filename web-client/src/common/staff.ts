// Staff login for the studio and the moderator panel. One field takes what the person has:
// the stream key (exchanged for a host token), a moderator token, or the server's admin key.

import { Api, ApiError } from './api';
import type { TokenAnswer } from './types';

export interface StreamView {
  id: string;
  title: string;
  stream_key: string;
  state: 'idle' | 'live';
  rtmp_url: string;
  whip_url: string;
  ingest: { protocol: string; bitrate_kbps: number } | null;
}

export interface StaffSession {
  /** Bearer for the commerce API and the WebSocket. */
  token: string;
  role: 'host' | 'moderator' | 'admin';
  /** Known when logged in with the stream key or the admin key. */
  streamKey: string | null;
  /** `GET /api/v1/streams/{id}` when the credential may read it (admin today). */
  view: StreamView | null;
}

/** Read the stream with `bearer` (admin-only today; a host token is tried in case it is allowed). */
export async function streamView(api: Api, id: string, bearer: string): Promise<StreamView | null> {
  try {
    return await api.call<StreamView>(`/api/v1/streams/${encodeURIComponent(id)}`, { token: bearer });
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return null;
    throw e;
  }
}

export async function staffLogin(api: Api, id: string, secret: string, want: 'host' | 'staff'): Promise<StaffSession> {
  const s = api.stream(id);
  // 1. The admin key: it reads the stream (and its key), and acts on everything.
  const asAdmin = await streamView(api, id, secret);
  if (asAdmin) return { token: secret, role: 'admin', streamKey: asAdmin.stream_key, view: asAdmin };
  // 2. The stream key → a host token.
  try {
    const host = await api.call<TokenAnswer>(`${s}/tokens/host`, { method: 'POST', body: { stream_key: secret }, token: null });
    return { token: host.token, role: 'host', streamKey: secret, view: await streamView(api, id, host.token) };
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401 || want === 'host') {
      throw e instanceof ApiError && e.status === 401 ? new Error('Wrong stream key.') : e;
    }
  }
  // 3. A moderator (or host) token issued by an admin or the host.
  try {
    await api.call(`${s}/moderation/log`, { token: secret });
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      throw new Error('Not a stream key, moderator token or admin key for this stream.');
    }
    throw e;
  }
  return { token: secret, role: 'moderator', streamKey: null, view: null };
}

/** Live or offline, from the public stream info (`GET /api/v1/streams/{id}/info`). */
export async function probeLive(base: string, id: string): Promise<'live' | 'offline' | 'unknown'> {
  try {
    const r = await fetch(`${base}/api/v1/streams/${encodeURIComponent(id)}/info`, { cache: 'no-store' });
    if (!r.ok) return r.status === 404 ? 'offline' : 'unknown';
    const info = (await r.json()) as { state?: string };
    return info.state === 'live' ? 'live' : 'offline';
  } catch {
    return 'unknown';
  }
}

/** `POST /api/v1/streams/{id}/end`: disconnect the encoder (host, moderator or admin). */
export async function endStream(api: Api, id: string): Promise<string> {
  try {
    await api.call(`${api.stream(id)}/end`, { method: 'POST' });
    return 'The stream was ended.';
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 501)) {
      return 'Ending the stream from the browser is not available on this server yet — stop the encoder (OBS: Stop Streaming).';
    }
    throw e;
  }
}
