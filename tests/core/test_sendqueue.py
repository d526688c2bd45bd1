"""SendQueue on a real socket pair: order, partial writes, limits, stalls, dead peers."""

from __future__ import annotations

import socket

import pytest

from lslacq.core.sendqueue import SendQueue


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.settimeout(5)
    yield a, b
    a.close()
    b.close()


def read_exactly(sock: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        assert chunk, "peer closed early"
        out += chunk
    return bytes(out)


def test_messages_arrive_in_order(pair):
    a, b = pair
    queue = SendQueue()
    messages = [bytes([i]) * (i + 1) for i in range(20)]
    for m in messages:
        assert queue.put(m)
    assert queue.queued == sum(map(len, messages))
    assert queue.flush(a) == sum(map(len, messages))
    assert not queue and queue.stalled_for() == 0.0
    assert read_exactly(b, sum(map(len, messages))) == b"".join(messages)


def test_a_client_that_does_not_read_keeps_the_rest_waiting(pair):
    a, b = pair
    queue = SendQueue()
    payload = bytes(range(256)) * 40_000  # 10 MB: more than the kernel buffers take
    queue.put(payload)
    first = queue.flush(a)
    assert 0 < first < len(payload) and queue.queued == len(payload) - first
    assert queue.stalled_for() >= 0.0
    received = bytearray(read_exactly(b, first))
    while queue:  # the client reads again: the rest follows, nothing lost or reordered
        queue.flush(a)
        received += b.recv(1 << 20)
    received += read_exactly(b, len(payload) - len(received))
    assert bytes(received) == payload


def test_max_bytes_refuses_whole_messages():
    queue = SendQueue(max_bytes=10)
    assert queue.put(b"12345678")
    assert not queue.put(b"abc")  # 11 > 10: refused, nothing queued
    assert queue.queued == 8
    queue.clear()
    assert not queue and queue.put(b"abcdefghij")


def test_piece_size_writes_fragments(pair):
    a, b = pair
    queue = SendQueue()
    queue.put(b"x" * 100)
    sizes = []

    class Recorder:
        def send(self, view):
            sizes.append(len(view))
            return a.send(view)

    queue.flush(Recorder(), piece_size=lambda: 7)
    assert sum(sizes) == 100 and max(sizes) == 7
    assert read_exactly(b, 100) == b"x" * 100


def test_dead_peer_raises_and_keeps_the_data(pair):
    a, b = pair
    b.close()
    queue = SendQueue()
    queue.put(b"hello")
    with pytest.raises(ConnectionError):  # BrokenPipeError or ConnectionResetError
        queue.flush(a)
    assert queue.queued == 5
