// The host studio /studio/{id}: log in with the stream key, OBS settings, browser go-live over
// WHIP, shop controls and live stats.

import { Api, apiBase, streamIdFromPath } from '../common/api';
import { $, copyButton, replace, say } from '../common/dom';
import { endStream, probeLive, staffLogin, streamView, type StaffSession } from '../common/staff';
import { EventSocket } from '../common/ws';
import { Controls } from './controls';
import { GoLive } from './golive';
import { LiveStats } from './stats';

const PANELS = ['stats-panel', 'obs-panel', 'golive-panel', 'products-panel', 'polls-panel', 'flash-panel'];

function main(): void {
  const id = streamIdFromPath(location.pathname);
  if (!id) {
    say($('login-msg'), 'No stream id in the address (expected /studio/{id}).', 'error');
    return;
  }
  const base = apiBase();
  const api = new Api(base);
  const saved = sessionStorage.getItem(`showroom.studio.${id}`);
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void login(($('login-secret') as HTMLInputElement).value.trim());
  });
  if (saved) void login(saved);

  async function login(secret: string): Promise<void> {
    if (!secret) return;
    say($('login-msg'), 'Logging in…');
    let session: StaffSession;
    try {
      session = await staffLogin(api, id as string, secret, 'host');
    } catch (e) {
      say($('login-msg'), e instanceof Error ? e.message : String(e), 'error');
      return;
    }
    sessionStorage.setItem(`showroom.studio.${id}`, secret);
    api.token = session.token;
    $('login-panel').hidden = true;
    PANELS.forEach((p) => ($(p).hidden = false));
    start(id as string, base, api, session);
  }
}

function start(id: string, base: string, api: Api, session: StaffSession): void {
  (window as any).__showroom = { session };
  // OBS settings: the admin view has the server; otherwise the public stream info does.
  let server = session.view?.rtmp_url ?? `rtmp://${location.hostname}:1935/live`;
  $('obs-server').textContent = server;
  $('obs-note').textContent = '';
  if (!session.view) {
    fetch(`${base}/api/v1/streams/${encodeURIComponent(id)}/info`)
      .then((r) => (r.ok ? r.json() : null))
      .then((info: { rtmp_url?: string } | null) => {
        if (info?.rtmp_url) {
          server = info.rtmp_url;
          $('obs-server').textContent = server;
        }
      })
      .catch(() => {
        $('obs-note').textContent = 'Server shows the default RTMP port; ask your admin if your server uses another.';
      });
  }
  replace($('obs-server-copy'), copyButton('Copy server', () => server));
  replace($('obs-key-copy'), copyButton('Copy stream key', () => session.streamKey ?? ''));
  const show = $('obs-key-show');
  show.addEventListener('click', () => {
    const on = show.getAttribute('aria-pressed') !== 'true';
    show.setAttribute('aria-pressed', String(on));
    show.textContent = on ? 'Hide key' : 'Show key';
    $('obs-key').textContent = on ? (session.streamKey ?? '') : '••••••••';
  });

  const golive = new GoLive(session.view?.whip_url ?? `${base}/whip/${encodeURIComponent(id)}`, () => session.streamKey);
  void golive.init();

  const controls = new Controls(api, id);
  void controls.load().catch((e) => say($('products-msg'), `Could not load the shop: ${e.message}`, 'error'));

  // Live stats: GET /stats (staff) on load, after each event that changes them, on each viewer
  // count the socket pushes, and every 5 s in case the socket is down.
  const stats = new LiveStats(api, id);
  const socket = new EventSocket(base, id, session.token, {
    onEvent: (ev) => {
      controls.event(ev.kind, ev.data);
      stats.event(ev.kind);
    },
    onViewers: (v) => stats.viewers(v),
    onResync: () => void controls.load(),
    onLink: () => undefined,
  });
  socket.start();
  (window as any).__showroom.stats = stats;
  void stats.refresh();
  setInterval(() => void stats.refresh(), 5_000);

  const refreshState = async () => {
    const view = session.role === 'admin' ? await streamView(api, id, session.token).catch(() => null) : null;
    const state = view ? (view.state === 'live' ? 'live' : 'offline') : await probeLive(base, id);
    $('st-state').textContent = state;
    $('st-ingest').textContent = view?.ingest ? `${view.ingest.protocol} ${view.ingest.bitrate_kbps} kbit/s` : state === 'live' ? 'on' : '—';
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
