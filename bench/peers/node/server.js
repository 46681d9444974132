// Echo server with Node's `ws` (its README's echo shape), for the benchmark comparison.
// Usage: node server.js [HOST:PORT [CERT.pem KEY.pem]]   (default 127.0.0.1:9001)
// With a certificate and key: wss:// on https.createServer (Node's TLS, OpenSSL; session
// tickets on, its default).
'use strict';
const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

const [host, port] = (process.argv[2] || '127.0.0.1:9001').split(':');
const [cert, key] = process.argv.slice(3, 5);
// perMessageDeflate off (the default): every peer in the comparison runs without compression.
const options = { backlog: 4096, maxPayload: 16 << 20 };
let wss;
if (cert && key) {
  const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key),
    ALPNProtocols: ['http/1.1'] });
  wss = new WebSocketServer({ server, ...options });
  server.listen({ host, port: Number(port), backlog: 4096 }, () =>
    console.error(`peer-node-ws (https) listening on ${host}:${port}`));
} else {
  wss = new WebSocketServer({ host, port: Number(port), ...options });
}
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
if (!cert) wss.on('listening', () => console.error(`peer-node-ws listening on ${host}:${port}`));
