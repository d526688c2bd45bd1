"""The server survives hostile input: random bytes, huge lines, non-UTF-8, resets and half-closed sockets."""

from __future__ import annotations

import random
import socket
import struct

import pytest
from conftest import DpClient


def _rst_close(sock: socket.socket) -> None:
    """Close with a TCP reset instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.slow
def test_random_bytes_never_kill_the_server(serve):
    calls = []
    server = serve({"GO": lambda **kw: calls.append(kw) or 0})
    rng = random.Random(1234)
    monitor = DpClient(server.port)
    try:
        for i in range(60):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                n = rng.choice([1, 10, 100, 4096, 70000])
                alphabet = [rng.randrange(256) for _ in range(16)] + list(b';|{}\n\r"\\:')
                payload = bytes(rng.choice(alphabet) if rng.random() < 0.5 else rng.randrange(256) for _ in range(n))
                s.sendall(payload)
                # then a valid command on the same connection, after a terminator
                s.sendall(b"\nUP;")
                data = b""
                s.settimeout(10)
                while not data.endswith(b"1"):
                    chunk = s.recv(65536)
                    assert chunk, f"server dropped the connection after {payload[:50]!r}"
                    data += chunk
                if i % 3 == 0:
                    _rst_close(s)
            assert monitor.up()
    finally:
        monitor.close()
    assert server.is_listening and server.error is None


def test_huge_line_is_discarded_with_one_error_and_the_connection_resyncs(serve, client_factory):
    server = serve({"GO": lambda: 0}, max_command_bytes=64 * 1024)
    c = client_factory(server.port)
    c.send(b"GO|" + b"x" * (1 << 20))  # 1 MiB without a terminator
    err = c.recv_until(b"\n")
    assert err.startswith(b"ERROR command longer than 65536 bytes")
    c.send(b"tail of the huge line;")
    assert c.probe() == b""  # nothing more was reported for the discarded line
    assert server.wait_idle(10)


def test_non_utf8_gets_an_error_and_next_command_works(serve, client_factory):
    server = serve({"GO": lambda: 0})
    c = client_factory(server.port)
    reply = c.probe(b"\xff\xfe\xfdGO;")
    assert reply.startswith(b"ERROR command is not valid UTF-8")
    reply.decode("ascii")
    assert c.probe(b"GO;") == b""


def test_half_closed_and_reset_sockets_leave_no_connection_behind(serve):
    server = serve({})
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        if i % 2:
            s.shutdown(socket.SHUT_WR)
            assert s.recv(100).startswith(b"Connected to")
            s.close()
        else:
            _rst_close(s)
    with DpClient(server.port) as c:
        for _ in range(200):  # the server notices the closed clients asynchronously
            assert c.up()
            if server.n_clients == 1:
                break
        assert server.n_clients == 1


def test_client_that_never_reads_is_disconnected_not_buffered_forever(serve):
    server = serve({}, max_output_bytes=256 * 1024)
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sent_ok = True
        for _ in range(20000):  # GET_PCOMMS replies pile up while the client reads nothing
            try:
                s.sendall(b"GET_PCOMMS;" * 50)
            except OSError:
                sent_ok = False
                break
            if server.n_clients == 0:
                break
        assert server.n_clients == 0 or not sent_ok
    finally:
        s.close()
    with DpClient(server.port) as c:
        assert c.up()
