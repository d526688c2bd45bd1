"""Thin, fast frame I/O on pyzmq sockets for the RPC and stream hot paths.

pyzmq's ``send_multipart``/``recv_multipart`` run several Python-level checks
per frame (about 8 us for a 5-frame request), and even ``Socket.send`` adds
about 0.7 us per frame in Python; calling the Cython backend's ``send`` /
``recv`` directly costs about 0.7 us per frame in all. :data:`send` is that
backend method: ``send(socket, data, flags, copy)``; :data:`recv` likewise,
``recv(socket, flags, copy)``.
"""

from __future__ import annotations

from typing import Literal, Protocol, cast, overload

import zmq

try:  # the Cython backend class that zmq.Socket derives from
    from zmq.backend import Socket as _Backend

    _send = _Backend.send
    _recv = _Backend.recv
    _get = _Backend.get
except Exception:  # pragma: no cover - other backends: fall back to the public API
    _send = zmq.Socket.send  # type: ignore[assignment]  # the same call, typed by pyzmq's sugar class
    _recv = zmq.Socket.recv
    _get = zmq.Socket.getsockopt

# plain ints: the IntFlag members cost an enum __or__ per frame
SNDMORE = int(zmq.SNDMORE)
RCVMORE = int(zmq.RCVMORE)
NOBLOCK = int(zmq.NOBLOCK)


class FrameBuffer(Protocol):
    """A frame received with ``copy=False`` as lslacq reads it (a ``zmq.Frame``).

    A buffer (``len``, ``bytes()``, numpy and struct read it without a copy)
    with ``more`` (another frame of the message follows). pyzmq's type stubs
    do not declare the buffer protocol that its Frame implements, so
    :data:`recv` is typed with this.
    """

    more: bool

    def __buffer__(self, flags: int, /) -> memoryview: ...

    def __len__(self) -> int: ...


class _Recv(Protocol):
    @overload
    def __call__(self, socket: zmq.Socket, flags: int, copy: Literal[False], /) -> FrameBuffer: ...

    @overload
    def __call__(self, socket: zmq.Socket, flags: int = 0, copy: Literal[True] = True, /) -> bytes: ...


class _GetInt(Protocol):
    def __call__(self, socket: zmq.Socket, option: int, /) -> int: ...


send = _send
#: ``recv(socket, flags, copy)``: bytes, or with ``copy=False`` a :class:`FrameBuffer`
recv = cast(_Recv, _recv)  # (at import: the hot paths call recv itself)
#: ``get_int(socket, option)``: the value of an int option (pyzmq types every option ``int | bytes``)
get_int = cast(_GetInt, _get)

__all__ = [
    "send",
    "recv",
    "get_int",
    "FrameBuffer",
    "send_frames",
    "recv_frames",
    "send_request",
    "send_reply",
    "recv_one",
]


def send_frames(sock: zmq.Socket, frames, flags: int = 0) -> None:
    """Send a list of bytes frames as one multipart message."""
    last = len(frames) - 1
    for i, frame in enumerate(frames):
        _send(sock, frame, (flags | SNDMORE) if i < last else flags)


def send_request(sock, a: bytes, b: bytes, c: bytes, d: bytes, e: bytes) -> None:
    """Send the five frames of an RPC request."""
    _send(sock, a, SNDMORE)
    _send(sock, b, SNDMORE)
    _send(sock, c, SNDMORE)
    _send(sock, d, SNDMORE)
    _send(sock, e, 0)


def send_reply(sock, caller: bytes, data: bytes, flags: int = 0) -> None:
    """Send ``[caller, data]`` on a ROUTER socket."""
    _send(sock, caller, SNDMORE | flags)
    _send(sock, data, flags)


def recv_frames(sock: zmq.Socket, flags: int = 0) -> list:
    """Receive every frame of one multipart message (raises zmq.Again per ``flags``/RCVTIMEO).

    Frames are received as zmq.Frame objects because ``frame.more`` is cheaper
    than a getsockopt(RCVMORE) call per frame.
    """
    frame = _recv(sock, flags, False)
    frames = [frame.bytes]
    while frame.more:
        frame = _recv(sock, 0, False)
        frames.append(frame.bytes)
    return frames


def recv_one(sock: zmq.Socket, flags: int = 0) -> bytes:
    """Receive a single-frame message."""
    return _recv(sock, flags)
