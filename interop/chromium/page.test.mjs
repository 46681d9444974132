// Headless Debian Chromium (driven by playwright-core, which never downloads a browser) loads the
// server's built-in page GET / and checks what its script reports: #echo-result and
// #broadcast-result become "ok", #extensions shows what the browser's echo socket negotiated.
//   SWITCHYARD_HTTP        http://host:port of the server (interop/chromium/run sets it), or
//                          https://localhost:port: Chromium then runs with
//                          --ignore-certificate-errors (the run's own CA is not in its store) and
//                          the page's sockets are wss://
//   CHROMIUM_EXPECT_DEFLATE=1|0   require permessage-deflate in #extensions, or not; by default it
//                          is required when the server accepts a plain permessage-deflate offer
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import { chromium } from 'playwright-core';

const base = process.env.SWITCHYARD_HTTP?.replace(/\/$/, '');
if (!base) throw new Error('SWITCHYARD_HTTP is not set: run interop/chromium/run');
const executablePath = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const TIMEOUT = 20_000;
const secure = base.startsWith('https://');

let context;
let page;
let userDataDir;
const console_ = [];
const results = {};

before(async () => {
  userDataDir = mkdtempSync(join(tmpdir(), 'switchyard-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    // Without the background-networking flags Chromium keeps dialling hosts this closed network
    // refuses; --no-sandbox because CI runs as root.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...(secure ? ['--ignore-certificate-errors'] : [])],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => console_.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console_.push(`page error: ${e.message}`));
  const response = await page.goto(base + '/', { timeout: TIMEOUT });
  assert.equal(response.status(), 200, 'GET / status');
  // Each result is settled once its text is "ok" or an "error: ..." message.
  for (const id of ['echo-result', 'broadcast-result']) {
    try {
      await page.waitForFunction(
        (sel) => /^(ok|error)/.test(document.querySelector(sel)?.textContent?.trim() ?? ''),
        `#${id}`, { timeout: TIMEOUT });
    } catch {
      // Left unsettled: the test below reports the text it has.
    }
    results[id] = (await page.locator(`#${id}`).textContent({ timeout: 1000 }).catch(() => null))?.trim();
  }
  results.protocol = await page.evaluate(() => location.protocol);
  results.extensions = (await page.locator('#extensions').textContent({ timeout: 1000 })
    .catch(() => null))?.trim();
  console.log(`chromium ${context.browser()?.version() ?? ''}: #echo-result=${JSON.stringify(results['echo-result'])}` +
    ` #broadcast-result=${JSON.stringify(results['broadcast-result'])}` +
    ` #extensions=${JSON.stringify(results.extensions)}`);
  if (console_.length) console.log(console_.join('\n'));
});

after(async () => {
  if (page && !(results['echo-result'] === 'ok' && results['broadcast-result'] === 'ok')) {
    const shot = join(tmpdir(), `switchyard-chromium-${process.pid}.png`);
    await page.screenshot({ path: shot }).then(() => console.log(`screenshot: ${shot}`), () => {});
  }
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

test('built-in page: echo works in Chromium', () => {
  assert.equal(results['echo-result'], 'ok');
});

test('built-in page: served over the scheme asked for (https: its sockets are wss://)', () => {
  assert.equal(results.protocol, secure ? 'https:' : 'http:');
});

test('built-in page: broadcast works in Chromium', () => {
  assert.equal(results['broadcast-result'], 'ok');
});

// Whether the server accepts permessage-deflate from a client that is not a browser.
function serverTakesDeflate() {
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(base + '/echo', {
      rejectUnauthorized: false,
      headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits',
      },
      timeout: 5000,
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(/permessage-deflate/.test(res.headers['sec-websocket-extensions'] ?? ''));
    });
    req.on('response', (res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

test('built-in page: Chromium negotiates permessage-deflate when the server offers it', async (t) => {
  assert.equal(typeof results.extensions, 'string', '#extensions element missing');
  const expect = process.env.CHROMIUM_EXPECT_DEFLATE
    ? process.env.CHROMIUM_EXPECT_DEFLATE === '1'
    : await serverTakesDeflate();
  t.diagnostic(`#extensions: ${JSON.stringify(results.extensions)}; deflate expected: ${expect}`);
  if (expect) assert.match(results.extensions, /permessage-deflate/);
  else assert.doesNotMatch(results.extensions, /permessage-deflate/);
});
