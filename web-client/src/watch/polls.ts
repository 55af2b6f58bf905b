// Poll voting with live results. A poll appears (and closes) in stream time; results are live.

import { Api } from '../common/api';
import { $, h, replace, say } from '../common/dom';
import type { Poll } from '../common/types';

export class Polls {
  polls = new Map<string, Poll>();
  private voted = new Set<string>();
  /** Results that arrived before their poll was shown (it is still waiting for the video). */
  private early = new Map<string, { tally: number[]; voters: number }>();

  constructor(
    private readonly api: Api,
    private readonly streamId: string,
  ) {}

  async load(): Promise<void> {
    const r = await this.api.call<{ polls: Poll[] }>(`${this.api.stream(this.streamId)}/polls`);
    this.polls = new Map(r.polls.map((p) => [p.id, p]));
    this.render();
  }

  shown(p: Poll): void {
    const early = this.early.get(p.id);
    this.polls.set(p.id, early ? { ...p, ...early } : p);
    this.early.delete(p.id);
    this.render();
  }

  closed(pollId: string): void {
    const p = this.polls.get(pollId);
    if (p) p.closed = true;
    this.render();
  }

  results(d: { poll_id: string; tally: number[]; voters: number }): void {
    const p = this.polls.get(d.poll_id);
    if (!p) {
      this.early.set(d.poll_id, { tally: d.tally, voters: d.voters });
      return;
    }
    p.tally = d.tally;
    p.voters = d.voters;
    this.render();
  }

  private async vote(p: Poll, choice: number, status: HTMLElement): Promise<void> {
    try {
      await this.api.call(`${this.api.stream(this.streamId)}/polls/${encodeURIComponent(p.id)}/votes`, {
        method: 'POST',
        body: { choices: [choice] },
      });
      this.voted.add(p.id);
      this.render();
    } catch (e) {
      say(status, e instanceof Error ? e.message : String(e), 'error');
    }
  }

  private render(): void {
    const list = [...this.polls.values()].reverse();
    replace(
      $('polls'),
      ...(list.length === 0
        ? [h('p', { class: 'status' }, 'No polls yet.')]
        : list.map((p) => {
            const total = p.tally.reduce((a, b) => a + b, 0);
            const status = h('p', { class: 'status', role: 'status', hidden: true });
            return h('fieldset', { class: 'card', 'data-poll-id': p.id },
              h('legend', {}, p.question, p.closed ? ' (closed)' : ''),
              ...p.options.map((o, i) => {
                const pct = total ? Math.round((p.tally[i] / total) * 100) : 0;
                return h('div', { style: 'width:100%' },
                  h('div', { class: 'row' },
                    h('button', {
                      type: 'button', class: 'small', 'data-option': i,
                      disabled: p.closed || this.voted.has(p.id),
                      'aria-label': `Vote ${o}`,
                      onclick: () => void this.vote(p, i, status),
                    }, o),
                    h('span', { 'data-tally': i }, `${p.tally[i] ?? 0} votes (${pct}%)`),
                  ),
                  h('div', { class: 'bar', 'aria-hidden': 'true' }, h('span', { style: `width:${pct}%` })),
                );
              }),
              h('small', { 'data-voters': '' }, `${p.voters} voters`),
              status,
            );
          })),
    );
  }
}
