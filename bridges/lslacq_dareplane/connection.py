"""Per-client state of the module server and the socket-like writer dareplane modules use.

Internal to :mod:`lslacq_dareplane.server`, except :class:`ConnectionProxy`
(what ``server.current_conn`` returns).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from lslacq.core.sendqueue import SendQueue
from lslacq.core.tcp import Connection

from .protocol import CommandSplitter

if TYPE_CHECKING:
    import socket

    from .server import DefaultServer

__all__ = ["CommandConnection", "ConnectionProxy", "WakingDeque"]


class WakingDeque(collections.deque):
    """A deque that wakes the server loop whenever something is appended."""

    def __init__(self, wake: Callable[[], None]):
        super().__init__()
        self._wake = wake

    def append(self, item):
        """Append ``item`` and wake the server loop."""
        super().append(item)
        self._wake()

    def extend(self, items):
        """Append every item of ``items`` and wake the server loop once."""
        super().extend(items)
        self._wake()


class CommandConnection(Connection):
    """One accepted client: a TCP connection plus its command framing and the commands it has queued."""

    def __init__(self, sock: socket.socket, peer, delimiter: bytes, max_command_bytes: int, max_output_bytes: int):
        super().__init__(sock, peer, max_output_bytes)
        self.splitter = CommandSplitter(delimiter, max_command_bytes)
        self.pending = 0  # commands queued for the worker


class ConnectionProxy:
    """What ``server.current_conn`` returns: a socket-like writer to the control room.

    dareplane modules send callbacks with ``server.current_conn.sendall(b"...")``;
    the proxy queues the bytes on the server's output path (thread-safe, never
    blocking the caller) instead of writing to the socket from another thread.
    Other attributes are those of the underlying socket.
    """

    def __init__(self, server: DefaultServer, conn: CommandConnection):
        self._server = server
        self._conn = conn

    def sendall(self, data: bytes) -> None:
        """Queue ``data`` for the client (a str is UTF-8 encoded); never blocks.

        Parameters
        ----------
        data : bytes or str
            What to send, as the module would pass it to ``socket.sendall``.

        Raises
        ------
        BrokenPipeError
            If the connection is closed.
        """
        if isinstance(data, str):
            data = data.encode()
        if not self._server.send(self._conn, bytes(data)):
            raise BrokenPipeError(f"{self._conn!r} of {self._server.name!r} is closed")

    send = sendall

    def __getattr__(self, name):
        return getattr(self._conn.sock, name)

    def __repr__(self) -> str:
        return f"<ConnectionProxy {self._conn!r}>"


class _DummyConn(CommandConnection):
    """Placeholder connection for worker queue items that come from no client."""

    def __init__(self):
        self.id = 0
        self.lock = threading.Lock()
        self.pending = 0
        self.closed = True
        self.broken = False
        self.out = SendQueue()


DUMMY = _DummyConn()
