"""Interop tests of the switchyard server with the Python `websockets` client (a peer nobody here
wrote). Routes: /broadcast broadcasts, every other path echoes."""
import contextlib
import os
import signal
import ssl
import time
import urllib.request
import zlib

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from rawws import RawClient

MiB = 1 << 20
# Autobahn's largest message is 16 MiB, and the server's defaults must let it through.
BIG = 16 * MiB
TIMEOUT = 10


# With SWITCHYARD_CA (interop/python/run with SWITCHYARD_TLS=1) the shared server's URL is
# wss://: every client trusts that CA (and only it), so the certificate is checked for real.
CA = os.environ.get("SWITCHYARD_CA")


class TicketFirstContext(ssl.SSLContext):
    """A client context whose sockets take in the server's TLS 1.3 session ticket right after
    the handshake, before `websockets` uses them.

    The `websockets` sync client reads its socket in a background thread while the main thread
    writes the upgrade request, and Python's SSL sockets are not safe for a read and a write at
    once (OpenSSL's SSL object is shared; see python-socketio issue 1568, CPython issue 137583):
    when the ticket arrives during that write, the request sometimes never reaches the wire.
    Seen here about once in ten runs of this file over wss:// on a loaded machine: the server
    got the client's Finished and then nothing (no byte queued on either socket) until its
    head timeout answered 408 ten seconds later. Taking the ticket in first removes the race
    from the client; the server sends it whatever the client does, so nothing is hidden."""

    def wrap_socket(self, sock, *args, **kw):
        tls = super().wrap_socket(sock, *args, **kw)
        timeout = tls.gettimeout()
        deadline = time.monotonic() + 2
        tls.settimeout(0.02)
        try:
            while time.monotonic() < deadline and not (tls.session and tls.session.has_ticket):
                try:
                    got = tls.recv(1)
                except (TimeoutError, ssl.SSLWantReadError):
                    continue
                # The server speaks only after the request: data here would be a server bug.
                assert not got, f"the server sent {got!r} before any request"
                break
        finally:
            tls.settimeout(timeout)
        return tls


SSL = None
if CA:
    SSL = TicketFirstContext(ssl.PROTOCOL_TLS_CLIENT)
    SSL.load_verify_locations(cafile=CA)


def tls_for(url):
    """The SSL context for `url`: the test CA's for wss://, none for ws://."""
    return SSL if url.startswith("wss://") else None


def urlopen(url, **kw):
    """urllib's urlopen, trusting the test CA for https://."""
    if url.startswith("https://"):
        kw["context"] = SSL
    return urllib.request.urlopen(url, **kw)


def raw_client(url, path, **kw):
    """A RawClient to the server at `url`, over TLS for wss://."""
    return RawClient(int(url.rsplit(":", 1)[1]), path, ssl_context=tls_for(url), **kw)


def open_ws(url, path="/echo", **kw):
    if tls_for(url):
        kw.setdefault("ssl", tls_for(url))
    kw.setdefault("max_size", BIG + MiB)
    kw.setdefault("open_timeout", TIMEOUT)
    kw.setdefault("close_timeout", TIMEOUT)
    return connect(url + path, **kw)


def recv_until(ws, expected, ignore=(), timeout=TIMEOUT):
    """Receives until `expected` arrives; messages in `ignore` (a sender's own broadcast coming
    back) are skipped, anything else fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail("no message %r within %d s" % (expected[:60], timeout))
        try:
            got = ws.recv(timeout=left)
        except TimeoutError:
            pytest.fail("no message %r within %d s" % (expected[:60], timeout))
        if got == expected:
            return
        assert got in ignore, "unexpected message %r while waiting for %r" % (got[:60], expected[:60])


def require_deflate(answer):
    """Goes on if the server's Sec-WebSocket-Extensions answer took permessage-deflate. Otherwise
    fails when SWITCHYARD_EXPECT_DEFLATE=1 (the stage starts the server with --deflate), else skips
    with the reason: a server without --deflate declines by design."""
    if answer and "permessage-deflate" in answer:
        return
    why = "the server declined permessage-deflate (answer: %r; server flags: %r)" % (
        answer, os.environ.get("SERVER_ARGS", ""))
    if os.environ.get("SWITCHYARD_EXPECT_DEFLATE") == "1":
        pytest.fail(why + " although SWITCHYARD_EXPECT_DEFLATE=1")
    pytest.skip("EXPECTED SKIP without --deflate: " + why)


def close_code_received(ws):
    return ws.protocol.close_rcvd.code if ws.protocol.close_rcvd else None


@pytest.mark.parametrize("text", ["hello", "", "h\u00e9llo \u4e16\u754c \U0001f600"])
def test_echo_text(url, text):
    with open_ws(url) as ws:
        ws.send(text)
        assert ws.recv(timeout=TIMEOUT) == text


def test_echo_binary(url):
    data = bytes(range(256)) * 4
    with open_ws(url) as ws:
        ws.send(data)
        got = ws.recv(timeout=TIMEOUT)
        assert isinstance(got, bytes) and got == data


def test_every_path_but_broadcast_echoes(url):
    for path in ["/", "/anything", "/a/b?c=d"]:
        with open_ws(url, path) as ws:
            ws.send(path)
            assert ws.recv(timeout=TIMEOUT) == path


def test_large_binary_message_16_mib(url):
    data = os.urandom(BIG)
    with open_ws(url) as ws:
        ws.send(data)
        assert ws.recv(timeout=60) == data


def test_large_text_message(url):
    text = ("switchyard \u00e9\u4e16 " * 70000)[: 2 * MiB]
    with open_ws(url) as ws:
        ws.send(text)
        assert ws.recv(timeout=60) == text


def test_fragmented_message_is_echoed_whole(url):
    fragments = ["frag%03d-" % i for i in range(100)]
    with open_ws(url) as ws:
        ws.send(iter(fragments))
        assert ws.recv(timeout=TIMEOUT) == "".join(fragments)


def test_many_pipelined_messages_keep_order(url):
    with open_ws(url) as ws:
        for i in range(2000):
            ws.send("m%d" % i)
        for i in range(2000):
            assert ws.recv(timeout=TIMEOUT) == "m%d" % i


def test_ping_gets_pong_with_same_payload(url):
    with open_ws(url) as ws:
        # websockets matches the pong's payload to the ping's before it sets the event.
        pong = ws.ping(b"switchyard-ping")
        assert pong.wait(TIMEOUT), "no pong within %d s" % TIMEOUT
        ws.send("still open")
        assert ws.recv(timeout=TIMEOUT) == "still open"


def test_subprotocol_offer_nobody_accepts_still_connects(url):
    with open_ws(url, subprotocols=["x-not-configured"]) as ws:
        assert ws.subprotocol is None
        ws.send("x")
        assert ws.recv(timeout=TIMEOUT) == "x"


def test_subprotocol_configured_is_selected(spawn_server):
    server = spawn_server("--subprotocol", "switchyard.test")
    with open_ws(server.url, subprotocols=["x-unknown", "switchyard.test"]) as ws:
        assert ws.subprotocol == "switchyard.test"
        ws.send("sub")
        assert ws.recv(timeout=TIMEOUT) == "sub"


@pytest.mark.parametrize("code", [1000, 3000, 4999])
def test_close_handshake_with_code(url, code):
    with open_ws(url) as ws:
        ws.close(code, "bye")
        # RFC 6455 5.5.1: the answer typically echoes the code; 1000 is an acceptable answer too.
        assert close_code_received(ws) in (code, 1000), ws.protocol.close_rcvd


def test_protocol_error_gets_close_1002(url):
    """An unmasked client frame breaks RFC 6455 5.1: the server answers with close 1002."""
    raw = raw_client(url, "/echo")
    try:
        assert raw.status == 101
        raw.sock.sendall(b"\x81\x02hi")
        fin, rsv1, opcode, payload = raw.recv_frame()
        assert opcode == 8 and payload[:2] == b"\x03\xea", (opcode, payload)
    finally:
        raw.close()


def test_broadcast_reaches_the_other_client(url):
    with open_ws(url, "/broadcast") as a, open_ws(url, "/broadcast") as b:
        a.send("from a")
        recv_until(b, "from a")
        b.send(b"\x00from b\xff")
        recv_until(a, b"\x00from b\xff", ignore=("from a",))


def test_broadcast_does_not_leak_to_echo_clients(url):
    with open_ws(url, "/broadcast") as a, open_ws(url, "/broadcast") as b, open_ws(url) as echo:
        a.send("fan-out")
        recv_until(b, "fan-out")
        echo.send("mine")
        assert echo.recv(timeout=TIMEOUT) == "mine"
        with pytest.raises(TimeoutError):
            echo.recv(timeout=0.5)


def test_permessage_deflate_negotiated_and_round_trips(url):
    with open_ws(url, compression="deflate") as ws:
        require_deflate(ws.response.headers.get("Sec-WebSocket-Extensions"))
        text = "compress me, compress me, " * 10000
        ws.send(text)
        assert ws.recv(timeout=TIMEOUT) == text
        data = bytes(range(256)) * 1000
        ws.send(data)
        assert ws.recv(timeout=TIMEOUT) == data


def test_permessage_deflate_on_the_wire(url):
    """The answer to a compressed message is itself compressed (RSV1) and inflates to the text."""
    raw = raw_client(url, "/echo", extensions="permessage-deflate; client_max_window_bits")
    try:
        assert raw.status == 101
        require_deflate(raw.headers.get("sec-websocket-extensions"))
        text = ("wire-level deflate check " * 4000).encode()
        comp = zlib.compressobj(wbits=-15)
        body = comp.compress(text) + comp.flush(zlib.Z_SYNC_FLUSH)
        assert body.endswith(b"\x00\x00\xff\xff")
        raw.send_frame(0x1, body[:-4], rsv1=True)
        fin, rsv1, opcode, payload = raw.recv_frame()
        assert opcode == 0x1 and rsv1, "a 100 KB compressible echo came back uncompressed"
        while not fin:  # a fragmented answer: RSV1 only on the first frame (RFC 7692 6.1)
            fin, rsv1_more, cont, more = raw.recv_frame()
            assert cont == 0 and not rsv1_more
            payload += more
        assert zlib.decompressobj(wbits=-15).decompress(payload + b"\x00\x00\xff\xff") == text
    finally:
        raw.close()


def test_sigterm_closes_every_client_with_1001(spawn_server):
    server = spawn_server()
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(open_ws(server.url, p)) for p in ("/echo", "/broadcast", "/x")]
        shut_down_and_expect_1001(server, clients)


def shut_down_and_expect_1001(server, clients):
    for ws in clients:
        assert ws.ping(b"alive").wait(TIMEOUT), "no pong before shutdown"
    server.proc.send_signal(signal.SIGTERM)
    for ws in clients:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=TIMEOUT)
        assert close_code_received(ws) == 1001, ws.protocol.close_rcvd
    assert server.proc.wait(30) == 0, "exit status after SIGTERM"


def test_plain_http_page_and_healthz(url):
    http = "http" + url[2:]
    with urlopen(http + "/", timeout=TIMEOUT) as r:
        assert r.status == 200
        assert r.headers.get_content_type() == "text/html"
        body = r.read().decode()
        for element in ("echo-result", "broadcast-result", "extensions"):
            assert element in body
    with urlopen(http + "/healthz", timeout=TIMEOUT) as r:
        assert r.status == 200


def test_metrics_parse_as_prometheus_text_and_count_upgrades(url):
    """GET /metrics parses with the Prometheus client's own text parser and counts this upgrade."""
    from prometheus_client.parser import text_string_to_metric_families

    def websocket_upgrades():
        with urlopen("http" + url[2:] + "/metrics", timeout=TIMEOUT) as r:
            assert r.status == 200
            assert r.headers.get_content_type() == "text/plain"
            families = list(text_string_to_metric_families(r.read().decode()))
        assert families, "no metric families"
        return sum(s.value for f in families if "upgrade" in f.name for s in f.samples
                   if s.labels.get("protocol") == "websocket" and s.name.endswith("_total"))

    before = websocket_upgrades()
    with open_ws(url) as ws:
        ws.send("count me")
        assert ws.recv(timeout=TIMEOUT) == "count me"
    assert websocket_upgrades() >= before + 1
