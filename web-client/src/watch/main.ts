// The viewer page /watch/{id}: player (WebRTC → LL-HLS), shop overlay in stream time, polls,
// gifts, chat. Events that change what is shown over the video (pins, flash sales, polls) wait in
// the StreamTimeScheduler until the video reaches them; chat and counters apply on arrival.

import { Api, apiBase, streamIdFromPath } from '../common/api';
import { $, say } from '../common/dom';
import type { CommerceEvent, Viewers } from '../common/types';
import { newClientId, viewersLabel, viewersText } from '../common/viewers';
import { EventSocket } from '../common/ws';
import { Player, type Transport } from '../player/player';
import { StreamTimeScheduler } from '../player/scheduler';
import { Chat } from './chat';
import { Gifts } from './gifts';
import { viewerToken } from './identity';
import { Polls } from './polls';
import { endedRecording, Replay } from './replay';
import { Shop } from './shop';

/** Kinds shown over the video: they follow stream time. */
const STREAM_TIME_KINDS = new Set(['pin.added', 'pin.removed', 'flash.started', 'flash.ended', 'poll.created', 'poll.closed']);

interface Applied {
  seq: number;
  kind: string;
  pdt_ms: number;
  playhead_ms: number | null;
  arrived_ms: number;
  applied_ms: number;
}

async function main(): Promise<void> {
  const id = streamIdFromPath(location.pathname);
  const status = $('player-status');
  if (!id) {
    say(status, 'No stream id in the address (expected /watch/{id}).', 'error');
    return;
  }
  const base = apiBase();
  const api = new Api(base);
  const params = new URLSearchParams(location.search);
  const prefer = (params.get('transport') ?? 'auto') as 'auto' | 'webrtc' | 'll-hls';
  const video = $('video') as HTMLVideoElement;

  const player = new Player(
    video,
    { whepUrl: `${base}/whep/${encodeURIComponent(id)}`, hlsUrl: `${base}/hls/${encodeURIComponent(id)}/index.m3u8`, prefer, clientId: newClientId() },
    {
      onState: (s, message) => {
        say(status, message, s === 'offline' ? 'error' : 'info');
        $('live-badge').hidden = s !== 'playing' && s !== 'buffering';
      },
      onTransport: (t: Transport, why) => {
        const el = $('transport');
        el.textContent = t === 'webrtc' ? 'WebRTC' : t === 'll-hls' ? 'LL-HLS' : '—';
        el.title = why ? `Transport in use (${why})` : 'Transport in use';
        el.setAttribute('aria-label', t === 'none' ? 'No transport yet' : `Playing over ${el.textContent}`);
        el.dataset.transport = t;
      },
    },
  );
  $('unmute').addEventListener('click', () => {
    video.muted = !video.muted;
    $('unmute').textContent = video.muted ? 'Unmute' : 'Mute';
  });

  const streamNow = () => {
    const p = player.playhead();
    return p.kind === 'playing' ? p.pdtMs : Date.now();
  };
  const shop = new Shop(api, id, streamNow);
  const polls = new Polls(api, id);
  const gifts = new Gifts(api, id);
  const chat = new Chat(api, id);
  const scheduler = new StreamTimeScheduler<CommerceEvent>();
  const applied: Applied[] = [];
  const arrivals = new Map<number, number>();
  const debug = { player, applied, scheduler, userId: '' as string, viewers: null as Viewers | null };
  const showViewers = (v: Viewers) => {
    debug.viewers = v;
    const el = $('viewers');
    el.hidden = false;
    el.textContent = viewersText(v.viewers);
    el.setAttribute('aria-label', viewersLabel(v));
    el.dataset.count = String(v.viewers);
  };
  fetch(`${base}/api/v1/streams/${encodeURIComponent(id)}/info`)
    .then((r) => (r.ok ? r.json() : null))
    .then((info: { audience?: Viewers } | null) => {
      if (info?.audience && debug.viewers === null) showViewers(info.audience);
    })
    .catch(() => undefined);
  (window as any).__showroom = debug;

  const apply = (ev: CommerceEvent) => {
    const d = ev.data;
    switch (ev.kind) {
      case 'pin.added': return shop.pinAdded(d);
      case 'pin.removed': return shop.pinRemoved(d.product_id);
      case 'flash.started':
      case 'flash.ended':
      case 'flash.created': return shop.sale(d);
      case 'flash.stock': return shop.stock(d.sale_id, d.remaining);
      case 'products.updated': return void shop.productsChanged();
      case 'order.updated': return shop.orderUpdated(d);
      case 'poll.created': return polls.shown(d);
      case 'poll.closed': return polls.closed(d.poll_id ?? d.id);
      case 'poll.results': return polls.results(d);
      case 'chat.message': return chat.add(d);
      case 'chat.deleted': return chat.deleted(d.message_id);
      case 'chat.reaction': return chat.reaction(d.message_id, d.emoji);
      case 'chat.settings': return chat.pinned(d.pinned_message ?? null);
      case 'gift.sent': return chat.system(`${d.user_name ?? 'Someone'} sent ${d.count} × ${d.gift_name}`);
      default: return;
    }
  };

  // Replay mode re-derives the overlays from the timeline after every (re)load of the shop state.
  let afterLoad: (() => void) | null = null;
  let replaying = false;
  const loadAll = async () => {
    const results = await Promise.allSettled([shop.load(), polls.load(), gifts.load(), chat.load()]);
    afterLoad?.();
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (failed) say($('link'), `Could not load the shop: ${String(failed.reason?.message ?? failed.reason)}`, 'error');
  };

  let identity;
  try {
    identity = await viewerToken(api, id);
  } catch (e) {
    say($('link'), `This stream cannot be found or the server is unreachable: ${e instanceof Error ? e.message : e}`, 'error');
    void player.start();
    return;
  }
  api.token = identity.token;
  debug.userId = identity.user_id;
  const showChatForm = (named: boolean) => {
    $('name-form').hidden = named;
    $('chat-form').hidden = !named;
  };
  showChatForm(!!identity.name);

  const socket = new EventSocket(base, id, identity.token, {
    onEvent: (ev) => {
      if (STREAM_TIME_KINDS.has(ev.kind)) {
        if (replaying) return; // the replay takes them from the timeline, at their stream times
        arrivals.set(ev.seq, Date.now());
        scheduler.push({ seq: ev.seq, stamp: ev.stamp, item: ev }, Date.now());
      } else apply(ev);
    },
    onResync: () => {
      scheduler.clear();
      void loadAll();
    },
    onViewers: showViewers,
    onLink: (s, detail) => say($('link'), s === 'open' ? '' : detail ?? (s === 'connecting' ? 'Connecting to live updates…' : 'Reconnecting…'), s === 'reconnecting' ? 'error' : 'info'),
  });
  socket.start();

  $('name-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = ($('name-input') as HTMLInputElement).value.trim();
    if (!name) return;
    try {
      const t = await viewerToken(api, id, name);
      api.token = t.token;
      debug.userId = t.user_id;
      socket.setToken(t.token);
      showChatForm(true);
      ($('chat-input') as HTMLInputElement).focus();
      void loadAll();
    } catch (err) {
      say($('chat-msg'), err instanceof Error ? err.message : String(err), 'error');
    }
  });

  const loaded = loadAll();
  // Ended and recorded: replay mode (the recording, with the shop timeline at its stream times).
  const vod = await endedRecording(base, id);
  if (vod) {
    await loaded;
    const replay = new Replay(video, { apply, reset: () => [...shop.pins].forEach((p) => shop.pinRemoved(p.product_id)), say: (m, k) => say(status, m, k ?? 'info') });
    Object.assign(debug, { replay });
    afterLoad = () => replay.rewind();
    replaying = true;
    scheduler.clear();
    $('transport').textContent = 'Replay';
    void replay.start(api, id, vod, base);
  } else void player.start();
  // Leaving the page hangs up (WHEP DELETE): the server stops counting this viewer at once.
  addEventListener('pagehide', () => player.leave());

  setInterval(() => {
    const now = Date.now();
    const ph = player.playhead();
    for (const ev of scheduler.release(ph, now)) {
      apply(ev.item);
      applied.push({ seq: ev.seq, kind: ev.item.kind, pdt_ms: ev.stamp.pdt_ms, playhead_ms: ph.kind === 'playing' ? ph.pdtMs : null, arrived_ms: arrivals.get(ev.seq) ?? now, applied_ms: now });
      arrivals.delete(ev.seq);
    }
    shop.tick();
    const lat = player.latencyMs(now);
    const latEl = $('latency');
    latEl.hidden = lat === null;
    if (lat !== null) latEl.textContent = `${(lat / 1000).toFixed(1)} s behind`;
  }, 100);
}

void main();
