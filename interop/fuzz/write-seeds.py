#!/usr/bin/env python3
"""Writes the hand-written fuzz seeds: <crate>/fuzz/seeds/<target>/<name>, a handful per cargo-fuzz
target (RFC examples, each rejection path, edge cases). The bytes are spelled out here because most
seeds are binary; edit this file and rerun it (python3 interop/fuzz/write-seeds.py) to change them.
interop/fuzz/run copies the seeds into its corpus under target/ before each run; the fuzzer never
writes to them.
"""
import os
import zlib

root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))


def w(crate, target, name, data):
    d = f'{root}/{crate}/fuzz/seeds/{target}'
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode('latin-1')
    open(f'{d}/{name}', 'wb').write(data)

CRLF = '\r\n'
def req(lines, extra=''):
    return CRLF.join(lines) + CRLF + CRLF + extra

rfc = ['GET /chat HTTP/1.1', 'Host: server.example.com', 'Upgrade: websocket', 'Connection: Upgrade',
       'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Origin: http://example.com',
       'Sec-WebSocket-Protocol: chat, superchat', 'Sec-WebSocket-Version: 13']
# handshake/server: first byte = split point, then the request.
w('handshake', 'server', 'rfc6455-1.3-opening-handshake', '\x28' + req(rfc))
w('handshake', 'server', 'extension-offers', '\x10' + req(rfc[:-1] + [
    'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-num; a=1; b="2"',
    'Sec-WebSocket-Extensions: x-num; c=3', 'Sec-WebSocket-Version: 13']))
w('handshake', 'server', 'first-frame-after-head', '\xff' + req(rfc, '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58'))
w('handshake', 'server', 'upgrade-tcp-or-websocket', '\x05' + req(['GET /vnc HTTP/1.1', 'Host: h',
    'Connection: keep-alive, Upgrade', 'Upgrade: tcp, websocket'], 'RFB 003.008\n'))
w('handshake', 'server', 'version-8-gets-426', '\x00' + req(rfc[:-1] + ['Sec-WebSocket-Version: 8']))
w('handshake', 'server', 'origin-not-allowed-403', '\x30' + req([l if not l.startswith('Origin') else 'Origin: http://evil.example' for l in rfc]))
w('handshake', 'server', 'expect-100-continue-with-body', '\x20' + req(['POST /upload HTTP/1.1', 'Host: h',
    'Connection: Upgrade', 'Upgrade: tcp', 'Expect: 100-continue', 'Content-Length: 5'], 'hello'))
w('handshake', 'server', 'plain-get-keep-alive-pipelined', '\x13' + req(['GET /healthz HTTP/1.1', 'Host: h'],
    req(['GET /metrics HTTP/1.1', 'Host: h', 'Connection: close'])))
w('handshake', 'server', 'http-1.0-upgrade', '\x08' + req(['GET / HTTP/1.0'] + rfc[1:]))
w('handshake', 'server', 'obs-fold-and-bad-key', '\x40' + req(rfc[:4] + ['Sec-WebSocket-Key: tooshort',
    'X-Folded: a', ' b'] + rfc[5:]))
w('handshake', 'server', 'truncated-head', '\x03' + 'GET /chat HTTP/1.1\r\nHost: server.exa')

# handshake/client: first byte = split point, then the server's answer to a request with the
# sample nonce ("the sample nonce": accept value s3pPLMBiTxaQ9kYGzzhZRbK+xOo=), offering chat,
# superchat and permessage-deflate; client_max_window_bits, x-foo.
ok = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade',
      'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=']
w('handshake', 'client', 'rfc6455-1.3-response-chat', '\x20' + req(ok + ['Sec-WebSocket-Protocol: chat']))
w('handshake', 'client', 'deflate-accepted', '\x30' + req(ok + ['Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10; server_no_context_takeover']))
w('handshake', 'client', 'frame-after-head', '\xff' + req(ok, '\x81\x05Hello'))
w('handshake', 'client', 'wrong-accept', '\x10' + req(ok[:3] + ['Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==']))
w('handshake', 'client', 'unoffered-subprotocol', '\x00' + req(ok + ['Sec-WebSocket-Protocol: other']))
w('handshake', 'client', 'unoffered-extension', '\x05' + req(ok + ['Sec-WebSocket-Extensions: x-bar']))
w('handshake', 'client', 'rejected-400-with-body', '\x08' + req(['HTTP/1.1 400 Bad Request', 'Content-Length: 3', 'Connection: close'], 'no\n'))
w('handshake', 'client', 'truncated-status-line', '\x02' + 'HTTP/1.1 10')

# handshake/extensions: a Sec-WebSocket-Extensions value.
w('handshake', 'extensions', 'rfc7692-offer', 'permessage-deflate; client_max_window_bits')
w('handshake', 'extensions', 'rfc7692-two-offers', 'permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits')
w('handshake', 'extensions', 'quoted-values', 'foo; bar="baz"; n="10", x-webkit-deflate-frame')
w('handshake', 'extensions', 'whitespace-and-empty-elements', ' , foo ;a = 1 ,, bar\t; b ,')
w('handshake', 'extensions', 'quoted-pair-and-unterminated', 'foo; a="x\\"y", bar; b="open')
w('handshake', 'extensions', 'duplicate-params', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover')

# frame/decode: [flags, seed, stream...]; flags bit 0 client role, bit 1 small limits
# (1 << (flags >> 4)), bit 2 fragment cap, bit 3 permessage-deflate.
hello_masked = bytes([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])
w('frame', 'decode', 'rfc6455-5.7-masked-hello-server', bytes([0x00, 0x05]) + hello_masked)
w('frame', 'decode', 'rfc6455-5.7-unmasked-hello-client', bytes([0x01, 0x03, 0x81, 0x05]) + b'Hello')
w('frame', 'decode', 'rfc6455-5.7-fragmented-hello-client', bytes([0x01, 0x11, 0x01, 0x03]) + b'Hel' + bytes([0x80, 0x02]) + b'lo')
w('frame', 'decode', 'rfc6455-5.7-ping-between-fragments-client', bytes([0x01, 0x07, 0x01, 0x03]) + b'Hel' + bytes([0x89, 0x05]) + b'Hello' + bytes([0x80, 0x02]) + b'lo')
w('frame', 'decode', 'rfc6455-5.7-masked-pong-server', bytes([0x00, 0x09, 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]))
w('frame', 'decode', 'rfc6455-5.7-binary-256-bytes-client', bytes([0x01, 0x1f, 0x82, 0x7e, 0x01, 0x00]) + bytes(range(256)))
w('frame', 'decode', 'close-1000-masked-server', bytes([0x00, 0x02, 0x88, 0x85, 0x01, 0x02, 0x03, 0x04, 0x03 ^ 1, 0xe8 ^ 2]) + bytes(a ^ b for a, b in zip(b'bye', [3, 4, 1])))
w('frame', 'decode', 'rfc7692-7.2.3.1-compressed-hello-client', bytes([0x09, 0x00, 0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]))
w('frame', 'decode', 'rfc7692-7.2.3.2-two-messages-shared-context-client', bytes([0x09, 0x00, 0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]))
w('frame', 'decode', 'small-limits-1009-client', bytes([0x13, 0x02, 0x81, 0x05]) + b'Hello')
w('frame', 'decode', 'unmasked-from-client-1002-server', bytes([0x00, 0x00, 0x81, 0x05]) + b'Hello')
w('frame', 'decode', 'invalid-utf8-1007-client', bytes([0x01, 0x01, 0x81, 0x02, 0xc3, 0x28]))
w('frame', 'decode', 'ping-too-long-1002-client', bytes([0x01, 0x04, 0x89, 0x7e, 0x00, 0x7e]) + bytes(126))

# frame/roundtrip: [flags, (op, len, payload)*]; op bits 0-1 opcode (cont, text, binary, ping),
# bit 2 FIN, bits 3-4 the encoder (header, frame, frame_into, message); flags bit 0 server
# sends, bit 1 permessage-deflate, bits 2-3 no context takeover, the rest the read split.
def op(opcode, fin, enc, payload):
    return bytes([opcode | (4 if fin else 0) | (enc << 3), len(payload)]) + payload
w('frame', 'roundtrip', 'text-hello-each-encoder', bytes([0x00]) + b''.join(op(1, True, e, b'Hello') for e in range(4)))
w('frame', 'roundtrip', 'fragmented-binary-with-ping', bytes([0x05]) + op(2, False, 1, b'abc') + op(3, True, 0, b'ping') + op(0, True, 2, b'de'))
w('frame', 'roundtrip', 'server-to-client-binary-200', bytes([0x01]) + op(2, True, 1, bytes(range(200))))
w('frame', 'roundtrip', 'non-ascii-text', bytes([0x08]) + op(1, True, 3, 'héllo € 🚂'.encode()))
w('frame', 'roundtrip', 'deflate-repeated-text', bytes([0x02]) + op(1, True, 3, b'Hello Hello Hello Hello ' * 4) + op(1, True, 3, b'Hello Hello Hello Hello ' * 4))
w('frame', 'roundtrip', 'deflate-no-context-takeover-server', bytes([0x0f]) + op(2, True, 3, bytes(100)) + op(1, False, 1, b'abc') + op(0, True, 1, b'abc'))

# frame/deflate: [selector, ...]; even selector: inflate [limit/64, cut step, payload];
# odd: round trip [window bits, messages separated by 0xff] under config(selector >> 1).
w('frame', 'deflate', 'rfc7692-7.2.3.1-hello', bytes([0x00, 0x01, 0x03, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]))
w('frame', 'deflate', 'rfc7692-7.2.3.3-no-compression-block', bytes([0x00, 0x01, 0x02, 0x00, 0x05, 0x00, 0xfa, 0xff]) + b'Hello' + bytes([0x00]))
w('frame', 'deflate', 'rfc7692-7.2.3.4-bfinal-set', bytes([0x00, 0x01, 0x01, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]))
bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
bomb_data = bomb.compress(bytes(100000)) + bomb.flush(zlib.Z_SYNC_FLUSH)
w('frame', 'deflate', 'output-past-limit', bytes([0x00, 0x02, 0x10]) + bomb_data[:-4])
w('frame', 'deflate', 'corrupt-block-type', bytes([0x00, 0x04, 0x05, 0xff, 0xff, 0xff, 0x00, 0x12]))
w('frame', 'deflate', 'roundtrip-takeover-three-messages', bytes([0x01, 0x77]) + b'Hello\xffHello\xffworld')
w('frame', 'deflate', 'roundtrip-no-context-takeover-min-window', bytes([0x07 | 0x80, 0x00]) + b'abcabcabcabcabcabc\xff\xff' + bytes(300))

# server/head: [flags, seed, bytes]; flags bits 0-1 --deflate (0 off, 2 takeover, else on),
# bit 2 origin allow list (http://example.com), bit 3 subprotocols chat, superchat, bits 4-7 a
# head size limit of 64 << n when non-zero; seed: reads of up to seed % 32 + 1 bytes (0: one byte
# per read). Routes: /vnc is bridge:127.0.0.1:5901, /chat and /broadcast broadcast, others echo.
deflate_offer = 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits'
w('server', 'head', 'rfc6455-1.3-opening-handshake-one-byte-reads', '\x0d\x00' + req(rfc))
w('server', 'head', 'deflate-offer-takeover', '\x02\x07' + req(rfc[:-1] + [deflate_offer, 'Sec-WebSocket-Version: 13']))
w('server', 'head', 'deflate-offer-off', '\x00\x1f' + req(rfc[:-1] + [deflate_offer, 'Sec-WebSocket-Version: 13']))
w('server', 'head', 'origin-not-allowed-403', '\x05\x03' + req([l if not l.startswith('Origin') else 'Origin: http://evil.example' for l in rfc]))
w('server', 'head', 'bridge-upgrade-tcp-with-bytes', '\x01\x05' + req(['GET /vnc HTTP/1.1', 'Host: h',
    'Connection: keep-alive, Upgrade', 'Upgrade: tcp, websocket'], 'RFB 003.008\n'))
w('server', 'head', 'tcp-on-echo-route-is-plain', '\x01\x09' + req(['GET /echo HTTP/1.1', 'Host: h',
    'Connection: Upgrade', 'Upgrade: tcp'], req(['GET /healthz HTTP/1.1', 'Host: h'])))
w('server', 'head', 'bridge-websocket-first-frame', '\x01\x11' + req(['GET /vnc?x=1 HTTP/1.1'] + rfc[1:], '\x82\x83\x01\x02\x03\x04abc'))
w('server', 'head', 'pipelined-plain-get-head-post-metrics', '\x01\x0b' + req(['GET / HTTP/1.1', 'Host: h'],
    req(['HEAD /healthz HTTP/1.1', 'Host: h'], req(['POST /healthz HTTP/1.1', 'Host: h'],
    req(['GET /metrics HTTP/1.0', 'Connection: keep-alive'], req(['GET /nope HTTP/1.1', 'Connection: close']))))))
w('server', 'head', 'plain-post-with-body-closes', '\x01\x02' + req(['POST /x HTTP/1.1', 'Host: h', 'Content-Length: 4'], 'abcdGET / HTTP/1.1\r\n\r\n'))
w('server', 'head', 'head-too-large-431', '\x11\x00' + 'GET /' + 'a' * 200 + ' HTTP/1.1\r\nHost: h\r\n\r\n')
w('server', 'head', 'subprotocol-chosen', '\x09\x0f' + req(rfc))
w('server', 'head', 'bad-version-426-after-keep-alive', '\x01\x13' + req(['GET /healthz HTTP/1.1', 'Host: h'], req(rfc[:-1] + ['Sec-WebSocket-Version: 8'])))
w('server', 'head', 'garbage-400', '\x01\x04' + 'GET\x00/ HTTP/1.1\r\n\r\n')
w('server', 'head', 'truncated-head-kept', '\x01\x01' + 'GET /chat HTTP/1.1\r\nHost: server.exa')

# frame/memory_limit: [flags, seed, limit (u16 LE; x16 when flags bit 0), stream]; server role
# (masked client frames); flags bits 1-3 and the seed as in decode.
def masked(first, payload, key=b'\x37\xfa\x21\x3d'):
    n = len(payload)
    head = bytes([first, 0x80 | n]) if n < 126 else bytes([first, 0xfe]) + n.to_bytes(2, 'big')
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
def lim(flags, seed, limit):
    return bytes([flags, seed]) + limit.to_bytes(2, 'little')
w('frame', 'memory_limit', 'rfc6455-5.7-masked-hello-limit-3-split', lim(0x00, 0x02, 3) + hello_masked)
w('frame', 'memory_limit', 'fragmented-over-limit-1009', lim(0x00, 0x05, 6) + masked(0x01, b'Hel') + masked(0x00, b'lo, ') + masked(0x80, b'world'))
w('frame', 'memory_limit', 'fragmented-at-limit-with-ping', lim(0x00, 0x11, 7) + masked(0x02, b'abc') + masked(0x89, b'ping') + masked(0x80, b'defg'))
w('frame', 'memory_limit', 'control-frames-limit-0', lim(0x00, 0x00, 0) + masked(0x89, b'p' * 125) + masked(0x88, b'\x03\xe8bye'))
w('frame', 'memory_limit', 'rfc7692-compressed-hello-limit-2', lim(0x08, 0x03, 2) + masked(0xc1, bytes([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00])))
w('frame', 'memory_limit', 'deflate-bomb-limit-1600', lim(0x09, 0x1f, 100) + masked(0xc2, bomb_data[:200]) + masked(0x80, bomb_data[200:-4]))
w('frame', 'memory_limit', 'long-binary-split-limit-256', lim(0x00, 0x1d, 256) + masked(0x82, bytes(range(256)) + bytes(44)))

# server/chunked: max byte (x4), split seed, then a chunked body as a client sends it.
w('server', 'chunked', 'rfc9112-7.1-chunks-ext-trailer', '\x40\x03' + '4\r\nWiki\r\n5;name=value\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n')
w('server', 'chunked', 'pipelined-after', '\x10\x00' + '3\r\nabc\r\n0\r\n\r\nPOST / HTTP/1.1\r\n\r\n')
w('server', 'chunked', 'too-large-chunk', '\x01\x05' + '10\r\n' + 'x' * 16 + '\r\n0\r\n\r\n')
w('server', 'chunked', 'bare-lf', '\x40\x01' + '3\nabc\n0\n\n')
w('server', 'chunked', 'size-overflow', '\xff\x02' + 'ffffffffffffffffff\r\n')
w('server', 'chunked', 'long-extension', '\x40\x0f' + '1;' + 'e' * 200 + '\r\nx\r\n0\r\n\r\n')

# server/cluster_wire: max byte (x16), then a Redis payload (also tried as a channel and a frame).
w('server', 'cluster_wire', 'text-hello', '\x10' + '\x01\x01nodeid01hello')
w('server', 'cluster_wire', 'binary', '\x10' + '\x01\x02nodeid01\x00\xff\x10')
w('server', 'cluster_wire', 'text-not-utf8', '\x10' + '\x01\x01nodeid01\xff\xfe')
w('server', 'cluster_wire', 'unknown-version', '\x10' + '\x02\x01nodeid01x')
w('server', 'cluster_wire', 'short', '\x10' + '\x01\x01node')
w('server', 'cluster_wire', 'channel', '\x10' + 'switchyard:/rooms/a')
w('server', 'cluster_wire', 'frame-126', '\x10' + '\x82\x7e\x00\x80' + 'z' * 128)
w('server', 'cluster_wire', 'frame-127-long-form', '\x10' + '\x81\x7f' + '\x00' * 7 + '\x02' + 'hi')

# server/tls: mode (bit 0 a real client, bit 1 flip a byte), cut seed, flip position and mask,
# then the bytes (mode 0) or the client's plaintext (mode 1).
w('server', 'tls', 'client-upgrade-request', '\x01\x05\x00\x00' + req(['GET /chat HTTP/1.1', 'Host: x']))
w('server', 'tls', 'client-one-byte-reads', '\x01\x00\x00\x00' + 'hello, world')
w('server', 'tls', 'client-flipped-record', '\x03\x07\x80\x01' + 'x' * 300)
w('server', 'tls', 'client-flipped-header', '\x03\x07\x00\x10' + 'y' * 40)
w('server', 'tls', 'garbage-hello-prefix', '\x00\x10\x00\x00' + '\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00')
w('server', 'tls', 'plain-http', '\x00\x00\x00\x00' + 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
w('server', 'tls', 'huge-record-length', '\x00\x03\x00\x00' + '\x17\x03\x03\xff\xff' + 'z' * 64)
