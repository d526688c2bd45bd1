"""The socket side of the module server: one selector loop serving many clients.

:class:`ClientLoop` accepts clients, reads their bytes into commands (each
client's :class:`~lslacq_dareplane.protocol.CommandSplitter`), and writes
replies through each client's :class:`~lslacq.core.sendqueue.SendQueue`
without ever blocking on a slow client. What a command means is the
subclass's job (:class:`~lslacq_dareplane.server.DefaultServer`).
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import threading
import time

from lslacq.errors import NodeStateError

from .connection import _Connection
from .protocol import format_error

__all__ = ["ClientLoop"]

_RECV_BYTES = 65536


class ClientLoop:
    """Selector loop over a listening socket and its clients (base of the module server).

    A subclass provides ``name``, ``ip``, ``port``, ``nlisten``, ``delimiter``,
    ``max_command_bytes``, ``max_output_bytes``, ``logger`` and
    ``listen_stop_event``, and implements :meth:`_dispatch`; it may hook
    :meth:`_before_select` and :meth:`_after_events`.
    """

    name: str
    logger: logging.Logger
    listen_stop_event: threading.Event

    def __init__(self):
        self.server_socket: socket.socket | None = None
        self._conns: dict[int, _Connection] = {}
        self._conns_lock = threading.Lock()
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._loop_thread: threading.Thread | None = None

    def init_server(self, stop_event: threading.Event | None = None) -> None:
        """Bind and listen.

        Parameters
        ----------
        stop_event : threading.Event, optional
            Event that stops :meth:`start_listening` when set (a new one by default).
        """
        if self.server_socket is not None:
            raise NodeStateError(f"server {self.name!r} is already initialised on {self.ip}:{self.port}")
        if self.ip in ("0.0.0.0", "::", ""):
            self.logger.warning(
                "server %r listens on all interfaces (%r): anyone on the network can send it commands",
                self.name,
                self.ip,
            )
        family = socket.AF_INET6 if ":" in self.ip else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.ip, self.port))
            sock.listen(self.nlisten)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            hint = " (another module already uses it; pick another --port)" if exc.errno == errno.EADDRINUSE else ""
            raise OSError(exc.errno, f"server {self.name!r} cannot listen on {self.ip}:{self.port}: {exc.strerror}{hint}") from exc
        self.server_socket = sock
        self.port = sock.getsockname()[1]
        self.listen_stop_event = stop_event if stop_event is not None else threading.Event()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self.logger.info("server %r listening on %s:%d", self.name, self.ip, self.port)

    # ---------------------------------------------------------------- loop
    def _loop_once(self, timeout: float) -> None:
        timeout = self._before_select(timeout)
        for key, mask in self._selector.select(timeout):
            if key.data == "wake":
                self._drain_wake()
            elif key.fileobj is self.server_socket:
                self._accept()
            else:
                conn: _Connection = key.data
                try:
                    if mask & selectors.EVENT_WRITE:
                        self._flush(conn)
                    if mask & selectors.EVENT_READ and not conn.closed:
                        self._read(conn)
                except Exception:  # a bug must cost one connection, not the server
                    self.logger.exception("server %r: unexpected error on %r; closing it", self.name, conn)
                    self._close_conn(conn)
        self._after_events()
        self._flush_all()
        self._close_finished()
        self._update_write_interest()

    def _wake(self) -> None:
        w = self._wake_w
        if w is not None:
            try:
                w.send(b"\0")
            except (BlockingIOError, OSError):
                pass  # already awake, or closing

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _accept(self) -> None:
        try:
            sock, peer = self.server_socket.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.logger.warning("server %r: accept failed: %s", self.name, exc)
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(sock, peer[:2], self.delimiter, self.max_command_bytes, self.max_output_bytes)
        with self._conns_lock:
            self._conns[conn.id] = conn
        self._selector.register(sock, selectors.EVENT_READ, conn)
        conn.events = selectors.EVENT_READ
        self.logger.info("server %r: %r connected (%d clients)", self.name, conn, len(self._conns))
        self._call_hook("on_connection_accepted")
        self._write(conn, f"Connected to {self.name}\n".encode())

    def _call_hook(self, name: str) -> None:
        try:
            getattr(self, name)()
        except Exception:
            self.logger.exception("server %r: %s() failed", self.name, name)

    def on_connection_accepted(self) -> None:
        """Hook (as in dareplane): called after a client connected, before its banner is sent."""

    def on_connection_closed(self) -> None:
        """Hook (as in dareplane): called after a client's connection ended."""

    def _read(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.logger.info("server %r: %r lost (%s)", self.name, conn, exc)
            self._close_conn(conn)
            return
        conn.last_rx = time.monotonic()
        if not data:
            conn.eof = True
            rest = conn.splitter.flush()
            if rest and not self.listen_stop_event.is_set():
                self._dispatch(conn, rest)
            self.logger.info("server %r: %r closed its side", self.name, conn)
            return
        commands, errors = conn.splitter.feed(data)
        for err in errors:
            self.logger.warning("server %r: %r: %s", self.name, conn, err)
            self._write(conn, format_error(err))
        for raw in commands:
            if self.listen_stop_event.is_set():
                self.logger.info("server %r: ignoring %r received after CLOSE", self.name, raw[:80])
                continue
            self._dispatch(conn, raw)

    def _write(self, conn: _Connection, data: bytes) -> bool:
        """Queue ``data`` for ``conn`` (any thread). Returns False if the connection is closed."""
        with conn.lock:
            if conn.closed or conn.broken:
                return False
            accepted = conn.out.put(data)
            if not accepted:
                waiting = conn.out.queued + len(data)
                conn.broken = True
                conn.out.clear()
        if not accepted:
            self.logger.warning(
                "server %r: %r does not read its replies (%d bytes waiting); disconnecting it",
                self.name,
                conn,
                waiting,
            )
        if threading.current_thread() is not self._loop_thread:
            self._wake()  # the loop flushes after handling its current events
        return True

    def _flush(self, conn: _Connection) -> None:
        with conn.lock:
            if conn.closed or not conn.out:
                return
            try:
                conn.out.flush(conn.sock)
            except OSError as exc:
                self.logger.info("server %r: cannot write to %r (%s)", self.name, conn, exc)
                conn.out.clear()
                conn.broken = True

    def _flush_all(self) -> None:
        with self._conns_lock:
            conns = list(self._conns.values())
        for conn in conns:
            if conn.out and not conn.closed:
                self._flush(conn)

    def _update_write_interest(self) -> None:
        with self._conns_lock:
            conns = list(self._conns.values())
        for conn in conns:
            if conn.closed:
                continue
            with conn.lock:
                want = (0 if conn.eof else selectors.EVENT_READ) | (selectors.EVENT_WRITE if conn.out else 0)
            if want == conn.events:
                continue
            try:
                if conn.events == 0:
                    self._selector.register(conn.sock, want, conn)
                elif want == 0:
                    # nothing to read or write: the connection waits for its commands to finish
                    self._selector.unregister(conn.sock)
                else:
                    self._selector.modify(conn.sock, want, conn)
                conn.events = want
            except (KeyError, ValueError, OSError):
                conn.broken = True

    def _close_finished(self) -> None:
        with self._conns_lock:
            conns = list(self._conns.values())
        for conn in conns:
            with conn.lock:
                done = conn.broken or (conn.eof and not conn.out and conn.pending <= 0)
            if done:
                self._close_conn(conn)

    def _close_conn(self, conn: _Connection) -> None:
        with conn.lock:
            if conn.closed:
                return
            conn.closed = True
            conn.out.clear()
        if conn.events and self._selector is not None:
            try:
                self._selector.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
        conn.events = 0
        try:
            conn.sock.close()
        except OSError:
            pass
        with self._conns_lock:
            self._conns.pop(conn.id, None)
        self.logger.info("server %r: %r disconnected", self.name, conn)
        self._call_hook("on_connection_closed")

    def _control_conn(self) -> _Connection | None:
        with self._conns_lock:
            for cid in sorted(self._conns):
                conn = self._conns[cid]
                if not conn.closed and not conn.eof and not conn.broken:
                    return conn
        return None

    @property
    def n_clients(self) -> int:
        """Number of connected clients."""
        with self._conns_lock:
            return sum(1 for c in self._conns.values() if not c.closed)

    def _close_sockets(self) -> None:
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        for sock in (self.server_socket, self._wake_r, self._wake_w):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        self.server_socket = None
        self._wake_r = self._wake_w = None


    # ------------------------------------------------------ subclass hooks
    def _dispatch(self, conn: _Connection, raw: bytes) -> None:
        """Handle one complete command received from ``conn``."""
        raise NotImplementedError

    def _before_select(self, timeout: float) -> float:
        """Called before each wait for socket events; returns the wait's timeout."""
        return timeout

    def _after_events(self) -> None:
        """Called after each round of socket events, before replies are flushed."""

