// Headless Chromium (the system /usr/bin/chromium, or $CHROMIUM) for the WebRTC tests: loopback
// ICE candidates allowed, no mDNS hiding, fake camera and microphone. Opens `pageUrl` and returns
// { browser, page }; page console lines go to stderr.
import { chromium } from 'playwright-core';

// The script's arguments; exits with `usage` when fewer than `required` are given.
export function args(usage, required) {
  const argv = process.argv.slice(2);
  if (argv.slice(0, required).some((a) => !a)) {
    console.error(`usage: node ${usage}`);
    process.exit(2);
  }
  return argv;
}

export async function openPage(pageUrl) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--allow-loopback-in-peer-connection', '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ],
  });
  const page = await browser.newPage();
  page.on('console', (m) => console.error('[page]', m.text()));
  await page.goto(pageUrl);
  return { browser, page };
}
