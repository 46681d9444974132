// Echo and broadcast server with Node's `ws`, for the benchmark comparison.
// Usage: node server.js [HOST:PORT [CERT.pem KEY.pem]]   (default 127.0.0.1:9001)
// With a certificate and key: wss:// on https.createServer (Node's TLS, OpenSSL; session
// tickets on, its default).
//
// Two WebSocketServers share one HTTP(S) server, as ws's README shows ("Multiple servers sharing
// a single HTTP/S server", `noServer: true`): `/broadcast` broadcasts, every other path echoes.
// The broadcast is the README's "Server broadcast" loop, the variant that includes the sender
// (Switchyard's default `broadcast` route does too): every message goes to every open client of
// that server. Slow subscribers: ws's default, `send` queues in the socket's buffer without
// bound (bufferedAmount grows); nothing waits for a slow client.
//
// permessage-deflate is off by default, as for every peer. PERMESSAGE_DEFLATE=1 turns it on with
// ws's defaults (context takeover both ways, zlib level, messages under 1024 bytes sent
// uncompressed); PERMESSAGE_DEFLATE=no-context-takeover asks for no context takeover both ways
// (Switchyard's `deflate = "on"`); PERMESSAGE_DEFLATE_THRESHOLD=N sets the size under which
// messages go uncompressed (Switchyard's is 64); PERMESSAGE_DEFLATE_LEVEL=N the zlib level (ws:
// zlib's default, 6; Switchyard's is 1). ws compresses each client's copy on its own, through
// zlib on libuv's thread pool (pinned to the same core by taskset).
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const { WebSocket, WebSocketServer } = require('ws');

const [host, port] = (process.argv[2] || '127.0.0.1:9001').split(':');
const [cert, key] = process.argv.slice(3, 5);

function deflateOption() {
  const mode = process.env.PERMESSAGE_DEFLATE || '';
  if (mode === '' || mode === '0' || mode === 'off') return false;
  const opts = {};
  if (mode === 'no-context-takeover') {
    opts.serverNoContextTakeover = true;
    opts.clientNoContextTakeover = true;
  } else if (mode !== '1' && mode !== 'on') {
    throw new Error(`PERMESSAGE_DEFLATE=${mode}: expected 1, on, no-context-takeover, 0 or off`);
  }
  if (process.env.PERMESSAGE_DEFLATE_THRESHOLD) {
    opts.threshold = Number(process.env.PERMESSAGE_DEFLATE_THRESHOLD);
  }
  if (process.env.PERMESSAGE_DEFLATE_LEVEL) {
    opts.zlibDeflateOptions = { level: Number(process.env.PERMESSAGE_DEFLATE_LEVEL) };
  }
  return Object.keys(opts).length ? opts : true;
}

const options = { noServer: true, maxPayload: 16 << 20, perMessageDeflate: deflateOption() };
const echo = new WebSocketServer(options);
const broadcast = new WebSocketServer(options);

echo.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});

broadcast.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    broadcast.clients.forEach((client) => {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    });
  });
  ws.on('error', () => {});
});

const server = cert && key
  ? https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key),
    ALPNProtocols: ['http/1.1'] })
  : http.createServer();
// What ws's own server answers to a request that is not an upgrade.
server.on('request', (req, res) => {
  res.writeHead(426, { 'Content-Type': 'text/plain' });
  res.end(http.STATUS_CODES[426]);
});
server.on('upgrade', (request, socket, head) => {
  const path = (request.url || '/').split('?', 1)[0];
  const wss = path === '/broadcast' ? broadcast : echo;
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
});
server.listen({ host, port: Number(port), backlog: 4096 }, () =>
  console.error(`peer-node-ws${cert ? ' (https)' : ''} listening on ${host}:${port}` +
    ` (broadcast on /broadcast, permessage-deflate ${options.perMessageDeflate ? 'on' : 'off'})`));
