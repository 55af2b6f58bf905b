// Browser go-live over WHIP (RFC 9725): camera and microphone pickers, preview, bitrate,
// start and stop. When the server has no WHIP endpoint it says so plainly: use OBS.

import { $, h, replace, say } from '../common/dom';
import { hangUp, negotiate, SignalError, type Session } from '../player/rfc9725';

export const WHIP_UNAVAILABLE = 'Browser go-live is not available on this server yet — use OBS (settings above).';

export class GoLive {
  private stream: MediaStream | null = null;
  private pc: RTCPeerConnection | null = null;
  private session: Session | null = null;
  private msg = $('golive-msg');

  constructor(
    private readonly whipUrl: string,
    private readonly streamKey: () => string | null,
  ) {
    $('golive-start').addEventListener('click', () => void this.start());
    $('golive-stop').addEventListener('click', () => void this.stop());
    $('cam').addEventListener('change', () => void this.preview());
    $('mic').addEventListener('change', () => void this.preview());
    $('bitrate').addEventListener('change', () => void this.applyBitrate());
  }

  /** Ask for the devices, fill the pickers and show the preview. */
  async init(): Promise<void> {
    if (!navigator.mediaDevices?.getUserMedia) {
      say(this.msg, 'This browser cannot capture a camera here (it needs HTTPS or localhost).', 'error');
      return;
    }
    try {
      await this.preview();
      const devices = await navigator.mediaDevices.enumerateDevices();
      const fill = (sel: HTMLElement, kind: MediaDeviceKind, current: string | undefined) =>
        replace(sel, ...devices.filter((d) => d.kind === kind).map((d, i) => h('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || `${kind} ${i + 1}`)));
      fill($('cam'), 'videoinput', this.stream?.getVideoTracks()[0]?.getSettings().deviceId);
      fill($('mic'), 'audioinput', this.stream?.getAudioTracks()[0]?.getSettings().deviceId);
    } catch (e) {
      say(this.msg, `Camera or microphone unavailable: ${e instanceof Error ? e.message : e}`, 'error');
    }
  }

  private async preview(): Promise<void> {
    const cam = ($('cam') as HTMLSelectElement).value;
    const mic = ($('mic') as HTMLSelectElement).value;
    const next = await navigator.mediaDevices.getUserMedia({
      video: cam ? { deviceId: { exact: cam }, width: 1280, height: 720 } : { width: 1280, height: 720 },
      audio: mic ? { deviceId: { exact: mic } } : true,
    });
    if (this.pc) {
      for (const sender of this.pc.getSenders()) {
        const t = next.getTracks().find((x) => x.kind === sender.track?.kind);
        if (t) await sender.replaceTrack(t);
      }
    }
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = next;
    ($('preview') as HTMLVideoElement).srcObject = next;
  }

  private async start(): Promise<void> {
    const key = this.streamKey();
    if (!this.stream) await this.init();
    if (!this.stream) return;
    if (!key) {
      say(this.msg, 'Log in with the stream key to go live from the browser.', 'error');
      return;
    }
    ($('golive-start') as HTMLButtonElement).disabled = true;
    say(this.msg, 'Connecting…');
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    for (const t of this.stream.getTracks()) pc.addTransceiver(t, { direction: 'sendonly', streams: [this.stream] });
    try {
      this.session = await negotiate(pc, this.whipUrl, key);
      this.pc = pc;
      await this.applyBitrate();
      const onState = () => {
        if (pc.connectionState === 'failed') say(this.msg, 'The connection to the server failed. Press Go live to retry.', 'error');
        if (pc.connectionState === 'connected') say(this.msg, 'You are live.', 'ok');
      };
      ($('golive-stop') as HTMLButtonElement).disabled = false;
      say(this.msg, 'Negotiated; waiting for media to flow…');
      pc.addEventListener('connectionstatechange', onState);
      onState();
    } catch (e) {
      pc.close();
      ($('golive-start') as HTMLButtonElement).disabled = false;
      if (e instanceof SignalError && e.unsupported) say(this.msg, WHIP_UNAVAILABLE, 'error');
      else if (e instanceof SignalError && (e.status === 401 || e.status === 403)) say(this.msg, 'The server refused the stream key.', 'error');
      else say(this.msg, `Could not go live: ${e instanceof Error ? e.message : e}`, 'error');
    }
  }

  private async applyBitrate(): Promise<void> {
    const bps = Number(($('bitrate') as HTMLSelectElement).value);
    const sender = this.pc?.getSenders().find((s) => s.track?.kind === 'video');
    if (!sender) return;
    const p = sender.getParameters();
    if (!p.encodings || p.encodings.length === 0) p.encodings = [{}];
    p.encodings[0].maxBitrate = bps;
    await sender.setParameters(p).catch((e) => console.warn('showroom: setParameters failed', e));
  }

  private async stop(): Promise<void> {
    if (this.session) await hangUp(this.session, this.streamKey());
    this.pc?.close();
    this.pc = null;
    this.session = null;
    ($('golive-stop') as HTMLButtonElement).disabled = true;
    ($('golive-start') as HTMLButtonElement).disabled = false;
    say(this.msg, 'Stopped.');
  }
}
