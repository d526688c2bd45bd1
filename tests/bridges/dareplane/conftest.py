"""Fixtures for the dareplane bridge tests.

Our server in a thread, a control-room-like client, and dareplane-utils' own server/log peers in subprocesses (dareplane
reconfigures the root logger on import, so its code never runs inside the test process).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

PEERS = Path(__file__).parent / "peers"


class DpClient:
    """A client that talks to a module server the way dareplane's control room does."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0, read_banner: bool = True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.banner = self.recv_until(b"\n") if read_banner else b""

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def recv_until(self, suffix: bytes, timeout: float | None = None) -> bytes:
        """Read until the received bytes end with ``suffix`` (or raise TimeoutError)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        data = b""
        while not data.endswith(suffix):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"waited for {suffix!r}, got {data!r}")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"server closed the connection; got {data!r} while waiting for {suffix!r}")
            data += chunk
        return data

    def probe(self, data: bytes | str = b"", n_up: int = 0) -> bytes:
        """Send ``data`` then ``UP;`` and return everything received before the probe's ``1``.

        ``n_up`` is the number of ``1`` replies that ``data`` itself produces.
        """
        self.send((data.encode() if isinstance(data, str) else data) + b"UP;")
        got = b""
        while got.count(b"1") < n_up + 1:
            got += self.recv_until(b"1")
        return got[:-1]

    def up(self) -> bool:
        return self.probe() == b""

    def wait_closed(self, timeout: float | None = None) -> bytes:
        """Read until the server closes the connection; return what arrived meanwhile."""
        deadline = time.monotonic() + (timeout or self.timeout)
        data = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"server did not close the connection; got {data!r}")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def serve():
    """Start lslacq DefaultServers in threads; shut them all down after the test."""
    from lslacq_dareplane import DefaultServer

    servers = []

    def _serve(pcommand_map=None, **kwargs):
        kwargs.setdefault("port", 0)
        kwargs.setdefault("name", "lslacq_test_module")
        server = DefaultServer(pcommand_map=pcommand_map, **kwargs)
        server.start_in_thread()
        servers.append(server)
        return server

    yield _serve
    for server in servers:
        server.shutdown()
    for server in servers:
        assert server.error is None, f"{server!r} failed: {server.error!r}"


@pytest.fixture
def client_factory():
    clients = []

    def _client(port, **kwargs):
        c = DpClient(port, **kwargs)
        clients.append(c)
        return c

    yield _client
    for c in clients:
        c.close()


def _python_env() -> dict:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Peer:
    """A dareplane-utils peer script running in a subprocess."""

    def __init__(self, script: str, *args: str, cwd=None):
        self.proc = subprocess.Popen(
            [sys.executable, str(PEERS / script), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_python_env(),
            cwd=cwd,
        )
        line = self.proc.stdout.readline()  # the peer prints "PORT <n>" when listening
        if not line.startswith("PORT "):
            self.proc.kill()
            out, err = self.proc.communicate(timeout=10)
            raise RuntimeError(f"peer {script} failed to start: {line!r} {out!r} {err!r}")
        self.port = int(line.split()[1])

    def stop(self, timeout: float = 15.0) -> tuple[str, str]:
        if self.proc.poll() is None:
            try:
                return self.proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        out, err = self.proc.communicate(timeout=timeout)
        return out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)


@pytest.fixture
def peer():
    """Start dareplane-utils peer scripts (tests/bridges/dareplane/peers) in subprocesses."""
    peers = []

    def _peer(script, *args, **kwargs):
        p = Peer(script, *args, **kwargs)
        peers.append(p)
        return p

    yield _peer
    for p in peers:
        p.kill()
