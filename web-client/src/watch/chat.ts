// Chat and reactions for the viewer. Refusals (banned, muted, slow mode, word filter) are shown
// as the server words them.

import { Api } from '../common/api';
import { $, h, say } from '../common/dom';
import type { ChatMessage } from '../common/types';

/** Reaction glyphs that every system font has (colour emoji fonts are often missing on Linux). */
export const REACTIONS = ['♥', '★', '☺', '✔'];

export class Chat {
  private log = $('chat');
  private msg = $('chat-msg');

  constructor(
    private readonly api: Api,
    private readonly streamId: string,
  ) {
    $('chat-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.send();
    });
  }

  async load(): Promise<void> {
    const r = await this.api.call<{ messages: ChatMessage[]; pinned_message: string | null }>(`${this.api.stream(this.streamId)}/chat?limit=50`);
    this.log.replaceChildren();
    r.messages.forEach((m) => this.add(m));
    this.pinned(r.pinned_message);
  }

  add(m: ChatMessage): void {
    if (this.log.querySelector(`[data-message-id="${CSS.escape(m.id)}"]`)) return;
    const counts = h('span', { class: 'reactions' });
    const li = h('li', { 'data-message-id': m.id, 'data-user-id': m.user_id },
      h('span', { class: 'who' }, m.user_name ?? 'anonymous'),
      h('span', { class: 'text' }, m.text),
      ' ',
      counts,
      ' ',
      ...REACTIONS.map((e) => h('button', { type: 'button', class: 'small secondary', 'aria-label': `React ${e}`, onclick: () => void this.react(m.id, e) }, e)),
    );
    this.log.append(li);
    while (this.log.children.length > 200) this.log.firstElementChild?.remove();
    this.log.scrollTop = this.log.scrollHeight;
  }

  system(text: string): void {
    this.log.append(h('li', { class: 'system' }, h('em', {}, text)));
    this.log.scrollTop = this.log.scrollHeight;
  }

  deleted(id: string): void {
    this.log.querySelector(`[data-message-id="${CSS.escape(id)}"]`)?.remove();
  }

  reaction(messageId: string, emoji: string): void {
    const el = this.log.querySelector(`[data-message-id="${CSS.escape(messageId)}"] .reactions`);
    if (!el) return;
    const cur = new Map<string, number>(JSON.parse((el as HTMLElement).dataset.counts ?? '[]'));
    cur.set(emoji, (cur.get(emoji) ?? 0) + 1);
    (el as HTMLElement).dataset.counts = JSON.stringify([...cur]);
    el.textContent = [...cur].map(([e, n]) => `${e}${n}`).join(' ');
  }

  pinned(text: string | null): void {
    const el = $('pinned-message');
    el.textContent = text ? `Pinned: ${text}` : '';
    el.hidden = !text;
  }

  private async send(): Promise<void> {
    const input = $('chat-input') as HTMLInputElement;
    const text = input.value.trim();
    if (!text) return;
    try {
      await this.api.call(`${this.api.stream(this.streamId)}/chat`, { method: 'POST', body: { text } });
      input.value = '';
      say(this.msg, '');
    } catch (e) {
      say(this.msg, e instanceof Error ? e.message : String(e), 'error');
    }
  }

  private async react(messageId: string, emoji: string): Promise<void> {
    try {
      await this.api.call(`${this.api.stream(this.streamId)}/chat/${encodeURIComponent(messageId)}/reactions`, { method: 'POST', body: { emoji } });
    } catch (e) {
      say(this.msg, e instanceof Error ? e.message : String(e), 'error');
    }
  }
}
