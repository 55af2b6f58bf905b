import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventSocket } from '../src/common/ws';
import { newClientId, viewersLabel, viewersText } from '../src/common/viewers';
import { withClientId } from '../src/player/player';

afterEach(() => vi.unstubAllGlobals());

describe('viewer count', () => {
  it('formats the badge and its accessible name', () => {
    expect(viewersText(1)).toBe('1 watching');
    expect(viewersText(1234)).toBe('1.2k watching');
    expect(viewersText(25_400)).toBe('25k watching');
    expect(viewersLabel({ viewers: 3, webrtc: 2, llhls: 1, connected: 5 })).toBe('3 viewers (2 on WebRTC, 1 on LL-HLS)');
    expect(viewersLabel({ viewers: 1, webrtc: 0, llhls: 1, connected: 1 })).toBe('1 viewer (1 on LL-HLS)');
    expect(viewersLabel({ viewers: 0, webrtc: 0, llhls: 0, connected: 2 })).toBe('0 viewers');
  });

  it('adds the client id to playlist requests only', () => {
    const id = newClientId();
    expect(id).toMatch(/^[A-Za-z0-9]{8,64}$/);
    expect(withClientId('http://h/hls/s/video.m3u8?_HLS_msn=4&_HLS_part=1', 'abc')).toBe('http://h/hls/s/video.m3u8?_HLS_msn=4&_HLS_part=1&cid=abc');
    expect(withClientId('http://h/hls/s/index.m3u8', 'abc')).toBe('http://h/hls/s/index.m3u8?cid=abc');
    expect(withClientId('http://h/hls/s/video.p12.m4s', 'abc')).toBe('http://h/hls/s/video.p12.m4s');
    expect(withClientId('http://h/hls/s/index.m3u8', undefined)).toBe('http://h/hls/s/index.m3u8');
  });

  it('hands viewers frames to the page without touching the event sequence', () => {
    class FakeWs {
      static last: FakeWs;
      onmessage: ((m: { data: string }) => void) | null = null;
      onopen: (() => void) | null = null;
      onclose: (() => void) | null = null;
      constructor(readonly url: URL) {
        FakeWs.last = this;
      }
      close() {}
      recv(f: object) {
        this.onmessage?.({ data: JSON.stringify(f) });
      }
    }
    vi.stubGlobal('WebSocket', FakeWs);
    const counts: number[] = [];
    const seqs: number[] = [];
    const s = new EventSocket('http://127.0.0.1:9', 's1', null, {
      onEvent: (e) => seqs.push(e.seq),
      onResync: () => undefined,
      onLink: () => undefined,
      onViewers: (v) => counts.push(v.viewers),
    });
    s.start();
    FakeWs.last.recv({ v: 1, type: 'hello', head_seq: 3 });
    FakeWs.last.recv({ v: 1, type: 'viewers', stream_id: 's1', viewers: 2, webrtc: 1, llhls: 1, connected: 3 });
    FakeWs.last.recv({ v: 1, type: 'event', seq: 4, kind: 'chat.message', stamp: { epoch: null, pts_ms: null, pdt_ms: 0 }, data: {} });
    FakeWs.last.recv({ v: 1, type: 'viewers', stream_id: 's1', viewers: 3, webrtc: 2, llhls: 1, connected: 4 });
    expect(counts).toEqual([2, 3]);
    expect(seqs).toEqual([4]);
    expect(s.lastSeq).toBe(4);
    s.stop();
  });
});
