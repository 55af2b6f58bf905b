// Overlays in stream time, sans-IO: events wait until the video on screen reaches the moment the
// host caused them. Nothing here reads a clock; the page passes the playhead and the wall time.
//
// The playhead is the PROGRAM-DATE-TIME (Unix ms) of the frame on screen: `hls.playingDate` for
// LL-HLS, the receiver's playout time for WebRTC later. Events are released in sequence order,
// so a pin and its unpin never swap.

import type { Stamp } from '../common/types';

/** What the player knows about the picture on screen. */
export type Playhead =
  /** Playing: the PDT of the frame on screen. */
  | { kind: 'playing'; pdtMs: number }
  /** Starting, buffering or reconnecting: hold events (for at most `maxHoldMs`). */
  | { kind: 'waiting' }
  /** No video to sync with (stream offline): release everything now. */
  | { kind: 'none' };

export interface Timed<T> {
  seq: number;
  stamp: Stamp;
  item: T;
}

export interface SchedulerOptions {
  /** Longest an event waits while the playhead is unknown (wall ms). */
  maxHoldMs: number;
  /** An event whose stamp is further ahead of the playhead than this is on another timeline
   *  (e.g. stamped before a republish): release it rather than wait forever. */
  maxLeadMs: number;
}

export const DEFAULT_OPTIONS: SchedulerOptions = { maxHoldMs: 15_000, maxLeadMs: 60_000 };

interface Queued<T> extends Timed<T> {
  arrivedWallMs: number;
}

export class StreamTimeScheduler<T> {
  private queue: Queued<T>[] = [];

  constructor(private readonly opts: SchedulerOptions = DEFAULT_OPTIONS) {}

  get pending(): number {
    return this.queue.length;
  }

  /** Queue an event that arrived at `nowWallMs`. */
  push(ev: Timed<T>, nowWallMs: number): void {
    const q = { ...ev, arrivedWallMs: nowWallMs };
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1].seq > ev.seq) i--;
    this.queue.splice(i, 0, q);
  }

  /** Events due now, oldest first. Stops at the first one that is not due. */
  release(playhead: Playhead, nowWallMs: number): Timed<T>[] {
    const out: Timed<T>[] = [];
    while (this.queue.length > 0 && this.isDue(this.queue[0], playhead, nowWallMs)) {
      const { arrivedWallMs: _, ...ev } = this.queue.shift() as Queued<T>;
      out.push(ev);
    }
    return out;
  }

  /** Wall ms until the head of the queue is due at the current playback rate (for a timer), or null. */
  nextDueInMs(playhead: Playhead, nowWallMs: number): number | null {
    const head = this.queue[0];
    if (!head) return null;
    if (playhead.kind === 'none') return 0;
    if (playhead.kind === 'waiting') return Math.max(0, head.arrivedWallMs + this.opts.maxHoldMs - nowWallMs);
    return Math.max(0, head.stamp.pdt_ms - playhead.pdtMs);
  }

  clear(): void {
    this.queue = [];
  }

  private isDue(ev: Queued<T>, playhead: Playhead, nowWallMs: number): boolean {
    // Stamped while the stream was not live: there is no frame to wait for.
    if (ev.stamp.epoch === null) return true;
    switch (playhead.kind) {
      case 'none':
        return true;
      case 'waiting':
        return nowWallMs - ev.arrivedWallMs >= this.opts.maxHoldMs;
      case 'playing':
        return (
          playhead.pdtMs >= ev.stamp.pdt_ms || ev.stamp.pdt_ms - playhead.pdtMs > this.opts.maxLeadMs
        );
    }
  }
}
