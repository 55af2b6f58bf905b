// The viewer's player: WebRTC (WHEP) first, LL-HLS (hls.js, lowLatencyMode) when WebRTC fails or
// is blocked. Recoverable errors (stream offline, network) show a message and retry on their own.

import type Hls from 'hls.js';
import { playoutPdtMs } from './playout';
import type { Playhead } from './scheduler';
import { SignalError } from './rfc9725';
import { playWhep, type WhepPlayback } from './whep';

export type Transport = 'webrtc' | 'll-hls' | 'none';
export type PlayerState = 'connecting' | 'playing' | 'buffering' | 'offline' | 'reconnecting';

export interface PlayerEvents {
  onState(state: PlayerState, message: string): void;
  onTransport(t: Transport, why?: string): void;
}

export interface PlayerOptions {
  whepUrl: string;
  hlsUrl: string;
  /** `auto` (WebRTC then LL-HLS), or force one (`?transport=` on the page). */
  prefer: 'auto' | 'webrtc' | 'll-hls';
  retryMs?: number;
  /** Buffering longer than this restarts the player (default 8 s). */
  stallMs?: number;
  /** Sent as `cid` on LL-HLS playlist requests: the server counts this page as one viewer. */
  clientId?: string;
}

/** `url` with `cid=<id>` added (playlists only: the server counts viewers from them). */
export function withClientId(url: string, id: string | undefined): string {
  if (!id || !/\.m3u8(\?|$)/.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}cid=${encodeURIComponent(id)}`;
}

export class Player {
  transport: Transport = 'none';
  state: PlayerState = 'connecting';
  /** Why WebRTC was not used (shown in the UI and read by tests). */
  fallbackReason: string | null = null;
  private hls: Hls | null = null;
  private whep: WhepPlayback | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private stall: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly opts: PlayerOptions,
    private readonly ev: PlayerEvents,
  ) {
    video.addEventListener('playing', () => {
      this.clearStall();
      this.set('playing', '');
    });
    video.addEventListener('waiting', () => {
      if (this.state !== 'playing') return;
      this.set('buffering', 'Buffering…');
      // A stall this long is a stream that stopped, not a slow network: start over, which
      // tells "offline" (no playlist) from "reconnecting".
      this.clearStall();
      this.stall = setTimeout(() => {
        this.stall = null;
        if (this.state === 'buffering') this.recover('The stream paused. Reconnecting…');
      }, this.opts.stallMs ?? 8_000);
    });
  }

  /** Connect: WebRTC first unless `prefer` says otherwise. `quiet` keeps the current message
   *  (a retry while the stream is offline should not flash "Connecting…"). */
  async start(quiet = false): Promise<void> {
    this.stopped = false;
    if (!quiet) this.set('connecting', 'Connecting…');
    if (this.opts.prefer !== 'll-hls') {
      try {
        this.whep = await playWhep(this.video, this.opts.whepUrl, null);
        this.use('webrtc');
        this.whep.pc.addEventListener('connectionstatechange', () => {
          const s = this.whep?.pc.connectionState;
          if (s === 'failed' || s === 'disconnected') this.recover('Reconnecting…');
        });
        await this.video.play().catch(() => undefined);
        return;
      } catch (e) {
        this.fallbackReason =
          e instanceof SignalError && e.unsupported
            ? `WebRTC playback is not available on this server (${e.status})`
            : `WebRTC failed: ${e instanceof Error ? e.message : String(e)}`;
        console.info('showroom: falling back to LL-HLS:', this.fallbackReason);
        if (this.opts.prefer === 'webrtc') {
          this.recover(this.fallbackReason);
          return;
        }
      }
    }
    await this.startHls();
  }

  /** PDT of the frame on screen, for the stream-time overlay scheduler. */
  playhead(): Playhead {
    if (this.state === 'offline') return { kind: 'none' };
    if (this.transport === 'll-hls' && this.hls) {
      const d = this.hls.playingDate;
      if (d && this.state === 'playing') return { kind: 'playing', pdtMs: d.getTime() };
    }
    if (this.transport === 'webrtc' && this.whep && this.state === 'playing') {
      // Valid when the server's RTCP sender reports carry the stream clock (see playout.ts).
      const pdt = playoutPdtMs(this.whep.playout(), Date.now());
      if (pdt !== null) return { kind: 'playing', pdtMs: pdt };
    }
    return { kind: 'waiting' };
  }

  /** Decoded video frames so far on the current transport. */
  async framesDecoded(): Promise<number> {
    if (this.whep) return this.whep.framesDecoded();
    return this.video.getVideoPlaybackQuality?.().totalVideoFrames ?? 0;
  }

  /** Glass-to-glass proxy: wall now minus the PDT on screen (LL-HLS only). */
  latencyMs(nowWallMs: number): number | null {
    const p = this.playhead();
    return p.kind === 'playing' ? nowWallMs - p.pdtMs : null;
  }

  /** The page is going away: end the WebRTC session with a DELETE that outlives the page
   *  (`keepalive`), so the server stops counting this viewer now, not when ICE times out. */
  leave(): void {
    const resource = this.whep?.session.resource;
    if (resource) {
      void fetch(resource, { method: 'DELETE', keepalive: true }).catch(() => undefined);
      this.whep = null; // the browser closes the connection with the page
    }
    this.stop();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.teardown();
  }

  /** hls.js (light build: no subtitles/EME) is loaded only when LL-HLS is needed. */
  private async startHls(): Promise<void> {
    const { default: Hls } = await import('hls.js/light');
    if (this.stopped) return;
    if (!Hls.isSupported()) {
      if (this.video.canPlayType('application/vnd.apple.mpegurl')) {
        this.video.src = withClientId(this.opts.hlsUrl, this.opts.clientId); // Safari: native LL-HLS
        this.use('ll-hls');
        void this.video.play().catch(() => undefined);
        return;
      }
      this.set('offline', 'This browser can play neither WebRTC nor HLS.');
      return;
    }
    // maxLiveSyncPlaybackRate: catch up (up to 1.5x) after a stall instead of staying behind.
    const cid = this.opts.clientId;
    const hls = new Hls({
      lowLatencyMode: true,
      maxLiveSyncPlaybackRate: 1.5,
      backBufferLength: 30,
      manifestLoadingMaxRetry: 0,
      // hls.js opens the request itself unless xhrSetup did: add the viewer-count id to playlists.
      xhrSetup: cid ? (xhr, url) => {
        const u = withClientId(url, cid);
        if (u !== url) xhr.open('GET', u, true);
      } : undefined,
    });
    this.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      void this.video.play().catch(() => {
        this.video.muted = true; // autoplay policy: start muted, the viewer can unmute
        return this.video.play().catch(() => undefined);
      });
    });
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (!data.fatal) return;
      const code = data.response?.code;
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR && (code === 404 || code === 410)) {
        this.recover('The stream is offline. Waiting for the host to go live…', 'offline');
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
      } else {
        this.recover(`Reconnecting… (${data.details})`);
      }
    });
    hls.loadSource(this.opts.hlsUrl);
    hls.attachMedia(this.video);
    this.use('ll-hls');
  }

  private use(t: Transport): void {
    this.transport = t;
    this.ev.onTransport(t, this.fallbackReason ?? undefined);
  }

  private recover(message: string, state: PlayerState = 'reconnecting'): void {
    this.teardown();
    this.set(state, message);
    if (this.stopped) return;
    if (this.retry) clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      this.retry = null;
      if (state === 'offline' && this.opts.prefer === 'auto') {
        // The host may come back over a server that has WebRTC for live streams: try it again.
        this.fallbackReason = null;
        void this.start(true);
      } else if (this.transport === 'll-hls' || this.fallbackReason) this.restartHls();
      else void this.start();
    }, this.opts.retryMs ?? 3_000);
  }

  private restartHls(): void {
    if (this.opts.prefer === 'webrtc') {
      void this.start();
      return;
    }
    this.set(this.state === 'offline' ? 'offline' : 'connecting', this.state === 'offline' ? 'The stream is offline. Waiting for the host to go live…' : 'Connecting…');
    void this.startHls();
  }

  private clearStall(): void {
    if (this.stall) clearTimeout(this.stall);
    this.stall = null;
  }

  private teardown(): void {
    this.clearStall();
    this.hls?.destroy();
    this.hls = null;
    if (this.whep) void this.whep.close();
    this.whep = null;
  }

  private set(state: PlayerState, message: string): void {
    this.state = state;
    this.ev.onState(state, message);
  }
}
