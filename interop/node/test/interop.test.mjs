// Interop tests of the switchyard server with the Node `ws` client (node --test).
// SWITCHYARD_URL (ws://host:port) names the server; interop/node/run starts one and sets it.
// With SWITCHYARD_CA (a PEM file) the URL is wss:// and ws trusts that CA, and only it.
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';

const base = process.env.SWITCHYARD_URL?.replace(/\/$/, '');
if (!base) throw new Error('SWITCHYARD_URL is not set: run interop/node/run');
const TIMEOUT = 10_000;
const tls = process.env.SWITCHYARD_CA ? { ca: readFileSync(process.env.SWITCHYARD_CA) } : {};

function withTimeout(promise, what, ms = TIMEOUT) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Opens a client with a queue of received messages, so no message is lost between awaits.
async function open(path = '/echo', options = {}) {
  const ws = new WebSocket(base + path, { maxPayload: 64 << 20, ...tls, ...options });
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const msg = { data, isBinary };
    if (waiters.length) waiters.shift()(msg);
    else queue.push(msg);
  });
  ws.next = (what = 'a message') =>
    withTimeout(queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r)), what);
  await withTimeout(once(ws, 'open'), `the opening handshake on ${path}`);
  return ws;
}

async function closeNormally(ws) {
  if (ws.readyState === WebSocket.CLOSED) return;
  const closed = once(ws, 'close');
  ws.close(1000);
  await withTimeout(closed, 'the close handshake');
}

test('echo text', async () => {
  const ws = await open();
  for (const text of ['hello', '', 'héllo 世界 😀']) {
    ws.send(text);
    const { data, isBinary } = await ws.next(`echo of ${JSON.stringify(text)}`);
    assert.equal(isBinary, false);
    assert.equal(data.toString('utf8'), text);
  }
  await closeNormally(ws);
});

test('echo binary, 1 KiB and 4 MiB', async () => {
  const ws = await open();
  for (const size of [1024, 4 << 20]) {
    const payload = randomBytes(size);
    ws.send(payload);
    const { data, isBinary } = await ws.next(`echo of ${size} bytes`);
    assert.equal(isBinary, true);
    assert.ok(payload.equals(data), `${size}-byte binary echo differs`);
  }
  await closeNormally(ws);
});

test('fragmented send is echoed as one message', async () => {
  const ws = await open();
  const parts = Array.from({ length: 50 }, (_, i) => `part${i};`);
  parts.forEach((part, i) => ws.send(part, { fin: i === parts.length - 1 }));
  const { data, isBinary } = await ws.next('the reassembled message');
  assert.equal(isBinary, false);
  assert.equal(data.toString(), parts.join(''));
  await closeNormally(ws);
});

test('ping gets a pong with the same payload', async () => {
  const ws = await open();
  const pong = once(ws, 'pong');
  ws.ping(Buffer.from('node-ping'));
  const [payload] = await withTimeout(pong, 'a pong');
  assert.equal(payload.toString(), 'node-ping');
  await closeNormally(ws);
});

test('close 1000 is answered with 1000', async () => {
  const ws = await open();
  const closed = once(ws, 'close');
  ws.close(1000, 'done');
  const [code] = await withTimeout(closed, 'the close handshake');
  assert.equal(code, 1000);
});

test('broadcast reaches the other client, text and binary', async () => {
  const a = await open('/broadcast');
  const b = await open('/broadcast');
  a.send('from a');
  const first = await b.next('the broadcast from a');
  assert.equal(first.data.toString(), 'from a');
  const bin = Buffer.from([0, 1, 2, 255]);
  b.send(bin);
  // a may first get its own message back (a broadcast may include the sender): skip it.
  let got = await a.next('the broadcast from b');
  if (!got.isBinary && got.data.toString() === 'from a') got = await a.next('the broadcast from b');
  assert.equal(got.isBinary, true);
  assert.ok(bin.equals(got.data));
  await Promise.all([closeNormally(a), closeNormally(b)]);
});

test('permessage-deflate offered by ws: echo works, negotiated as expected', async (t) => {
  const ws = await open('/echo', { perMessageDeflate: true });
  const text = 'deflate me '.repeat(5000);
  ws.send(text);
  const { data } = await ws.next('the echo');
  assert.equal(data.toString(), text);
  const negotiated = ws.extensions.includes('permessage-deflate');
  t.diagnostic(`extensions: ${JSON.stringify(ws.extensions)}`);
  // SWITCHYARD_EXPECT_DEFLATE=1: the server runs with --deflate and must take ws's offer.
  if (process.env.SWITCHYARD_EXPECT_DEFLATE === '1') assert.ok(negotiated, 'permessage-deflate declined');
  else if (process.env.SWITCHYARD_EXPECT_DEFLATE === '0') assert.ok(!negotiated, 'permessage-deflate taken');
  await closeNormally(ws);
});
