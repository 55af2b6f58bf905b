// The commerce WebSocket `/ws/{id}` (protocol showroom.commerce.v1): hello, events with a
// per-stream sequence, reconnect with `since=<last seq>` so nothing is missed, `resync` when the
// server no longer has that history (the page then reloads its state over REST).

import type { CommerceEvent, Viewers } from './types';

export type Link = 'connecting' | 'open' | 'reconnecting';

export interface EventSocketHandlers {
  onEvent(ev: CommerceEvent): void;
  /** The server cannot replay from our last sequence: reload the state over REST. */
  onResync(): void;
  onLink(state: Link, detail?: string): void;
  onHello?(hello: { user_id: string; role: string; head_seq: number }): void;
  /** The stream's audience whenever it changes (not sequenced; `/info` has it on load). */
  onViewers?(v: Viewers): void;
}

/** Reconnect delay after `attempt` failures: 0.5 s doubling to 10 s. */
export function backoffMs(attempt: number): number {
  return Math.min(10_000, 500 * 2 ** Math.min(attempt, 5));
}

export class EventSocket {
  private ws: WebSocket | null = null;
  private last: number | null = null;
  private attempt = 0;
  private closed = false;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly base: string,
    private readonly streamId: string,
    private token: string | null,
    private readonly h: EventSocketHandlers,
  ) {}

  /** The last sequence number received (for `since` on reconnect). */
  get lastSeq(): number | null {
    return this.last;
  }

  start(): void {
    this.closed = false;
    this.open();
  }

  /** Use another token (e.g. after the viewer picked a name): reconnects, keeping `since`. */
  setToken(token: string | null): void {
    this.token = token;
    this.ws?.close();
  }

  stop(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
  }

  private open(): void {
    const u = new URL(`${this.base}/ws/${encodeURIComponent(this.streamId)}`);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.token) u.searchParams.set('token', this.token);
    if (this.last !== null) u.searchParams.set('since', String(this.last));
    this.h.onLink(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const ws = new WebSocket(u);
    this.ws = ws;
    ws.onmessage = (m) => this.frame(String(m.data));
    ws.onopen = () => {
      this.attempt = 0;
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.closed) return;
      const delay = backoffMs(this.attempt++);
      this.h.onLink('reconnecting', `live updates lost; retrying in ${Math.round(delay / 100) / 10} s`);
      this.timer = setTimeout(() => this.open(), delay);
    };
  }

  private frame(text: string): void {
    let f: any;
    try {
      f = JSON.parse(text);
    } catch {
      console.warn('showroom: ignored a non-JSON websocket frame');
      return;
    }
    switch (f.type) {
      case 'hello':
        if (this.last === null) this.last = f.head_seq;
        this.h.onLink('open');
        this.h.onHello?.(f);
        break;
      case 'event':
        if (this.last !== null && f.seq <= this.last) return; // replay overlap
        this.last = f.seq;
        this.h.onEvent(f as CommerceEvent);
        break;
      case 'resync':
        this.last = f.head_seq;
        this.h.onResync();
        break;
      case 'viewers':
        this.h.onViewers?.(f as Viewers);
        break;
      case 'error':
        console.warn('showroom: websocket error frame', f.code, f.message);
        break;
      default:
        break;
    }
  }
}
