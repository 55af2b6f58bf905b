import { afterEach, describe, expect, it, vi } from 'vitest';
import { negotiate, SignalError } from '../src/player/rfc9725';

/** Just enough of RTCPeerConnection for the signalling path. */
class FakePc {
  iceGatheringState = 'complete';
  localDescription: { sdp: string } | null = null;
  remote: { type: string; sdp: string } | null = null;
  async createOffer() {
    return { type: 'offer', sdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n' };
  }
  async setLocalDescription(d: { sdp: string }) {
    this.localDescription = d;
  }
  async setRemoteDescription(d: { type: string; sdp: string }) {
    this.remote = d;
  }
  addEventListener() {}
  removeEventListener() {}
}

afterEach(() => vi.unstubAllGlobals());

describe('WHIP/WHEP negotiate (RFC 9725)', () => {
  it('POSTs the offer as application/sdp with the bearer, applies the answer, resolves Location', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response('v=0\r\nanswer\r\n', { status: 201, headers: { 'content-type': 'application/sdp', location: '/whip/s1/sessions/abc', etag: '"e1"' } });
    });
    const pc = new FakePc();
    const s = await negotiate(pc as unknown as RTCPeerConnection, 'http://127.0.0.1:9/whip/s1', 'KEY');
    expect(calls[0].init.method).toBe('POST');
    expect((calls[0].init.headers as Record<string, string>)['content-type']).toBe('application/sdp');
    expect((calls[0].init.headers as Record<string, string>).authorization).toBe('Bearer KEY');
    expect(calls[0].init.body).toContain('v=0');
    expect(pc.remote).toEqual({ type: 'answer', sdp: 'v=0\r\nanswer\r\n' });
    expect(s.resource).toBe('http://127.0.0.1:9/whip/s1/sessions/abc');
    expect(s.etag).toBe('"e1"');
  });

  it('reports 404/405/501 as unsupported and keeps the status of other refusals', async () => {
    for (const [status, unsupported] of [[404, true], [405, true], [501, true], [401, false], [503, false]] as const) {
      vi.stubGlobal('fetch', async () => new Response('nope', { status }));
      const err = await negotiate(new FakePc() as unknown as RTCPeerConnection, 'http://127.0.0.1:9/whep/s1', null).catch((e) => e);
      expect(err).toBeInstanceOf(SignalError);
      expect(err.status).toBe(status);
      expect(err.unsupported).toBe(unsupported);
    }
  });

  it('refuses a 201 that is not an SDP answer', async () => {
    vi.stubGlobal('fetch', async () => new Response('<html>', { status: 201, headers: { 'content-type': 'text/html' } }));
    const err = await negotiate(new FakePc() as unknown as RTCPeerConnection, 'http://127.0.0.1:9/whep/s1', null).catch((e) => e);
    expect(err).toBeInstanceOf(SignalError);
    expect(err.message).toMatch(/did not answer with an SDP/);
  });
});
