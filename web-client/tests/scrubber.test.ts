import { describe, expect, it } from 'vitest';
import { cueAt, parseThumbVtt } from '../src/watch/scrubber';

const VTT = `WEBVTT

00:00:00.000 --> 00:00:02.000
1795283445985/sprite-1.jpg#xywh=0,0,320,180

00:00:02.000 --> 00:01:04.500
1795283445985/sprite-1.jpg#xywh=320,0,320,180

00:01:04.500 --> 00:01:06.000
1795283453973/thumbs/21.jpg
`;

describe('thumbnail track', () => {
  const cues = parseThumbVtt(VTT, 'http://h/vod/abc/thumbs.vtt');

  it('parses sprite tiles and single images, resolved against the track', () => {
    expect(cues).toHaveLength(3);
    expect(cues[1]).toEqual({ start: 2, end: 64.5, url: 'http://h/vod/abc/1795283445985/sprite-1.jpg', xywh: [320, 0, 320, 180] });
    expect(cues[2].xywh).toBeNull();
    expect(cues[2].url).toBe('http://h/vod/abc/1795283453973/thumbs/21.jpg');
  });

  it('finds the cue at a time, none past the end', () => {
    expect(cueAt(cues, 1.99)?.xywh?.[0]).toBe(0);
    expect(cueAt(cues, 2)?.xywh?.[0]).toBe(320);
    expect(cueAt(cues, 65)?.url).toContain('thumbs/21.jpg');
    expect(cueAt(cues, 66)).toBeNull();
  });
});
