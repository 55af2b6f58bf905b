// The WebRTC playhead on the PDT timeline, from `inbound-rtp.estimatedPlayoutTimestamp`
// (the sender's NTP time of what is playing out now). It equals the PROGRAM-DATE-TIME when the
// server's RTCP sender reports carry the stream clock's wall time (the same anchor as LL-HLS PDT).
// Pure functions: the caller samples stats and passes the wall time.

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

/** The newest `estimatedPlayoutTimestamp` in a stats report (video preferred over audio). */
export function sampleFromStats(stats: Iterable<any>, nowWallMs: number): PlayoutSample | null {
  let video: number | null = null;
  let audio: number | null = null;
  for (const s of stats) {
    if (s?.type !== 'inbound-rtp' || typeof s.estimatedPlayoutTimestamp !== 'number') continue;
    if (s.kind === 'video') video = s.estimatedPlayoutTimestamp;
    else if (s.kind === 'audio') audio = s.estimatedPlayoutTimestamp;
  }
  const ntp = video ?? audio;
  return ntp === null ? null : { ntpMs: ntp, atWallMs: nowWallMs };
}
