// The viewer count: the text and accessible name of the badge, and the per-page client id the
// server counts LL-HLS players by (`cid` on playlist requests).

import type { Viewers } from './types';

/** Badge text: `1 watching`, `1.2k watching`. */
export function viewersText(n: number): string {
  const short = n >= 10_000 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n);
  return `${short} watching`;
}

/** Accessible name: `3 viewers (2 on WebRTC, 1 on LL-HLS)`. */
export function viewersLabel(v: Viewers): string {
  const parts = [v.webrtc ? `${v.webrtc} on WebRTC` : '', v.llhls ? `${v.llhls} on LL-HLS` : ''].filter(Boolean);
  return `${v.viewers} ${v.viewers === 1 ? 'viewer' : 'viewers'}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/** A random id for this page (not stored: a reload is a new session after the old one expires). */
export function newClientId(): string {
  if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) return crypto.randomUUID().replace(/-/g, '');
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
}
