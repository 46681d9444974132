"""Fixtures: the switchyard server under test.

SWITCHYARD_URL (ws://host:port, set by interop/python/run) names a running server for the tests
that share one; tests that need their own instance (other flags, shutdown) start one from
SWITCHYARD_BIN. Without SWITCHYARD_URL, a shared instance is started from SWITCHYARD_BIN too.
Every instance gets the flags in SERVER_ARGS (e.g. --deflate) before its own.
"""
import contextlib
import os
import shlex
import socket
import subprocess
import tempfile
import time

import pytest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.05)
    return False


class Server:
    """A switchyard process on a free loopback port, with its log in a temporary file."""

    def __init__(self, *args):
        binary = os.environ.get("SWITCHYARD_BIN")
        if not binary:
            pytest.fail("SWITCHYARD_BIN is not set: interop/python/run sets it")
        self.log = tempfile.NamedTemporaryFile(prefix="switchyard-py-", suffix=".log", delete=False)
        for _attempt in range(3):
            self.port = free_port()
            self.proc = subprocess.Popen(
                [binary, "--listen", "127.0.0.1:%d" % self.port,
                 *shlex.split(os.environ.get("SERVER_ARGS", "")), *args],
                stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if wait_for_port(self.port, self.proc):
                self.url = "ws://127.0.0.1:%d" % self.port
                return
            self.stop()
        pytest.fail("switchyard %s did not start; log:\n%s" % (" ".join(args), self.log_text()))

    def log_text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()[-4000:]

    def stop(self, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def spawn_server():
    """Starts dedicated servers with extra flags; stops them after the test."""
    started = []

    def spawn(*args):
        server = Server(*args)
        started.append(server)
        return server

    yield spawn
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def url():
    """ws:// base URL of the shared server (no trailing slash)."""
    if os.environ.get("SWITCHYARD_URL"):
        yield os.environ["SWITCHYARD_URL"].rstrip("/")
        return
    server = Server()
    yield server.url
    server.stop()
