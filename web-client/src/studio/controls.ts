// The host's shop controls: the stream's product list, pin/unpin (at most 3), polls (create,
// close, live tallies) and flash sales (price, stock, duration).

import { Api, money } from '../common/api';
import { $, h, replace, say } from '../common/dom';
import type { FlashSale, Poll, Product } from '../common/types';

export class Controls {
  catalog: Product[] = [];
  inShow = new Set<string>();
  pinned = new Set<string>();
  polls = new Map<string, Poll>();
  sales = new Map<string, FlashSale>();

  constructor(
    private readonly api: Api,
    private readonly streamId: string,
  ) {
    $('poll-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.createPoll();
    });
    $('flash-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.startSale();
    });
  }

  private get s(): string {
    return this.api.stream(this.streamId);
  }

  async load(): Promise<void> {
    const [cat, show, pins, polls, sales] = await Promise.all([
      this.api.call<{ products: Product[] }>('/api/v1/products'),
      this.api.call<{ products: Product[] }>(`${this.s}/products`),
      this.api.call<{ pins: { product_id: string }[] }>(`${this.s}/pins`),
      this.api.call<{ polls: Poll[] }>(`${this.s}/polls`),
      this.api.call<{ flash_sales: FlashSale[] }>(`${this.s}/flash-sales`),
    ]);
    this.catalog = cat.products;
    this.inShow = new Set(show.products.map((p) => p.id));
    this.pinned = new Set(pins.pins.map((p) => p.product_id));
    this.polls = new Map(polls.polls.map((p) => [p.id, p]));
    this.sales = new Map(sales.flash_sales.map((f) => [f.id, f]));
    this.render();
  }

  /** Live events keep the panels current (also changes made from another tab). */
  event(kind: string, d: any): void {
    switch (kind) {
      case 'pin.added': this.pinned.add(d.product_id); break;
      case 'pin.removed': this.pinned.delete(d.product_id); break;
      case 'poll.created': this.polls.set(d.id, d); break;
      case 'poll.results': { const p = this.polls.get(d.poll_id); if (p) { p.tally = d.tally; p.voters = d.voters; } break; }
      case 'poll.closed': { const p = this.polls.get(d.poll_id ?? d.id); if (p) p.closed = true; break; }
      case 'flash.created': case 'flash.started': case 'flash.ended': this.sales.set(d.id, d); break;
      case 'flash.stock': { const f = this.sales.get(d.sale_id); if (f) f.remaining = d.remaining; break; }
      case 'products.updated': this.inShow = new Set(d.product_ids); break;
      default: return;
    }
    this.render();
  }

  private render(): void {
    const name = (id: string) => this.catalog.find((p) => p.id === id)?.title ?? id;
    replace(
      $('catalog'),
      ...(this.catalog.length === 0
        ? [h('li', {}, 'The catalog is empty (products are created by an admin: POST /api/v1/products).')]
        : this.catalog.map((p) => {
            const pinned = this.pinned.has(p.id);
            return h('li', { 'data-product-id': p.id },
              h('span', {}, h('strong', {}, p.title), ' ', money(p.price_minor, p.currency), h('small', {}, ` · stock ${p.stock}`)),
              h('span', { class: 'row' },
                h('label', {}, h('input', { type: 'checkbox', checked: this.inShow.has(p.id), 'aria-label': `${p.title} in show`, onchange: (e: Event) => void this.toggleShow(p.id, (e.target as HTMLInputElement).checked) }), ' In show'),
                h('button', { type: 'button', class: pinned ? 'small secondary' : 'small', 'aria-pressed': String(pinned), 'aria-label': `${pinned ? 'Unpin' : 'Pin'} ${p.title}`, onclick: () => void this.togglePin(p.id, pinned) }, pinned ? 'Unpin' : 'Pin'),
              ),
            );
          })),
    );
    replace($('flash-product'), ...this.catalog.map((p) => h('option', { value: p.id }, p.title)));
    replace(
      $('studio-polls'),
      ...[...this.polls.values()].reverse().map((p) =>
        h('li', { class: 'card', 'data-poll-id': p.id },
          h('span', {}, h('strong', {}, p.question), ' ', p.options.map((o, i) => `${o}: ${p.tally[i] ?? 0}`).join(' · '), ` (${p.voters} voters)`),
          p.closed ? h('em', {}, 'closed') : h('button', { type: 'button', class: 'small secondary', 'aria-label': `Close poll ${p.question}`, onclick: () => void this.closePoll(p.id) }, 'Close'),
        ),
      ),
    );
    replace(
      $('studio-sales'),
      ...[...this.sales.values()].reverse().map((f) =>
        h('li', { class: 'card', 'data-sale-id': f.id },
          h('span', {}, `⚡ ${name(f.product_id)} ${money(f.sale_price_minor, f.currency)} · ${f.remaining}/${f.stock_limit} left · ${f.state}`),
          f.state === 'live' ? h('button', { type: 'button', class: 'small secondary', onclick: () => void this.endSale(f.id) }, 'End') : null,
        ),
      ),
    );
  }

  private async act(msgId: string, f: () => Promise<unknown>, ok?: string): Promise<void> {
    try {
      await f();
      say($(msgId), ok ?? '', 'ok');
    } catch (e) {
      say($(msgId), e instanceof Error ? e.message : String(e), 'error');
    }
  }

  private togglePin(id: string, pinned: boolean): Promise<void> {
    return this.act('products-msg', async () => {
      if (pinned) await this.api.call(`${this.s}/pins/${encodeURIComponent(id)}`, { method: 'DELETE' });
      else await this.api.call(`${this.s}/pins`, { method: 'POST', body: { product_id: id } });
      if (pinned) this.pinned.delete(id);
      else this.pinned.add(id);
      this.render();
    }, pinned ? 'Unpinned.' : 'Pinned — viewers see it when their video reaches this moment.');
  }

  private toggleShow(id: string, on: boolean): Promise<void> {
    const next = new Set(this.inShow);
    if (on) next.add(id);
    else next.delete(id);
    return this.act('products-msg', async () => {
      await this.api.call(`${this.s}/products`, { method: 'PUT', body: { product_ids: [...next] } });
      this.inShow = next;
    });
  }

  private createPoll(): Promise<void> {
    const question = ($('poll-q') as HTMLInputElement).value.trim();
    const options = ($('poll-opts') as HTMLTextAreaElement).value.split('\n').map((s) => s.trim()).filter(Boolean);
    return this.act('polls-msg', async () => {
      const p = await this.api.call<Poll>(`${this.s}/polls`, { method: 'POST', body: { question, options } });
      this.polls.set(p.id, p);
      ($('poll-form') as HTMLFormElement).reset();
      this.render();
    }, 'Poll created.');
  }

  private closePoll(id: string): Promise<void> {
    return this.act('polls-msg', () => this.api.call(`${this.s}/polls/${encodeURIComponent(id)}/close`, { method: 'POST' }), 'Poll closed.');
  }

  private startSale(): Promise<void> {
    const num = (id: string) => Number(($(id) as HTMLInputElement).value);
    return this.act('flash-msg', async () => {
      const sale = await this.api.call<FlashSale>(`${this.s}/flash-sales`, {
        method: 'POST',
        body: { product_id: ($('flash-product') as HTMLSelectElement).value, sale_price_minor: num('flash-price'), stock: num('flash-stock'), duration_s: num('flash-duration') },
      });
      const live = await this.api.call<FlashSale>(`${this.s}/flash-sales/${encodeURIComponent(sale.id)}/start`, { method: 'POST', body: {} });
      this.sales.set(live.id, live);
      this.render();
    }, 'Flash sale started.');
  }

  private endSale(id: string): Promise<void> {
    return this.act('flash-msg', () => this.api.call(`${this.s}/flash-sales/${encodeURIComponent(id)}/end`, { method: 'POST' }), 'Flash sale ended.');
  }
}
