// Gifts with a coin balance.

import { Api } from '../common/api';
import { $, h, replace, say } from '../common/dom';

interface Gift {
  id: string;
  name: string;
  coins: number;
}

export class Gifts {
  private msg = $('gift-msg');

  constructor(
    private readonly api: Api,
    private readonly streamId: string,
  ) {}

  async load(): Promise<void> {
    const [cat, bal] = await Promise.all([
      this.api.call<{ gifts: Gift[] }>('/api/v1/gifts'),
      this.api.call<{ coins: number }>('/api/v1/me/coins'),
    ]);
    $('coins').textContent = String(bal.coins);
    replace(
      $('gifts'),
      ...(cat.gifts.length === 0
        ? [h('span', { class: 'status' }, 'No gifts on this server yet.')]
        : cat.gifts.map((g) =>
            h('button', { type: 'button', class: 'small secondary', 'aria-label': `Send ${g.name} for ${g.coins} coins`, onclick: () => void this.send(g) }, `${g.name} · ${g.coins} coins`),
          )),
    );
  }

  private async send(g: Gift): Promise<void> {
    try {
      const r = await this.api.call<{ balance: number }>(`${this.api.stream(this.streamId)}/gifts`, { method: 'POST', body: { gift_id: g.id, count: 1 } });
      $('coins').textContent = String(r.balance);
      say(this.msg, `Sent ${g.name}!`, 'ok');
    } catch (e) {
      say(this.msg, e instanceof Error ? e.message : String(e), 'error');
    }
  }
}
