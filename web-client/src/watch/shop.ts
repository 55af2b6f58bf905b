// The viewer's shop: pinned products (at most 3), the stream's product list, flash-sale cards
// (countdown in stream time, stock left), cart, buy now and checkout with an Idempotency-Key.

import { Api, ApiError, idempotencyKey, money } from '../common/api';
import { $, h, replace, say } from '../common/dom';
import type { FlashSale, Product } from '../common/types';

export const PIN_LIMIT = 3;

interface Pin {
  product_id: string;
  title: string;
  price_minor: number;
  currency: string;
}

interface CartItem {
  product_id: string;
  title: string;
  quantity: number;
  unit_price_minor: number;
  currency: string;
}

export class Shop {
  products = new Map<string, Product>();
  pins: Pin[] = [];
  sales = new Map<string, FlashSale>();
  cart: CartItem[] = [];
  orders: any[] = [];
  private msg = $('shop-msg');

  constructor(
    private readonly api: Api,
    private readonly streamId: string,
    /** PDT (Unix ms) of the frame on screen, or wall time when there is none. */
    private readonly streamNow: () => number,
  ) {
    $('checkout').addEventListener('click', () => void this.checkout());
  }

  async load(): Promise<void> {
    const s = this.api.stream(this.streamId);
    const [prods, pins, sales, orders] = await Promise.all([
      this.api.call<{ products: Product[] }>(`${s}/products`),
      this.api.call<{ pins: { product_id: string }[] }>(`${s}/pins`),
      this.api.call<{ flash_sales: FlashSale[] }>(`${s}/flash-sales`),
      this.api.call<{ orders: any[] }>('/api/v1/orders'),
    ]);
    this.orders = orders.orders.filter((o) => o.stream_id === this.streamId);
    this.products = new Map(prods.products.map((p) => [p.id, p]));
    this.pins = [];
    for (const p of pins.pins) {
      const prod = this.products.get(p.product_id) ?? (await this.api.call<Product>(`/api/v1/products/${encodeURIComponent(p.product_id)}`).catch(() => null));
      if (prod) this.pins.push({ product_id: prod.id, title: prod.title, price_minor: prod.price_minor, currency: prod.currency });
    }
    this.sales = new Map(sales.flash_sales.map((f) => [f.id, f]));
    await this.loadCart();
    this.render();
  }

  async loadCart(): Promise<void> {
    const c = await this.api.call<{ items: CartItem[] }>(`${this.api.stream(this.streamId)}/cart`);
    this.cart = c.items;
  }

  pinAdded(d: Pin): void {
    if (!this.pins.some((p) => p.product_id === d.product_id)) this.pins.push(d);
    this.pins = this.pins.slice(-PIN_LIMIT);
    this.renderPins();
  }

  pinRemoved(productId: string): void {
    this.pins = this.pins.filter((p) => p.product_id !== productId);
    this.renderPins();
  }

  sale(s: FlashSale): void {
    this.sales.set(s.id, s);
    this.renderSales();
  }

  stock(saleId: string, remaining: number): void {
    const s = this.sales.get(saleId);
    if (s) {
      s.remaining = remaining;
      this.renderSales();
    }
  }

  async productsChanged(): Promise<void> {
    const r = await this.api.call<{ products: Product[] }>(`${this.api.stream(this.streamId)}/products`);
    this.products = new Map(r.products.map((p) => [p.id, p]));
    this.renderProducts();
  }

  orderUpdated(d: { order_id: string; status: string; total_minor: number; currency: string }): void {
    this.upsertOrder({ id: d.order_id, status: d.status, total_minor: d.total_minor, currency: d.currency });
  }

  /** One row per order id, whichever arrives first: the purchase answer or the order event. */
  private upsertOrder(o: { id: string; status: string; total_minor: number; currency: string }): void {
    const cur = this.orders.find((x) => x.id === o.id);
    if (cur) Object.assign(cur, o);
    else this.orders.unshift(o);
    this.renderOrders();
  }

  render(): void {
    this.renderPins();
    this.renderProducts();
    this.renderSales();
    this.renderCart();
    this.renderOrders();
  }

  /** Re-render the countdowns (called from the page's tick). */
  tick(): void {
    for (const el of document.querySelectorAll<HTMLElement>('[data-countdown-sale]')) {
      const s = this.sales.get(el.dataset.countdownSale ?? '');
      if (s) el.textContent = this.countdown(s);
    }
  }

  private countdown(s: FlashSale): string {
    if (s.state === 'ended' || !s.window) return s.state === 'ended' ? 'Ended' : 'Not started';
    const now = this.streamNow();
    if (now < s.window.start_pdt_ms) return `Starts in ${fmt(s.window.start_pdt_ms - now)}`;
    if (now >= s.window.end_pdt_ms) return 'Ended';
    return `Ends in ${fmt(s.window.end_pdt_ms - now)}`;
  }

  private renderPins(): void {
    replace(
      $('pins'),
      ...this.pins.map((p) =>
        h('li', { 'data-product-id': p.product_id, 'aria-label': `Pinned: ${p.title}` },
          h('strong', {}, p.title),
          h('span', {}, money(p.price_minor, p.currency)),
          h('button', { type: 'button', class: 'small', 'aria-label': `Buy ${p.title} now`, onclick: () => void this.buyNow(p.product_id) }, 'Buy now'),
        ),
      ),
    );
  }

  private renderProducts(): void {
    const list = [...this.products.values()];
    replace(
      $('products'),
      ...(list.length === 0
        ? [h('li', {}, 'No products in this show yet.')]
        : list.map((p) =>
            h('li', { 'data-product-id': p.id },
              h('span', {}, h('strong', {}, p.title), ' ', money(p.price_minor, p.currency), h('small', {}, ` · ${p.stock} left`)),
              h('span', { class: 'row' },
                h('button', { type: 'button', class: 'small secondary', 'aria-label': `Add ${p.title} to cart`, onclick: () => void this.addToCart(p.id) }, 'Add to cart'),
                h('button', { type: 'button', class: 'small', 'aria-label': `Buy ${p.title} now`, onclick: () => void this.buyNow(p.id) }, 'Buy now'),
              ),
            ),
          )),
    );
  }

  private renderSales(): void {
    const live = [...this.sales.values()].filter((s) => s.state === 'live');
    replace(
      $('flash'),
      ...live.map((s) => {
        const title = this.products.get(s.product_id)?.title ?? s.product_id;
        return h('div', { class: 'card', 'data-sale-id': s.id, role: 'group', 'aria-label': `Flash sale: ${title}` },
          h('span', {}, h('strong', {}, `⚡ ${title}`), ' ', money(s.sale_price_minor, s.currency)),
          h('span', { 'data-countdown-sale': s.id }, this.countdown(s)),
          h('span', { class: 'stock' }, `${s.remaining} of ${s.stock_limit} left`),
          h('button', { type: 'button', disabled: s.remaining <= 0, 'aria-label': `Buy ${title} in the flash sale`, onclick: () => void this.buyFlash(s) }, s.remaining > 0 ? 'Buy' : 'Sold out'),
        );
      }),
    );
  }

  private renderCart(): void {
    replace(
      $('cart'),
      ...this.cart.map((i) =>
        h('li', { class: 'card' }, `${i.quantity} × ${i.title}`, ' ', money(i.unit_price_minor * i.quantity, i.currency),
          h('button', { type: 'button', class: 'small secondary', 'aria-label': `Remove ${i.title} from cart`, onclick: () => void this.setQty(i.product_id, 0) }, 'Remove')),
      ),
    );
    const total = this.cart.reduce((a, i) => a + i.unit_price_minor * i.quantity, 0);
    $('cart-total').textContent = this.cart.length ? `Total ${money(total, this.cart[0].currency)}` : 'Your cart is empty.';
    ($('checkout') as HTMLButtonElement).disabled = this.cart.length === 0;
  }

  private renderOrders(): void {
    replace(
      $('orders'),
      ...this.orders.map((o) => h('li', { 'data-order-id': o.id }, `Order ${o.id}: ${o.status} · ${money(o.total_minor, o.currency)}`)),
    );
  }

  private async setQty(productId: string, quantity: number): Promise<void> {
    await this.api.call(`${this.api.stream(this.streamId)}/cart/${encodeURIComponent(productId)}`, { method: 'PUT', body: { quantity } });
    await this.loadCart();
    this.renderCart();
  }

  private async addToCart(productId: string): Promise<void> {
    try {
      const cur = this.cart.find((i) => i.product_id === productId)?.quantity ?? 0;
      await this.setQty(productId, cur + 1);
      say(this.msg, 'Added to cart.', 'ok');
    } catch (e) {
      this.refused(e);
    }
  }

  private async buyNow(productId: string): Promise<void> {
    try {
      await this.setQty(productId, Math.max(1, this.cart.find((i) => i.product_id === productId)?.quantity ?? 1));
      await this.checkout();
    } catch (e) {
      this.refused(e);
    }
  }

  async checkout(): Promise<void> {
    const key = idempotencyKey(); // one key per attempt; a retry after a network error reuses it
    say(this.msg, 'Placing your order…');
    try {
      const order = await this.retryOnce(() =>
        this.api.call(`${this.api.stream(this.streamId)}/checkout`, { method: 'POST', headers: { 'idempotency-key': key } }),
      );
      this.upsertOrder(order);
      say(this.msg, `Order ${order.id} ${order.status}.`, 'ok');
      await this.loadCart();
      this.render();
    } catch (e) {
      this.refused(e);
    }
  }

  private async buyFlash(s: FlashSale): Promise<void> {
    const key = idempotencyKey();
    try {
      const order = await this.retryOnce(() =>
        this.api.call(`${this.api.stream(this.streamId)}/flash-sales/${encodeURIComponent(s.id)}/purchase`, {
          method: 'POST',
          headers: { 'idempotency-key': key },
          body: { quantity: 1, playout: { pdt_ms: Math.round(this.streamNow()) } },
        }),
      );
      this.upsertOrder(order);
      say(this.msg, `Order ${order.id} ${order.status}.`, 'ok');
    } catch (e) {
      this.refused(e);
    }
  }

  private async retryOnce<T>(f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof ApiError && e.code === 'network') return f();
      throw e;
    }
  }

  private refused(e: unknown): void {
    say(this.msg, e instanceof Error ? e.message : String(e), 'error');
  }
}

function fmt(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
