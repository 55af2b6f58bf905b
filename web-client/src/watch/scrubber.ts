// The replay's scrubber: a range under the video with a thumbnail preview where the pointer is,
// from the recording's WebVTT thumbnail track (`/vod/{id}/thumbs.vtt`: sprite-sheet cues with
// `#xywh=x,y,w,h`, or single images). Parsing and lookup are pure functions.

export interface ThumbCue {
  start: number;
  end: number;
  /** Absolute image URL, without the fragment. */
  url: string;
  /** Tile inside a sprite sheet, or null for a whole image. */
  xywh: [number, number, number, number] | null;
}

function seconds(t: string): number {
  const parts = t.trim().split(':').map(Number);
  return parts.reduce((acc, p) => acc * 60 + p, 0);
}

/** Cues of a WebVTT thumbnail track; image URIs resolve against `trackUrl`. */
export function parseThumbVtt(text: string, trackUrl: string): ThumbCue[] {
  const cues: ThumbCue[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\S+)\s+-->\s+(\S+)/.exec(lines[i]);
    const uri = lines[i + 1]?.trim();
    if (!m || !uri) continue;
    const [path, frag] = uri.split('#');
    const xy = /^xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(frag ?? '');
    cues.push({
      start: seconds(m[1]),
      end: seconds(m[2]),
      url: new URL(path, trackUrl).toString(),
      xywh: xy ? [Number(xy[1]), Number(xy[2]), Number(xy[3]), Number(xy[4])] : null,
    });
  }
  return cues;
}

/** The cue shown at `t` seconds, or null. */
export function cueAt(cues: ThumbCue[], t: number): ThumbCue | null {
  return cues.find((c) => t >= c.start && t < c.end) ?? null;
}

/** Mounts the scrubber after the video's wrapper. */
export function mountScrubber(video: HTMLVideoElement, cues: ThumbCue[]): HTMLElement {
  const box = document.createElement('div');
  box.className = 'replay-scrubber';
  box.style.cssText = 'position:relative;margin-top:6px';
  const range = document.createElement('input');
  range.type = 'range';
  range.min = '0';
  range.step = '0.1';
  range.value = '0';
  range.setAttribute('aria-label', 'Replay position');
  range.style.width = '100%';
  const preview = document.createElement('div');
  preview.className = 'replay-preview';
  preview.hidden = true;
  preview.setAttribute('aria-hidden', 'true');
  preview.style.cssText = 'position:absolute;bottom:28px;border:2px solid #fff;border-radius:4px;background-repeat:no-repeat;pointer-events:none';
  box.append(preview, range);
  (video.closest('.video-wrap') ?? video).after(box);

  video.addEventListener('durationchange', () => (range.max = String(video.duration || 0)));
  video.addEventListener('timeupdate', () => {
    if (document.activeElement !== range) range.value = String(video.currentTime);
  });
  range.addEventListener('input', () => (video.currentTime = Number(range.value)));
  range.addEventListener('pointermove', (e) => {
    const rect = range.getBoundingClientRect();
    const frac = Math.min(1, Math.max(0, (e.clientX - rect.left) / rect.width));
    const cue = cueAt(cues, frac * (video.duration || 0));
    if (!cue) {
      preview.hidden = true;
      return;
    }
    const [x, y, w, h] = cue.xywh ?? [0, 0, 160, 90];
    preview.style.width = `${w}px`;
    preview.style.height = `${h}px`;
    preview.style.backgroundImage = `url("${cue.url}")`;
    preview.style.backgroundPosition = cue.xywh ? `-${x}px -${y}px` : 'center';
    preview.style.backgroundSize = cue.xywh ? 'auto' : 'cover';
    preview.style.left = `${Math.min(Math.max(0, e.clientX - rect.left - w / 2), rect.width - w)}px`;
    preview.dataset.at = String(cue.start);
    preview.hidden = false;
  });
  range.addEventListener('pointerleave', () => (preview.hidden = true));
  return box;
}
