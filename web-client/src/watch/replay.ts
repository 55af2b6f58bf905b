// Replay mode of the viewer page: when the stream has ended and was recorded, /watch/{id} plays
// the recording (/vod/{id}/index.m3u8, hls.js) and replays the commerce timeline (pins, flash
// sales, polls) at the stream times they happened: each event waits in the same
// StreamTimeScheduler as live, against the PROGRAM-DATE-TIME of the frame on screen (the
// recording's segments carry the stream clock's PDT, the events' stamps the same clock).
// Seeking back clears the overlays and replays the timeline from the start up to the new position.

import type Hls from 'hls.js';
import type { Api } from '../common/api';
import type { CommerceEvent } from '../common/types';
import { StreamTimeScheduler } from '../player/scheduler';
import { mountScrubber, parseThumbVtt } from './scrubber';

export interface ReplayHooks {
  /** Shows one event over the video (the live page's handler). */
  apply(ev: CommerceEvent): void;
  /** Removes every overlay (before the timeline is replayed from the start). */
  reset(): void;
  say(message: string, kind?: 'info' | 'error'): void;
}

export interface ReplayApplied {
  seq: number;
  kind: string;
  pdt_ms: number;
  playhead_ms: number;
  /** `video.currentTime` when the overlay was applied. */
  media_s: number;
}

/** Kinds replayed over the video; the others (chat, gifts...) are not part of the replay. */
const REPLAYED = new Set(['pin.added', 'pin.removed', 'flash.created', 'flash.started', 'flash.ended', 'flash.stock', 'poll.created', 'poll.closed', 'poll.results']);

/** The replay playlist URL when the stream has ended and its recording is complete, else null. */
export async function endedRecording(base: string, id: string): Promise<string | null> {
  const url = `${base}/vod/${encodeURIComponent(id)}/index.m3u8`;
  try {
    const r = await fetch(url, { cache: 'no-store' });
    if (!r.ok) return null;
    return (await r.text()).includes('#EXT-X-ENDLIST') ? url : null;
  } catch {
    return null;
  }
}

async function timeline(api: Api, id: string): Promise<CommerceEvent[]> {
  const all: CommerceEvent[] = [];
  let since = 0;
  for (;;) {
    const page = await api.call<{ events: CommerceEvent[]; next_since: number; head_seq: number }>(`${api.stream(id)}/timeline?since=${since}&limit=1000`);
    all.push(...page.events.filter((e) => REPLAYED.has(e.kind)));
    if (page.next_since <= since || page.next_since >= page.head_seq) return all;
    since = page.next_since;
  }
}

export class Replay {
  readonly applied: ReplayApplied[] = [];
  private readonly scheduler = new StreamTimeScheduler<CommerceEvent>({ maxHoldMs: Number.MAX_SAFE_INTEGER, maxLeadMs: Number.MAX_SAFE_INTEGER });
  private events: CommerceEvent[] = [];
  private hls: Hls | null = null;
  private lastPdt = -Infinity;
  /** The scrubber with thumbnail previews, once the thumbnail track has loaded. */
  scrubber: HTMLElement | null = null;

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly hooks: ReplayHooks,
  ) {}

  async start(api: Api, id: string, playlist: string, base: string): Promise<void> {
    // The page loaded the end-of-show state: nothing is shown until its time comes.
    this.hooks.reset();
    this.events = await timeline(api, id).catch((e) => {
      this.hooks.say(`Replay without the shop timeline: ${e instanceof Error ? e.message : e}`, 'error');
      return [];
    });
    this.rewind();
    const { default: HlsJs } = await import('hls.js/light');
    const video = this.video;
    video.controls = true;
    const vtt = `${base}/vod/${encodeURIComponent(id)}/thumbs.vtt`;
    void fetch(vtt)
      .then((r) => (r.ok ? r.text() : ''))
      .then((text) => (this.scrubber = mountScrubber(video, parseThumbVtt(text, vtt))))
      .catch(() => undefined);
    if (HlsJs.isSupported()) {
      const hls = new HlsJs({ enableWorker: true });
      this.hls = hls;
      hls.on(HlsJs.Events.ERROR, (_e, data) => {
        if (data.fatal) this.hooks.say(`Replay failed: ${data.details}`, 'error');
      });
      hls.loadSource(playlist);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = playlist;
    } else {
      this.hooks.say('This browser cannot play the replay (no MSE).', 'error');
      return;
    }
    video.addEventListener('seeking', () => {
      const pdt = this.playheadPdt();
      if (pdt !== null && pdt < this.lastPdt) this.rewind();
    });
    this.hooks.say('Replay');
    void video.play().catch(() => this.hooks.say('Replay: press play', 'info'));
    // Released per displayed frame (requestVideoFrameCallback), with a timer while paused or
    // where frame callbacks are missing.
    const onFrame = () => {
      this.tick();
      (video as any).requestVideoFrameCallback?.(onFrame);
    };
    (video as any).requestVideoFrameCallback?.(onFrame);
    setInterval(() => this.tick(), 50);
  }

  /** PROGRAM-DATE-TIME (Unix ms) of the frame on screen. */
  playheadPdt(): number | null {
    const d = this.hls?.playingDate;
    return d ? d.getTime() : null;
  }

  /** Clears the overlays and queues the whole timeline again: the next frame re-applies every
   *  event up to the playhead (after a seek back, or after the page reloaded the shop state). */
  rewind(): void {
    this.hooks.reset();
    this.scheduler.clear();
    const now = Date.now();
    for (const ev of this.events) this.scheduler.push({ seq: ev.seq, stamp: ev.stamp, item: ev }, now);
    this.lastPdt = -Infinity;
  }

  private tick(): void {
    const pdt = this.playheadPdt();
    if (pdt === null) return;
    this.lastPdt = pdt;
    for (const ev of this.scheduler.release({ kind: 'playing', pdtMs: pdt }, Date.now())) {
      this.hooks.apply(ev.item);
      this.applied.push({ seq: ev.seq, kind: ev.item.kind, pdt_ms: ev.stamp.pdt_ms, playhead_ms: pdt, media_s: this.video.currentTime });
    }
  }
}
