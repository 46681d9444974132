// Echo server with Node's `ws` (its README's echo shape), for the benchmark comparison.
// Usage: node server.js [HOST:PORT]   (default 127.0.0.1:9001)
'use strict';
const { WebSocketServer } = require('ws');

const [host, port] = (process.argv[2] || '127.0.0.1:9001').split(':');
// perMessageDeflate off (the default): every peer in the comparison runs without compression.
const wss = new WebSocketServer({ host, port: Number(port), backlog: 4096, maxPayload: 16 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.error(`peer-node-ws listening on ${host}:${port}`));
