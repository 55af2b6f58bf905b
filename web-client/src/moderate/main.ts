// The moderator panel /moderate/{id}: chat with delete, mute and ban (with a duration), slow
// mode, word filter, pinned message, moderation log, stream state and end stream.

import { Api, apiBase, streamIdFromPath } from '../common/api';
import { $, h, replace, say } from '../common/dom';
import { endStream, probeLive, staffLogin, streamView, type StaffSession } from '../common/staff';
import type { ChatMessage, Viewers } from '../common/types';
import { viewersLabel } from '../common/viewers';
import { EventSocket } from '../common/ws';

const PANELS = ['chat-panel', 'settings-panel', 'state-panel', 'log-panel'];

function main(): void {
  const id = streamIdFromPath(location.pathname);
  if (!id) {
    say($('login-msg'), 'No stream id in the address (expected /moderate/{id}).', 'error');
    return;
  }
  const base = apiBase();
  const api = new Api(base);
  const key = `showroom.moderate.${id}`;
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void login(($('login-secret') as HTMLInputElement).value.trim());
  });
  const saved = fromHash ?? sessionStorage.getItem(key);
  if (fromHash) history.replaceState(null, '', location.pathname + location.search);
  if (saved) void login(saved);

  async function login(secret: string): Promise<void> {
    if (!secret) return;
    say($('login-msg'), 'Logging in…');
    try {
      const session = await staffLogin(api, id as string, secret, 'staff');
      sessionStorage.setItem(key, secret);
      api.token = session.token;
      $('login-panel').hidden = true;
      PANELS.forEach((p) => ($(p).hidden = false));
      start(id as string, base, api, session);
    } catch (e) {
      say($('login-msg'), e instanceof Error ? e.message : String(e), 'error');
    }
  }
}

function start(id: string, base: string, api: Api, session: StaffSession): void {
  const s = api.stream(id);
  const chat = $('mod-chat');
  const msg = $('chat-msg');
  (window as any).__showroom = { session };

  const act = async (f: () => Promise<unknown>, ok: string) => {
    try {
      await f();
      say(msg, ok, 'ok');
      await loadLog();
    } catch (e) {
      say(msg, e instanceof Error ? e.message : String(e), 'error');
    }
  };
  const duration = () => {
    const v = ($('duration') as HTMLSelectElement).value;
    return v ? Number(v) : undefined;
  };
  const sanction = (m: ChatMessage, kind: 'ban' | 'mute') =>
    act(() => api.call(`${s}/moderation/sanctions`, { method: 'POST', body: { user_id: m.user_id, kind, duration_s: duration() } }),
      `${m.user_name ?? m.user_id} ${kind === 'ban' ? 'banned' : 'muted'}.`);

  const add = (m: ChatMessage) => {
    if (chat.querySelector(`[data-message-id="${CSS.escape(m.id)}"]`)) return;
    const who = m.user_name ?? 'anonymous';
    chat.append(
      h('li', { 'data-message-id': m.id, 'data-user-id': m.user_id },
        h('span', { class: 'who' }, who), h('span', { class: 'text' }, m.text), ' ',
        h('span', { class: 'row' },
          h('button', { type: 'button', class: 'small secondary', 'aria-label': `Delete message from ${who}`, onclick: () => void act(() => api.call(`${s}/chat/${encodeURIComponent(m.id)}`, { method: 'DELETE' }), 'Message deleted.') }, 'Delete'),
          h('button', { type: 'button', class: 'small secondary', 'aria-label': `Mute ${who}`, onclick: () => void sanction(m, 'mute') }, 'Mute'),
          h('button', { type: 'button', class: 'small', 'aria-label': `Ban ${who}`, onclick: () => void sanction(m, 'ban') }, 'Ban'),
        ),
      ),
    );
    while (chat.children.length > 300) chat.firstElementChild?.remove();
    chat.scrollTop = chat.scrollHeight;
  };

  const loadChat = async () => {
    const r = await api.call<{ messages: ChatMessage[]; pinned_message: string | null; slow_mode_s: number }>(`${s}/chat?limit=100`);
    chat.replaceChildren();
    r.messages.forEach(add);
    ($('pinned') as HTMLInputElement).value = r.pinned_message ?? '';
    ($('slow') as HTMLInputElement).value = String(r.slow_mode_s);
  };
  const loadLog = async () => {
    const r = await api.call<{ log: { id: string; actor: string; action: string; target: string | null; detail: any; created_ms: number }[] }>(`${s}/moderation/log`);
    replace(
      $('mod-log'),
      ...r.log.map((l) =>
        h('li', { 'data-log-id': l.id, 'data-action': l.action },
          `${new Date(l.created_ms).toLocaleTimeString()} · ${l.actor} · ${l.action}${l.target ? ` → ${l.target}` : ''}${l.detail && Object.keys(l.detail).length ? ` ${JSON.stringify(l.detail)}` : ''}`),
      ),
    );
  };
  void loadChat().catch((e) => say(msg, e.message, 'error'));
  void loadLog().catch((e) => say(msg, e.message, 'error'));

  // The server does not hand the word list back, so it is only sent when the moderator typed one:
  // saving the slow mode or the pinned message must not wipe a filter set elsewhere.
  let wordsEdited = false;
  $('words').addEventListener('input', () => (wordsEdited = true));
  $('settings-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const words = ($('words') as HTMLTextAreaElement).value.split('\n').map((w) => w.trim().toLowerCase()).filter(Boolean);
    try {
      await api.call(`${s}/moderation/settings`, {
        method: 'PUT',
        body: {
          slow_mode_s: Number(($('slow') as HTMLInputElement).value || 0),
          pinned_message: ($('pinned') as HTMLInputElement).value.trim(),
          ...(wordsEdited ? { banned_words: words } : {}),
        },
      });
      say($('settings-msg'), 'Rules saved.', 'ok');
      await loadLog();
    } catch (err) {
      say($('settings-msg'), err instanceof Error ? err.message : String(err), 'error');
    }
  });

  const showViewers = (v: Viewers) => {
    const el = $('stream-viewers');
    el.textContent = String(v.viewers);
    el.setAttribute('aria-label', viewersLabel(v));
  };
  const socket = new EventSocket(base, id, session.token, {
    onEvent: (ev) => {
      if (ev.kind === 'chat.message') add(ev.data);
      if (ev.kind === 'chat.deleted') chat.querySelector(`[data-message-id="${CSS.escape(ev.data.message_id)}"]`)?.remove();
      if (ev.kind.startsWith('mod.') || ev.kind === 'chat.settings' || ev.kind === 'chat.deleted') void loadLog();
    },
    onResync: () => void loadChat(),
    onViewers: (v) => showViewers(v),
    onLink: (st, detail) => say(msg, st === 'reconnecting' ? detail ?? 'Reconnecting…' : '', st === 'reconnecting' ? 'error' : 'info'),
  });
  socket.start();

  const refreshState = async () => {
    const view = session.role === 'admin' ? await streamView(api, id, session.token).catch(() => null) : null;
    $('stream-state').textContent = view ? view.state : await probeLive(base, id);
    const info = await fetch(`${base}/api/v1/streams/${encodeURIComponent(id)}/info`).then((r) => (r.ok ? r.json() : null)).catch(() => null);
    if (info?.audience) showViewers(info.audience as Viewers);
  };
  void refreshState();
  setInterval(() => void refreshState(), 5_000);
  $('end-stream').addEventListener('click', async () => {
    if (!confirm('End the stream for everyone?')) return;
    try {
      say($('end-msg'), await endStream(api, id));
    } catch (e) {
      say($('end-msg'), e instanceof Error ? e.message : String(e), 'error');
    }
  });
}

main();
