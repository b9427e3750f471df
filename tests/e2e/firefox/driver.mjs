// Drives one Debian Firefox ESR page over WebDriver BiDi (puppeteer-core; Playwright cannot drive a
// stock Firefox) for tests/e2e/test_firefox.py. One JSON command a line on stdin, one JSON answer a
// line on stdout: {"ok": true, "value": ...} or {"ok": false, "error": "..."}.
//
//   node driver.mjs '{"executablePath": "/usr/bin/firefox-esr", "initScript": "...", "viewport": {...}}'
//
// Commands: goto {url} · click {selector} · fill {selector, text} · press {selector, key}
// · wait {selector, timeout} (until visible) · eval {expression} (its value, promises awaited)
// · screenshot {path} · problems (console errors and uncaught exceptions so far) · close.
// Selectors are Puppeteer's, so `::-p-aria([name="Accept call"][role="button"])` finds by accessible name.
import { createInterface } from 'node:readline';
import puppeteer from 'puppeteer-core';

const options = JSON.parse(process.argv[2] ?? '{}');
const browser = await puppeteer.launch({
  browser: 'firefox',
  protocol: 'webDriverBiDi',
  executablePath: options.executablePath ?? '/usr/bin/firefox-esr',
  headless: true,
  // A fake camera and microphone, granted without a prompt (Chromium's --use-fake-device-for-media-stream).
  extraPrefsFirefox: {
    'media.navigator.streams.fake': true,
    'media.navigator.permission.disabled': true,
    'media.autoplay.default': 0, // allowed: the remote <video> plays without a click
  },
});
const page = await browser.newPage();
await page.setViewport(options.viewport ?? { width: 1280, height: 800 });
if (options.initScript) await page.evaluateOnNewDocument(options.initScript);
const problems = [];
page.on('console', (m) => { if (m.type() === 'error' || m.text().includes('Content Security Policy')) problems.push(m.text()); });
page.on('pageerror', (e) => problems.push(`uncaught: ${e.message ?? e}`));

// Puppeteer's Locator times out on ::-p-aria selectors over BiDi (Firefox 153), so elements are
// waited for with waitForSelector and then used through their handle.
const shown = (selector) => page.waitForSelector(selector, { visible: true });
const commands = {
  goto: ({ url }) => page.goto(url).then(() => null),
  click: async ({ selector }) => (await shown(selector)).click().then(() => null),
  fill: async ({ selector, text }) => {
    const handle = await shown(selector);
    await handle.evaluate((el) => { el.value = ''; el.dispatchEvent(new Event('input', { bubbles: true })); });
    await handle.type(text);
    return null;
  },
  press: async ({ selector, key }) => (await shown(selector)).press(key).then(() => null),
  wait: ({ selector, timeout }) => page.waitForSelector(selector, { visible: true, timeout }).then(() => null),
  eval: ({ expression }) => page.evaluate(expression),
  screenshot: ({ path }) => page.screenshot({ path }).then(() => null),
  problems: async () => problems,
  close: async () => { await browser.close(); process.exit(0); },
};

console.log(JSON.stringify({ ok: true, value: await browser.version() }));
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line);
  try {
    const value = await commands[command.cmd](command);
    console.log(JSON.stringify({ ok: true, value: value ?? null }));
  } catch (error) {
    console.log(JSON.stringify({ ok: false, error: String(error?.message ?? error) }));
  }
}
await browser.close(); // stdin closed: the test is over
