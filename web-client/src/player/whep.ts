// Playback over WebRTC (WHEP): receive-only transceivers, one POST, the remote stream on <video>.
// When ICE fails (network change, NAT rebinding) the session is restarted in place (RFC 9725
// §4.4 PATCH) instead of being torn down.

import { sampleFromFrame, sampleFromStats, type PlayoutSample } from './playout';
import { hangUp, negotiate, restartIce, type Session } from './rfc9725';

export interface WhepPlayback {
  pc: RTCPeerConnection;
  session: Session;
  /** Frames decoded so far (inbound-rtp video `framesDecoded`). */
  framesDecoded(): Promise<number>;
  /** The latest playout sample (refreshed every 250 ms), for the overlay scheduler. */
  playout(): PlayoutSample | null;
  /** ICE restart now (also done on its own when ICE fails). */
  restartIce(): Promise<void>;
  close(): Promise<void>;
}

export async function playWhep(
  video: HTMLVideoElement,
  endpoint: string,
  token: string | null,
  timeoutMs = 8_000,
): Promise<WhepPlayback> {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const media = new MediaStream();
  pc.ontrack = (e) => {
    media.addTrack(e.track);
    video.srcObject = media;
  };
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const session = await negotiate(pc, endpoint, token, abort.signal);
    await connected(pc, timeoutMs);
    let sample: PlayoutSample | null = null;
    let fromFrames = false;
    const onFrame = (_now: number, meta: VideoFrameCallbackMetadata) => {
      const s = sampleFromFrame(meta, performance.timeOrigin);
      if (s) {
        sample = s;
        fromFrames = true;
      }
      if (pc.connectionState !== 'closed') video.requestVideoFrameCallback(onFrame);
    };
    if ('requestVideoFrameCallback' in video) video.requestVideoFrameCallback(onFrame);
    const poll = setInterval(() => {
      if (!fromFrames) void pc.getStats().then((r) => (sample = sampleFromStats(r.values(), Date.now()) ?? sample));
    }, 250);
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'closed') clearInterval(poll);
    });
    let restarting: Promise<void> | null = null;
    const restart = () =>
      (restarting ??= restartIce(pc, session, token).finally(() => (restarting = null)));
    pc.addEventListener('iceconnectionstatechange', () => {
      if (pc.iceConnectionState === 'failed') {
        restart().catch((e) => console.warn('showroom: ICE restart failed', e));
      }
    });
    return {
      playout: () => sample,
      pc,
      session,
      restartIce: restart,
      framesDecoded: async () => {
        let n = 0;
        (await pc.getStats()).forEach((s: any) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') n = s.framesDecoded ?? 0;
        });
        return n;
      },
      close: async () => {
        clearInterval(poll);
        pc.close();
        await hangUp(session, token);
      },
    };
  } catch (e) {
    pc.close();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

function connected(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('WebRTC did not connect in time')), timeoutMs);
    const check = () => {
      if (pc.connectionState === 'connected') {
        clearTimeout(t);
        resolve();
      } else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
        clearTimeout(t);
        reject(new Error(`WebRTC connection ${pc.connectionState}`));
      }
    };
    pc.addEventListener('connectionstatechange', check);
    check();
  });
}
