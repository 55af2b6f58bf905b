import { describe, expect, it } from 'vitest';
import { NTP_UNIX_OFFSET_MS, playoutPdtMs, sampleFromStats } from '../src/player/playout';

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
  });
});
