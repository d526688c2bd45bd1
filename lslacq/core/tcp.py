"""The one socket event loop of lslacq's servers: a selector with a wake-up, and a TCP server on it.

- :class:`SelectLoop`: a selector plus a self-pipe, so another thread can wake
  the loop (new data to send, a stop request) without a timeout.
- :class:`TcpServer`: a listening socket and its clients on a SelectLoop:
  accept, non-blocking reads handed to :meth:`TcpServer.on_data` (the
  subclass frames them: delimiter, length prefix...), replies queued per
  client (:class:`~lslacq.core.sendqueue.SendQueue`, so a slow client delays
  nobody), write interest only while something waits, and close. Any thread
  may :meth:`~TcpServer.send`; only the loop's thread touches the sockets.

The dareplane module server, the dareplane log receiver and the RDA emulator
are TcpServers; the stream admission service and the RDA client use a
SelectLoop.
"""

from __future__ import annotations

import errno
import itertools
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from .sendqueue import SendQueue

__all__ = ["SelectLoop", "Connection", "TcpServer", "listening_socket"]

logger = logging.getLogger(__name__)

_WAKE = object()  # key.data of the wake-up socket
_RECV_BYTES = 65536


class SelectLoop:
    """A selector with a wake-up socket pair (the wake-up is drained and not returned by :meth:`select`)."""

    def __init__(self) -> None:
        self.selector: selectors.BaseSelector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, _WAKE)
        self.closed = False

    def register(self, fileobj: Any, events: int, data: Any = None) -> None:
        """Watch ``fileobj`` for ``events``; ``data`` comes back in the key."""
        self.selector.register(fileobj, events, data)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> None:
        """Change what ``fileobj`` is watched for."""
        self.selector.modify(fileobj, events, data)

    def unregister(self, fileobj: Any) -> None:
        """Stop watching ``fileobj`` (no error if it was not watched or is closed)."""
        try:
            self.selector.unregister(fileobj)
        except (KeyError, ValueError, OSError):
            pass

    def wake(self) -> None:
        """Make a :meth:`select` in another thread return now (thread-safe, never blocks)."""
        try:
            self._wake_w.send(b"\0")
        except OSError:  # already awake (buffer full), or closing
            pass

    def select(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        """Wait up to ``timeout`` s (None: until an event or a wake-up); return the events but the wake-up."""
        events = []
        for key, mask in self.selector.select(timeout):
            if key.data is _WAKE:
                try:
                    while self._wake_r.recv(4096):
                        pass
                except OSError:
                    pass
            else:
                events.append((key, mask))
        return events

    def close(self) -> None:
        """Close the selector and the wake-up pair (the caller closes its own sockets)."""
        if self.closed:
            return
        self.closed = True
        self.selector.close()
        for sock in (self._wake_r, self._wake_w):
            try:
                sock.close()
            except OSError:
                pass


def listening_socket(
    ip: str, port: int, backlog: int, what: str, in_use_hint: str = "another program already uses it; pick another port"
) -> socket.socket:
    """Return a non-blocking TCP socket listening on ``ip:port``; an OSError names ``what`` and the address if not."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        hint = f" ({in_use_hint})" if exc.errno == errno.EADDRINUSE else ""
        raise OSError(exc.errno, f"{what} cannot listen on {ip}:{port}: {exc.strerror}{hint}") from exc
    return sock


class Connection:
    """One accepted client of a :class:`TcpServer`: its socket, queued output and state flags."""

    _ids = itertools.count(1)

    def __init__(self, sock: socket.socket, peer: tuple, max_output_bytes: int | None = None):
        self.id = next(self._ids)
        self.sock = sock
        self.peer = peer
        self.lock = threading.Lock()
        self.out = SendQueue(max_output_bytes)  # bytes not yet written
        self.eof = False  # the client closed its sending side
        self.broken = False  # close as soon as possible, dropping output
        self.closed = False
        self.events = 0  # selector interest currently registered
        self.last_rx = 0.0  # monotonic time of the last received bytes

    def __repr__(self) -> str:
        return f"<connection {self.id} from {self.peer[0]}:{self.peer[1]}>"


class TcpServer:
    """A listening socket and its clients on one :class:`SelectLoop` (see the module docstring).

    Run :meth:`poll_once` in a loop, in one thread. Subclasses implement
    :meth:`on_data` and may override the other ``on_*`` hooks,
    :meth:`make_connection` (a Connection subclass with framing state) and
    :meth:`finished` (when a connection that sent EOF is closed).

    Parameters
    ----------
    name : str
        The server in log records and errors.
    log : logging.Logger, optional
        Where the server logs (default: this module's logger).
    """

    #: fault injection: ``piece_size()`` bytes at most per ``send`` call (a server writing in small fragments)
    send_piece_size: Callable[[], int] | None = None

    def __init__(self, name: str, log: logging.Logger | None = None):
        self.name = name
        self.log = log or logger
        self.server_socket: socket.socket | None = None
        self.loop: SelectLoop | None = None
        self.connections: dict[int, Connection] = {}
        self.connections_lock = threading.Lock()
        self.loop_thread: threading.Thread | None = None

    # -- set-up and tear-down ---------------------------------------------------------
    def listen(self, ip: str, port: int, backlog: int = 16, in_use_hint: str | None = None) -> int:
        """Bind and listen; return the port (the one chosen when ``port`` is 0)."""
        hint = {} if in_use_hint is None else {"in_use_hint": in_use_hint}
        self.server_socket = listening_socket(ip, port, backlog, f"server {self.name!r}", **hint)
        self.loop = SelectLoop()
        self.loop.register(self.server_socket, selectors.EVENT_READ, None)
        return self.server_socket.getsockname()[1]

    def close_sockets(self) -> None:
        """Close every client, the listening socket and the loop (call from the loop's thread, or after it)."""
        for conn in list(self.connections.values()):
            self.close_connection(conn, quiet=True)
        if self.loop is not None:
            self.loop.close()
            self.loop = None
        if self.server_socket is not None:
            try:
                self.server_socket.close()
            except OSError:
                pass
            self.server_socket = None

    # -- the loop -----------------------------------------------------------------------
    def poll_once(self, timeout: float | None) -> None:
        """One round: wait up to ``timeout`` s for events, handle them, flush replies, close finished clients."""
        loop, server_socket = self.loop, self.server_socket
        if loop is None or server_socket is None:
            raise RuntimeError(f"server {self.name!r} is not listening: call listen() first (or it was closed)")
        for key, mask in loop.select(timeout):
            if key.fileobj is server_socket:
                self._accept(loop, server_socket)
                continue
            conn = key.data
            try:
                if mask & selectors.EVENT_WRITE:
                    self._flush(conn)
                if mask & selectors.EVENT_READ and not conn.closed:
                    self._read(conn)
            except Exception:  # a bug must cost one connection, not the server
                self.log.exception("server %r: unexpected error on %r; closing it", self.name, conn)
                self.close_connection(conn)
        self.after_events()
        self._flush_all()
        self._close_finished()
        self._update_write_interest(loop)

    def wake(self) -> None:
        """Make the loop's current :meth:`poll_once` return (thread-safe)."""
        if self.loop is not None:
            self.loop.wake()

    def _accept(self, loop: SelectLoop, server_socket: socket.socket) -> None:
        try:
            sock, peer = server_socket.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.log.warning("server %r: accept failed: %s", self.name, exc)
            return
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = self.make_connection(sock, peer[:2])
        with self.connections_lock:
            self.connections[conn.id] = conn
        loop.register(sock, selectors.EVENT_READ, conn)
        conn.events = selectors.EVENT_READ
        self.on_accept(conn)

    def _read(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.log.info("server %r: %r lost (%s)", self.name, conn, exc)
            self.close_connection(conn)
            return
        conn.last_rx = time.monotonic()
        if not data:
            conn.eof = True
            self.on_eof(conn)
            return
        self.on_data(conn, data)

    # -- output ---------------------------------------------------------------------------
    def send(self, conn: Connection, data: bytes) -> bool:
        """Queue ``data`` for ``conn`` (any thread); False if the connection is closed or was dropped.

        A client whose queued output would exceed its limit is disconnected
        (it does not read its replies), with a warning.
        """
        with conn.lock:
            if conn.closed or conn.broken:
                return False
            accepted = conn.out.put(data)
            if not accepted:
                waiting = conn.out.queued + len(data)
                conn.broken = True
                conn.out.clear()
        if not accepted:
            self.log.warning(
                "server %r: %r does not read what it is sent (%d bytes waiting); disconnecting it",
                self.name,
                conn,
                waiting,
            )
        if threading.current_thread() is not self.loop_thread:
            self.wake()  # the loop flushes after handling its current events
        return True

    def _flush(self, conn: Connection) -> None:
        with conn.lock:
            if conn.closed or not conn.out:
                return
            try:
                conn.out.flush(conn.sock, self.send_piece_size)
            except OSError as exc:
                self.log.info("server %r: cannot write to %r (%s)", self.name, conn, exc)
                conn.out.clear()
                conn.broken = True

    def _flush_all(self) -> None:
        for conn in self.open_connections():
            if conn.out:
                self._flush(conn)

    def _update_write_interest(self, loop: SelectLoop) -> None:
        for conn in self.open_connections():
            with conn.lock:
                want = (0 if conn.eof else selectors.EVENT_READ) | (selectors.EVENT_WRITE if conn.out else 0)
            if want == conn.events:
                continue
            try:
                if conn.events == 0:
                    loop.register(conn.sock, want, conn)
                elif want == 0:
                    # nothing to read or write: the connection waits for its work to finish
                    loop.selector.unregister(conn.sock)
                else:
                    loop.modify(conn.sock, want, conn)
                conn.events = want
            except (KeyError, ValueError, OSError):
                conn.broken = True

    # -- closing ----------------------------------------------------------------------------
    def finished(self, conn: Connection) -> bool:
        """Return True when ``conn`` is to be closed: dropped, or EOF received and everything written."""
        return conn.broken or (conn.eof and not conn.out)

    def _close_finished(self) -> None:
        for conn in self.open_connections():
            with conn.lock:
                done = self.finished(conn)
            if done:
                self.close_connection(conn)

    def close_connection(self, conn: Connection, quiet: bool = False) -> None:
        """Close one client (idempotent); calls :meth:`on_close` unless ``quiet``."""
        with conn.lock:
            if conn.closed:
                return
            conn.closed = True
            conn.out.clear()
        if conn.events and self.loop is not None:
            self.loop.unregister(conn.sock)
        conn.events = 0
        try:
            conn.sock.close()
        except OSError:
            pass
        with self.connections_lock:
            self.connections.pop(conn.id, None)
        if not quiet:
            self.on_close(conn)

    def open_connections(self) -> list[Connection]:
        """Return the clients not closed yet (a snapshot, oldest first)."""
        with self.connections_lock:
            return [conn for _, conn in sorted(self.connections.items()) if not conn.closed]

    @property
    def n_clients(self) -> int:
        """Number of connected clients."""
        return len(self.open_connections())

    # -- hooks -------------------------------------------------------------------------------
    def make_connection(self, sock: socket.socket, peer: tuple) -> Connection:
        """Return the Connection of a new client (override to add framing state)."""
        return Connection(sock, peer)

    def on_accept(self, conn: Connection) -> None:
        """Handle a newly connected client (in the loop's thread)."""

    def on_data(self, conn: Connection, data: bytes) -> None:
        """Frame and handle bytes that arrived from ``conn`` (in the loop's thread)."""
        raise NotImplementedError(f"{type(self).__name__} must implement on_data(conn, data)")

    def on_eof(self, conn: Connection) -> None:
        """``conn`` closed its sending side (it is closed once :meth:`finished`)."""

    def on_close(self, conn: Connection) -> None:
        """``conn`` was closed (in the loop's thread)."""

    def after_events(self) -> None:
        """Run after each round of events, before replies are flushed."""
