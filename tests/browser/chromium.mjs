// Shared by the hls.js driver scripts: the system's Chromium (never a downloaded browser), its
// flags, and a static server on 127.0.0.1 for the test page and hls.js.

import { createServer } from 'node:http';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

// Serves `page` (HTML) at / and hls.js at /hls.js on an OS-assigned 127.0.0.1 port.
export async function serveStatic(page) {
  const hlsJs = await readFile(join(HERE, 'node_modules/hls.js/dist/hls.min.js'));
  const server = createServer((req, res) => {
    const path = (req.url || '/').split('?')[0];
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(page);
    } else if (path === '/hls.js') {
      res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store' });
      res.end(hlsJs);
    } else if (path === '/favicon.ico') {
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  return server;
}

// Serves `page`, launches Chromium on a fresh profile and runs `body(page, port)`; everything
// is closed afterwards. Exit status 3 when Chromium cannot start, or when `body` throws.
export async function withChromium(name, html, viewport, body) {
  const server = await serveStatic(html);
  const profile = await mkdtemp(join(tmpdir(), 'showroom-chromium-'));
  let context = null;
  try {
    try {
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport, timeout: 30000,
      });
    } catch (e) {
      process.stderr.write(`${name}: cannot launch ${CHROMIUM}: ${e.message}\n`);
      process.exitCode = 3;
      return;
    }
    const page = context.pages()[0] || (await context.newPage());
    await body(page, server.address().port, context);
  } catch (e) {
    process.stderr.write(`${name}: ${e.stack || e}\n`);
    process.exitCode = 3;
  } finally {
    if (context) await context.close().catch(() => {});
    server.close();
    await rm(profile, { recursive: true, force: true }).catch(() => {});
  }
}
