import { describe, expect, it } from 'vitest';
import { NTP_UNIX_OFFSET_MS, playoutPdtMs, sampleFromFrame, sampleFromStats } from '../src/player/playout';

describe('WebRTC playout → PDT', () => {
  const pdt = 1_795_000_000_000;
  it('converts sender NTP to Unix ms and extrapolates at 1x', () => {
    const s = { ntpMs: pdt + NTP_UNIX_OFFSET_MS, atWallMs: 10_000 };
    expect(playoutPdtMs(s, 10_000)).toBe(pdt);
    expect(playoutPdtMs(s, 10_250)).toBe(pdt + 250);
  });
  it('gives up on stale, future or missing samples', () => {
    const s = { ntpMs: pdt + NTP_UNIX_OFFSET_MS, atWallMs: 10_000 };
    expect(playoutPdtMs(s, 12_001)).toBeNull();
    expect(playoutPdtMs(s, 9_999)).toBeNull();
    expect(playoutPdtMs(null, 1)).toBeNull();
    expect(playoutPdtMs({ ntpMs: 0, atWallMs: 0 }, 0)).toBeNull();
  });
  it('reads estimatedPlayoutTimestamp, video first', () => {
    const stats = [
      { type: 'inbound-rtp', kind: 'audio', estimatedPlayoutTimestamp: 5 },
      { type: 'inbound-rtp', kind: 'video', estimatedPlayoutTimestamp: 7 },
      { type: 'outbound-rtp', kind: 'video', estimatedPlayoutTimestamp: 9 },
    ];
    expect(sampleFromStats(stats, 3)).toEqual({ ntpMs: 7, atWallMs: 3 });
    expect(sampleFromStats([stats[0]], 3)).toEqual({ ntpMs: 5, atWallMs: 3 });
    expect(sampleFromStats([{ type: 'inbound-rtp', kind: 'video' }], 3)).toBeNull();
    // No playout timestamp: now minus the mean jitter-buffer delay (seconds in the stats).
    const jb = [{ type: 'inbound-rtp', kind: 'video', jitterBufferDelay: 6, jitterBufferEmittedCount: 60 }];
    expect(sampleFromStats(jb, 10_000)).toEqual({ ntpMs: 10_000 - 100 + NTP_UNIX_OFFSET_MS, atWallMs: 10_000 });
  });
  it('reads the capture time of the frame on screen', () => {
    const origin = 1_795_000_000_000;
    const s = sampleFromFrame({ expectedDisplayTime: 5_000, captureTime: 4_200 }, origin);
    expect(s).toEqual({ ntpMs: origin + 4_200 + NTP_UNIX_OFFSET_MS, atWallMs: origin + 5_000 });
    expect(playoutPdtMs(s, origin + 5_100)).toBe(origin + 4_300);
    expect(sampleFromFrame({ expectedDisplayTime: 5_000 }, origin)).toBeNull();
  });
});
