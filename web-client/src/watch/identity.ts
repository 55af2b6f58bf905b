// The viewer's token: anonymous at first, named once they join the chat. Kept per stream in
// localStorage so a reload keeps the same user (cart, coins, votes).

import { Api } from '../common/api';
import type { TokenAnswer } from '../common/types';

const key = (streamId: string) => `showroom.viewer.${streamId}`;

export function stored(streamId: string): TokenAnswer | null {
  try {
    const t = JSON.parse(localStorage.getItem(key(streamId)) ?? 'null') as TokenAnswer | null;
    if (t && t.expires_at * 1000 > Date.now() + 60_000) return t;
  } catch {
    /* a broken entry is replaced below */
  }
  return null;
}

/** A viewer token for the stream: the stored one, else a new anonymous (or named) one. */
export async function viewerToken(api: Api, streamId: string, name?: string): Promise<TokenAnswer> {
  if (!name) {
    const s = stored(streamId);
    if (s) return s;
  }
  const t = await api.call<TokenAnswer>(`${api.stream(streamId)}/tokens/viewer`, {
    method: 'POST',
    body: name ? { name } : {},
    token: null,
  });
  localStorage.setItem(key(streamId), JSON.stringify(t));
  return t;
}
