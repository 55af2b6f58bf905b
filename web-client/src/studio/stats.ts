// The studio's "Live" figures: viewers, reactions, orders, revenue by currency, gifts. Read from
// `GET /api/v1/streams/{id}/stats` (host, moderator or admin token), refreshed when an event that
// changes them arrives (orders reach staff over the socket), and the viewer count straight from
// the socket's `viewers` frames.

import { Api, money } from '../common/api';
import { $, say } from '../common/dom';
import type { StreamStats, Viewers } from '../common/types';
import { viewersLabel } from '../common/viewers';

const STAT_KINDS = new Set(['order.updated', 'order.created', 'chat.reaction', 'chat.message', 'chat.deleted', 'gift.sent', 'flash.stock']);

export class LiveStats {
  /** The last answer (read by tests). */
  last: StreamStats | null = null;
  private pending: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly api: Api,
    private readonly id: string,
  ) {}

  /** An event arrived: refresh soon (several events in a burst make one request). */
  event(kind: string): void {
    if (!STAT_KINDS.has(kind) || this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      void this.refresh();
    }, 250);
  }

  viewers(v: Viewers): void {
    const el = $('st-viewers');
    el.textContent = String(v.viewers);
    el.setAttribute('aria-label', `${viewersLabel(v)}; ${v.connected} live-update connections`);
    if (this.last) this.last.viewers = v;
  }

  async refresh(): Promise<void> {
    let s: StreamStats;
    try {
      s = await this.api.call<StreamStats>(`${this.api.stream(this.id)}/stats`);
    } catch (e) {
      say($('stats-note'), `Live figures unavailable: ${e instanceof Error ? e.message : String(e)}`, 'error');
      return;
    }
    this.last = s;
    $('stats-note').hidden = true;
    this.viewers(s.viewers);
    $('st-reactions').textContent = String(s.reactions);
    $('st-orders').textContent = String(s.orders.paid);
    $('st-orders').setAttribute('aria-label', `${s.orders.paid} paid orders, ${s.orders.pending} pending, ${s.orders.failed} failed`);
    $('st-revenue').textContent = s.revenue.length ? s.revenue.map((r) => money(r.total_minor, r.currency)).join(' + ') : '—';
    $('st-gifts').textContent = `${s.gifts} (${s.gift_coins} coins)`;
  }
}
