import { describe, expect, it } from 'vitest';
import { StreamTimeScheduler } from '../src/player/scheduler';
import type { Stamp } from '../src/common/types';

const live = (pdt: number): Stamp => ({ epoch: 1, pts_ms: pdt - 1_000_000, pdt_ms: pdt });
const opts = { maxHoldMs: 15_000, maxLeadMs: 60_000 };

describe('StreamTimeScheduler', () => {
  it('holds an event until the playhead reaches its stamp', () => {
    const s = new StreamTimeScheduler<string>(opts);
    s.push({ seq: 1, stamp: live(10_000), item: 'pin' }, 0);
    expect(s.release({ kind: 'playing', pdtMs: 8_000 }, 100)).toEqual([]);
    expect(s.release({ kind: 'playing', pdtMs: 9_999 }, 2_100)).toEqual([]);
    expect(s.nextDueInMs({ kind: 'playing', pdtMs: 9_500 }, 2_200)).toBe(500);
    const out = s.release({ kind: 'playing', pdtMs: 10_000 }, 2_200);
    expect(out.map((e) => e.item)).toEqual(['pin']);
    expect(s.pending).toBe(0);
  });

  it('releases in sequence order and never lets a later event jump an earlier one', () => {
    const s = new StreamTimeScheduler<string>(opts);
    s.push({ seq: 3, stamp: live(5_000), item: 'unpin' }, 0);
    s.push({ seq: 2, stamp: live(6_000), item: 'pin' }, 0); // arrived late, stamped later
    expect(s.release({ kind: 'playing', pdtMs: 5_500 }, 0)).toEqual([]);
    expect(s.release({ kind: 'playing', pdtMs: 6_000 }, 0).map((e) => e.item)).toEqual(['pin', 'unpin']);
  });

  it('releases events stamped while offline at once, and everything when there is no video', () => {
    const s = new StreamTimeScheduler<string>(opts);
    s.push({ seq: 1, stamp: { epoch: null, pts_ms: null, pdt_ms: 99_999 }, item: 'offline' }, 0);
    expect(s.release({ kind: 'playing', pdtMs: 1 }, 0).map((e) => e.item)).toEqual(['offline']);
    s.push({ seq: 2, stamp: live(50_000), item: 'a' }, 0);
    expect(s.release({ kind: 'none' }, 0).map((e) => e.item)).toEqual(['a']);
  });

  it('holds while waiting for the player, then gives up after maxHoldMs', () => {
    const s = new StreamTimeScheduler<string>(opts);
    s.push({ seq: 1, stamp: live(50_000), item: 'a' }, 1_000);
    expect(s.release({ kind: 'waiting' }, 15_999)).toEqual([]);
    expect(s.nextDueInMs({ kind: 'waiting' }, 6_000)).toBe(10_000);
    expect(s.release({ kind: 'waiting' }, 16_000).map((e) => e.item)).toEqual(['a']);
  });

  it('does not wait forever for a stamp far ahead of the playhead (another timeline)', () => {
    const s = new StreamTimeScheduler<string>(opts);
    s.push({ seq: 1, stamp: live(200_000), item: 'a' }, 0);
    expect(s.release({ kind: 'playing', pdtMs: 150_000 }, 0)).toEqual([]);
    expect(s.release({ kind: 'playing', pdtMs: 139_999 }, 0).map((e) => e.item)).toEqual(['a']);
  });
});
