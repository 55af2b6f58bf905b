import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffMs, EventSocket } from '../src/common/ws';
import { streamIdFromPath } from '../src/common/api';

class FakeWs {
  static all: FakeWs[] = [];
  onmessage: ((m: { data: string }) => void) | null = null;
  onopen: (() => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: URL) {
    FakeWs.all.push(this);
  }
  send(m: string) {
    return m;
  }
  close() {
    this.onclose?.();
  }
  recv(f: object) {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
  FakeWs.all = [];
});

describe('EventSocket', () => {
  it('reconnects with since=<last seq>, drops replayed duplicates and asks for a resync', async () => {
    vi.useFakeTimers();
    vi.stubGlobal('WebSocket', FakeWs);
    const seen: number[] = [];
    let resyncs = 0;
    const links: string[] = [];
    const s = new EventSocket('http://127.0.0.1:9', 's1', 'TOK', {
      onEvent: (e) => seen.push(e.seq),
      onResync: () => resyncs++,
      onLink: (l) => links.push(l),
    });
    s.start();
    const first = FakeWs.all[0];
    expect(first.url.toString()).toBe('ws://127.0.0.1:9/ws/s1?token=TOK');
    first.recv({ type: 'hello', head_seq: 4 });
    first.recv({ type: 'event', seq: 5, kind: 'pin.added', stamp: { epoch: 1, pts_ms: 0, pdt_ms: 0 }, data: {} });
    first.recv({ type: 'event', seq: 6, kind: 'chat.message', stamp: { epoch: 1, pts_ms: 0, pdt_ms: 0 }, data: {} });
    first.close();
    expect(links.at(-1)).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(backoffMs(0));
    const second = FakeWs.all[1];
    expect(second.url.searchParams.get('since')).toBe('6');
    second.recv({ type: 'hello', head_seq: 8 });
    second.recv({ type: 'event', seq: 6, kind: 'chat.message', stamp: { epoch: 1, pts_ms: 0, pdt_ms: 0 }, data: {} });
    second.recv({ type: 'event', seq: 7, kind: 'chat.message', stamp: { epoch: 1, pts_ms: 0, pdt_ms: 0 }, data: {} });
    second.recv({ type: 'resync', head_seq: 900 });
    expect(seen).toEqual([5, 6, 7]);
    expect(resyncs).toBe(1);
    expect(s.lastSeq).toBe(900);
    s.stop();
  });

  it('backs off from 0.5 s to at most 10 s', () => {
    expect([0, 1, 2, 3, 4, 5, 9].map(backoffMs)).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);
  });
});

describe('streamIdFromPath', () => {
  it('reads the id of the three pages and nothing else', () => {
    expect(streamIdFromPath('/watch/abc123')).toBe('abc123');
    expect(streamIdFromPath('/studio/a%20b/')).toBe('a b');
    expect(streamIdFromPath('/moderate/x')).toBe('x');
    expect(streamIdFromPath('/hls/x/index.m3u8')).toBeNull();
    expect(streamIdFromPath('/watch/')).toBeNull();
  });
});
