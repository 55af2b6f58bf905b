// The WebRTC playhead on the PDT timeline. Two sources, both mapped through the sender's RTCP
// sender reports: the video frame on screen (`requestVideoFrameCallback` → `captureTime`, the
// sender's capture time of that frame in local clock), else `inbound-rtp.estimatedPlayoutTimestamp`
// (sender NTP time of what plays out; Chromium reports it for audio only). Either equals the
// PROGRAM-DATE-TIME when the server's sender reports carry the stream clock's wall time (the same
// anchor as LL-HLS PDT). Pure functions: the caller samples and passes the wall time.

/** Milliseconds between the NTP epoch (1900) and the Unix epoch (1970). */
export const NTP_UNIX_OFFSET_MS = 2_208_988_800_000;

export interface PlayoutSample {
  /** Sender NTP time of the media playing out, ms since 1900. */
  ntpMs: number;
  /** Local wall time (Unix ms) when the sample was taken. */
  atWallMs: number;
}

/** The PDT (Unix ms) on screen at `nowWallMs`, extrapolated at 1× from the last sample;
 *  null when there is no sample or it is older than `maxAgeMs` (playback stalled). */
export function playoutPdtMs(s: PlayoutSample | null, nowWallMs: number, maxAgeMs = 2_000): number | null {
  if (!s || !(s.ntpMs > NTP_UNIX_OFFSET_MS)) return null;
  const age = nowWallMs - s.atWallMs;
  if (age < 0 || age > maxAgeMs) return null;
  return s.ntpMs - NTP_UNIX_OFFSET_MS + age;
}

/** A sample from a stats report: `estimatedPlayoutTimestamp` (video preferred over audio); when
 *  the browser reports none, an estimate of "now minus the video jitter-buffer delay", which
 *  leaves out the server→viewer transit (tens of ms) — good enough to order overlays with video. */
export function sampleFromStats(stats: Iterable<any>, nowWallMs: number): PlayoutSample | null {
  let video: number | null = null;
  let audio: number | null = null;
  let bufferMs: number | null = null;
  for (const s of stats) {
    if (s?.type !== 'inbound-rtp') continue;
    if (s.kind === 'video' && s.jitterBufferEmittedCount > 0 && typeof s.jitterBufferDelay === 'number') {
      bufferMs = (s.jitterBufferDelay / s.jitterBufferEmittedCount) * 1000;
    }
    if (typeof s.estimatedPlayoutTimestamp !== 'number') continue;
    if (s.kind === 'video') video = s.estimatedPlayoutTimestamp;
    else if (s.kind === 'audio') audio = s.estimatedPlayoutTimestamp;
  }
  const ntp = video ?? audio;
  if (ntp !== null) return { ntpMs: ntp, atWallMs: nowWallMs };
  if (bufferMs !== null) return { ntpMs: nowWallMs - bufferMs + NTP_UNIX_OFFSET_MS, atWallMs: nowWallMs };
  return null;
}

/** The subset of `VideoFrameCallbackMetadata` used here (DOMHighResTimeStamps, ms). */
export interface FrameMeta {
  expectedDisplayTime: number;
  captureTime?: number;
}

/** A sample from a displayed video frame; `timeOrigin` is `performance.timeOrigin`. */
export function sampleFromFrame(meta: FrameMeta, timeOrigin: number): PlayoutSample | null {
  if (typeof meta.captureTime !== 'number' || !(meta.captureTime > 0)) return null;
  return { ntpMs: timeOrigin + meta.captureTime + NTP_UNIX_OFFSET_MS, atWallMs: timeOrigin + meta.expectedDisplayTime };
}
