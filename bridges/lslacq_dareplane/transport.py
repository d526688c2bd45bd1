"""The socket side of the module server: the TCP server loop of lslacq.core.tcp, framed into commands.

:class:`ClientLoop` is a :class:`~lslacq.core.tcp.TcpServer`: it accepts
clients, reads their bytes into commands (each client's
:class:`~lslacq_dareplane.protocol.CommandSplitter`), and writes replies
through each client's send queue without ever blocking on a slow client.
What a command means is the subclass's job
(:class:`~lslacq_dareplane.server.DefaultServer`).
"""

from __future__ import annotations

import logging
import socket
import threading

from lslacq.core.tcp import TcpServer
from lslacq.errors import NodeStateError

from .connection import CommandConnection
from .protocol import format_error

__all__ = ["ClientLoop"]


class ClientLoop(TcpServer):
    """The module server's TCP loop: dareplane's banner, command framing and connection hooks.

    A subclass provides ``name``, ``ip``, ``port``, ``nlisten``, ``delimiter``,
    ``max_command_bytes``, ``max_output_bytes``, ``logger`` and
    ``listen_stop_event`` before calling ``ClientLoop.__init__``, and
    implements :meth:`_dispatch`; it may hook :meth:`_before_select` and
    :meth:`after_events`.
    """

    name: str
    logger: logging.Logger
    listen_stop_event: threading.Event

    def __init__(self):
        TcpServer.__init__(self, self.name, self.logger)

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
        self.port = self.listen(
            self.ip, self.port, self.nlisten, in_use_hint="another module already uses it; pick another --port"
        )
        self.listen_stop_event = stop_event if stop_event is not None else threading.Event()
        self.logger.info("server %r listening on %s:%d", self.name, self.ip, self.port)

    def loop_once(self, timeout: float) -> None:
        """One round of the loop (the subclass's :meth:`_before_select` may shorten ``timeout``)."""
        self.poll_once(self._before_select(timeout))

    # -- TcpServer hooks ---------------------------------------------------------------
    def make_connection(self, sock: socket.socket, peer: tuple) -> CommandConnection:
        """Return the connection of a new client, with its command splitter."""
        return CommandConnection(sock, peer, self.delimiter, self.max_command_bytes, self.max_output_bytes)

    def on_accept(self, conn: CommandConnection) -> None:
        """Log the client, call :meth:`on_connection_accepted`, then send the ``Connected to <name>`` banner."""
        self.logger.info("server %r: %r connected (%d clients)", self.name, conn, self.n_clients)
        self._call_hook("on_connection_accepted")
        self.send(conn, f"Connected to {self.name}\n".encode())

    def on_data(self, conn: CommandConnection, data: bytes) -> None:
        """Split ``data`` into commands and dispatch them; framing errors get an ``ERROR`` reply.

        Commands received after CLOSE are ignored.
        """
        commands, errors = conn.splitter.feed(data)
        for err in errors:
            self.logger.warning("server %r: %r: %s", self.name, conn, err)
            self.send(conn, format_error(err))
        for raw in commands:
            if self.listen_stop_event.is_set():
                self.logger.info("server %r: ignoring %r received after CLOSE", self.name, raw[:80])
                continue
            self._dispatch(conn, raw)

    def on_eof(self, conn: CommandConnection) -> None:
        """Dispatch an unterminated last command of ``conn`` (unless closing)."""
        rest = conn.splitter.flush()
        if rest and not self.listen_stop_event.is_set():
            self._dispatch(conn, rest)
        self.logger.info("server %r: %r closed its side", self.name, conn)

    def finished(self, conn: CommandConnection) -> bool:
        """Return True when ``conn`` is to be closed: dropped, or EOF, everything written and its commands done."""
        return conn.broken or (conn.eof and not conn.out and conn.pending <= 0)

    def on_close(self, conn: CommandConnection) -> None:
        """Log the disconnection and call :meth:`on_connection_closed`."""
        self.logger.info("server %r: %r disconnected", self.name, conn)
        self._call_hook("on_connection_closed")

    def _call_hook(self, name: str) -> None:
        try:
            getattr(self, name)()
        except Exception:
            self.logger.exception("server %r: %s() failed", self.name, name)

    def on_connection_accepted(self) -> None:
        """Run after a client connected, before its banner is sent (a hook, as in dareplane)."""

    def on_connection_closed(self) -> None:
        """Run after a client's connection ended (a hook, as in dareplane)."""

    def _control_conn(self) -> CommandConnection | None:
        for conn in self.open_connections():
            if not conn.eof and not conn.broken:
                return conn
        return None

    # ------------------------------------------------------ subclass hooks
    def _dispatch(self, conn: CommandConnection, raw: bytes) -> None:
        """Handle one complete command received from ``conn``."""
        raise NotImplementedError

    def _before_select(self, timeout: float) -> float:
        """Return the timeout of the next wait for socket events (run before each wait)."""
        return timeout
