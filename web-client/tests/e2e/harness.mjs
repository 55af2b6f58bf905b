// Real processes for the browser journey: a `showroom serve` engine on 127.0.0.1 (OS-assigned
// free ports, temp data dir), an ffmpeg RTMP publisher, the system Chromium via playwright-core,
// and (only when the engine does not serve the pages yet) a static server for dist/.

import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const REPO = resolve(WEB, '..');
export const DIST = join(WEB, 'dist');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  // WebRTC stays on loopback: let Chromium use 127.0.0.1 candidates.
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];

/** Fail with a clear message when a tool the journey needs is missing. */
export function requireTools() {
  const bin = process.env.SHOWROOM_BIN || join(REPO, 'target/debug/showroom');
  const missing = [];
  if (!existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (apt-get install chromium)`);
  if (spawnSync('ffmpeg', ['-version']).status !== 0) missing.push('ffmpeg (apt-get install ffmpeg)');
  if (!existsSync(bin)) missing.push(`${bin} (cargo build -p showroom-engine --bin showroom)`);
  if (!existsSync(join(DIST, 'watch.html'))) missing.push(`${DIST}/watch.html (npm run build)`);
  if (missing.length) throw new Error(`the browser journey needs:\n  ${missing.join('\n  ')}`);
  return bin;
}

export function freePort() {
  return new Promise((res, rej) => {
    const s = netServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, f, timeoutMs = 30_000, everyMs = 200) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

export async function startEngine(bin) {
  const dataDir = await mkdtemp(join(tmpdir(), 'showroom-web-'));
  const [httpPort, rtmpPort] = [await freePort(), await freePort()];
  const logPath = join(dataDir, 'engine.log');
  const log = openSync(logPath, 'w');
  // The engine reads every SHOWROOM_* variable as config: pass on none of ours (e.g. SHOWROOM_BIN).
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SHOWROOM_')));
  const child = spawn(bin, ['serve', '--data-dir', dataDir, '--http-port', String(httpPort), '--rtmp-port', String(rtmpPort)], {
    env: {
      ...inherited, SHOWROOM_HTTP__BIND: '127.0.0.1', SHOWROOM_RTMP__BIND: '127.0.0.1', SHOWROOM_WEB__DIR: DIST, RUST_LOG: 'info', NO_COLOR: '1',
      // WebRTC on loopback only: 127.0.0.1 candidates for WHEP (webrtc-rs) and WHIP (libnice).
      SHOWROOM_WEBRTC__INCLUDE_LOOPBACK: 'true', SHOWROOM_WEBRTC__ICE_INTERFACES: '[lo]', SHOWROOM_WHIP__ICE_ADDRESSES: '[127.0.0.1]',
    },
    stdio: ['ignore', log, log],
  });
  const base = `http://127.0.0.1:${httpPort}`;
  const logText = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');
  await waitFor('the engine /healthz', async () => {
    if (child.exitCode !== null) throw new Error(`showroom exited (${child.exitCode}):\n${logText()}`);
    return (await fetch(`${base}/healthz`)).ok;
  });
  const adminKey = readFileSync(join(dataDir, 'admin_key'), 'utf8').trim();
  return { child, base, httpPort, rtmpPort, adminKey, dataDir, logText, stop: () => child.kill('SIGTERM') };
}

export function publish(rtmpPort, key, logPath) {
  const log = openSync(logPath, 'w');
  return spawn('ffmpeg', ['-hide_banner', '-loglevel', 'warning', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine',
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '60', '-c:a', 'aac', '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/live/${key}`], { stdio: ['ignore', log, log] });
}

/** Pages from the engine when it serves them; otherwise (or with JOURNEY_PAGES=static) dist/ on
 *  a static port + `?api=<engine>`, which also exercises the cross-origin API path. */
export async function pageBase(engine, streamId) {
  const r = process.env.JOURNEY_PAGES === 'static' ? null : await fetch(`${engine.base}/watch/${streamId}`).catch(() => null);
  if (r && r.ok && (r.headers.get('content-type') ?? '').includes('text/html')) {
    return { base: engine.base, query: '', servedBy: 'engine', close: () => undefined };
  }
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.svg': 'image/svg+xml' };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const m = /^\/(watch|studio|moderate)\/[^/]+$/.exec(path);
    const file = m ? join(DIST, `${m[1]}.html`) : join(DIST, path.replace(/\.\.+/g, ''));
    if (!file.startsWith(DIST) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${port}`, query: `?api=${encodeURIComponent(engine.base)}`, servedBy: 'static', close: () => server.close() };
}

export async function launchBrowser(extraArgs = []) {
  const userDataDir = await mkdtemp(join(tmpdir(), 'showroom-chromium-'));
  return chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs], viewport: { width: 1280, height: 860 } });
}

/** JSON over HTTP with a bearer; throws on non-2xx with the body. */
export async function api(base, path, { method = 'GET', token, body, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const r = await fetch(base + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path} → ${r.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}
