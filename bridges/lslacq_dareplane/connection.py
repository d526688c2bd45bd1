"""Per-client state of the module server and the socket-like writer dareplane modules use.

Internal to :mod:`lslacq_dareplane.server`, except :class:`ConnectionProxy`
(what ``server.current_conn`` returns).
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from lslacq.core.sendqueue import SendQueue

from .protocol import CommandSplitter

if TYPE_CHECKING:
    import socket

    from .server import DefaultServer

__all__ = ["ConnectionProxy"]


class _WakingDeque(collections.deque):
    """A deque that wakes the server loop whenever something is appended."""

    def __init__(self, wake: Callable[[], None]):
        super().__init__()
        self._wake = wake

    def append(self, item):
        super().append(item)
        self._wake()

    def extend(self, items):
        super().extend(items)
        self._wake()


class _Connection:
    """One accepted client: its socket, framing state and output buffer."""

    _ids = itertools.count(1)

    def __init__(self, sock: "socket.socket", peer, delimiter: bytes, max_command_bytes: int, max_output_bytes: int):
        self.id = next(self._ids)
        self.sock = sock
        self.peer = peer
        self.splitter = CommandSplitter(delimiter, max_command_bytes)
        self.lock = threading.Lock()
        self.out = SendQueue(max_output_bytes)  # replies not yet written
        self.pending = 0  # commands queued for the worker
        self.eof = False  # the client closed its sending side
        self.broken = False  # close as soon as possible, dropping output
        self.closed = False
        self.events = 0  # selector interest currently registered
        self.last_rx = 0.0  # monotonic time of the last received bytes

    def __repr__(self) -> str:
        return f"<connection {self.id} from {self.peer[0]}:{self.peer[1]}>"


class ConnectionProxy:
    """What ``server.current_conn`` returns: a socket-like writer to the control room.

    dareplane modules send callbacks with ``server.current_conn.sendall(b"...")``;
    the proxy queues the bytes on the server's output path (thread-safe, never
    blocking the caller) instead of writing to the socket from another thread.
    Other attributes are those of the underlying socket.
    """

    def __init__(self, server: DefaultServer, conn: _Connection):
        self._server = server
        self._conn = conn

    def sendall(self, data: bytes) -> None:
        if isinstance(data, str):
            data = data.encode()
        if not self._server._write(self._conn, bytes(data)):
            raise BrokenPipeError(f"{self._conn!r} of {self._server.name!r} is closed")

    send = sendall

    def __getattr__(self, name):
        return getattr(self._conn.sock, name)

    def __repr__(self) -> str:
        return f"<ConnectionProxy {self._conn!r}>"


class _DummyConn(_Connection):
    """Placeholder connection for worker queue items that come from no client."""

    def __init__(self):
        self.id = 0
        self.lock = threading.Lock()
        self.pending = 0
        self.closed = True
        self.broken = False
        self.out = SendQueue()


DUMMY = _DummyConn()
