r"""A dareplane-compatible module server.

:class:`DefaultServer` speaks the dareplane module protocol (see
:mod:`lslacq_dareplane.protocol`) so a dareplane control room can drive any
Python module, and dareplane module code can switch to it by changing an
import. Compared with dareplane-utils' server it

* binds 127.0.0.1 by default (dareplane: 0.0.0.0);
* serves several clients at once (the control room plus monitoring clients);
* runs module handlers in one worker thread, in arrival order, so a slow
  handler never delays ``UP`` or ``GET_PCOMMS``;
* answers malformed or unknown commands and failing handlers with an
  ``ERROR ...`` line instead of silence, and never lets them kill the server;
* also accepts ``\n``/``\r\n`` terminators and the legacy
  ``PCOMM|pos1|pos2|{json}`` form;
* keeps the callback path to the control room (:meth:`DefaultServer.send_callback`,
  ``callback_stack``) outside the threads ``STOP`` stops;
* stops threads and process trees with timeouts instead of waiting forever.

Example
-------
>>> from lslacq_dareplane import DefaultServer
>>> def start(n_trials: int = 10) -> int:
...     return 0
>>> server = DefaultServer(8080, name="my_module", pcommand_map={"START": start})
>>> server.init_server()  # doctest: +SKIP
>>> server.start_listening()  # blocks until CLOSE  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import inspect
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from lslacq.errors import NodeStateError

from .connection import DUMMY, CommandConnection, ConnectionProxy, WakingDeque
from .protocol import (
    BUILT_IN_PCOMMS,
    Command,
    CommandError,
    CommandSplitter,
    format_callback,
    format_error,
    format_pcomms,
    parse_command,
)
from .stoppers import StartedTasks
from .transport import ClientLoop

__all__ = ["DefaultServer", "DefaultCallbackServer", "ConnectionProxy"]

_STOP = object()  # worker queue item for STOP
_QUIT = object()  # worker queue item ending the worker


class DefaultServer(ClientLoop):
    """TCP server for a dareplane module.

    Parameters
    ----------
    port : int
        TCP port (dareplane default 8080). ``0`` picks a free port; after
        :meth:`init_server` ``port`` holds the one chosen.
    ip : str
        Interface to bind. Default ``"127.0.0.1"``: only this machine can
        connect. Pass ``"0.0.0.0"`` explicitly to accept remote control rooms
        (the protocol has no authentication).
    nlisten : int
        Listen backlog.
    name : str
        Module name, sent in the ``Connected to <name>`` banner.
    pcommand_map : dict of str to callable, optional
        Primary command -> handler. A handler gets the command's JSON object as
        keyword arguments (and legacy positional arguments) and returns an
        int (or None), a ``(threading.Thread, threading.Event)`` pair or a
        ``subprocess.Popen``; the server keeps the last two and stops them on
        ``STOP``, on ``CLOSE`` and in :meth:`shutdown`.
    delimiter : bytes or str
        Command terminator (``";"``); newlines always terminate too.
    logger : logging.Logger, optional
        Defaults to ``logging.getLogger("lslacq_dareplane.server")``; use
        :func:`lslacq_dareplane.get_logger` to forward to a dareplane log server.
    max_command_bytes : int
        Longest accepted command; longer input is discarded with an error line.
    max_output_bytes : int
        A client that does not read its replies is disconnected once this many
        bytes are waiting for it.
    thread_stop_timeout_s, process_stop_timeout_s : float
        How long STOP waits for each thread / process tree.
    close_timeout_s : float
        How long CLOSE waits for already queued commands before stopping.
    handler_thread : {"worker", "loop"}
        ``"worker"`` (default): handlers run in a worker thread, so ``UP``
        is answered while one runs. ``"loop"``: handlers run in the thread
        that called :meth:`start_listening` (usually the main thread), as in
        dareplane -- for handler code that must run there (GUI toolkits);
        a slow handler then delays every reply.
    unterminated_timeout_s : float or None
        Older control rooms send ``GET_PCOMMS`` without a terminator. A
        trailing fragment that parses as a known command is run after this
        many seconds without further bytes; an unknown one (``HELLO`` typed
        without ``;``) is answered with its ERROR line and dropped, so it is
        not glued onto the next command (None: wait for a terminator).

    Attributes
    ----------
    threads : dict of str to (Thread, Event)
        Running threads started by commands.
    processes : dict of str to subprocess.Popen
        Running processes started by commands.
    callback_stack : collections.deque
        Append ``"<target>|<PCOMM>|<payload>"`` strings to send them to the
        control room (dareplane's DefaultCallbackServer interface).
    listen_stop_event : threading.Event
        Set to stop :meth:`start_listening` (what CLOSE does).
    is_listening : bool
        True while :meth:`start_listening` runs.
    """

    def __init__(
        self,
        port: int = 8080,
        ip: str = "127.0.0.1",
        nlisten: int = 10,
        name: str = "default_server",
        pcommand_map: dict | None = None,
        delimiter: bytes | str = b";",
        *,
        logger: logging.Logger | None = None,
        max_command_bytes: int = 1 << 20,
        max_output_bytes: int = 16 << 20,
        thread_stop_timeout_s: float = 10.0,
        process_stop_timeout_s: float = 5.0,
        close_timeout_s: float = 10.0,
        unterminated_timeout_s: float | None = 0.5,
        handler_thread: str = "worker",
    ):
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(f"DefaultServer port must be an int in 0..65535, got {port!r}")
        if not isinstance(ip, str) or not ip:
            raise ValueError(f"DefaultServer ip must be an address string such as '127.0.0.1', got {ip!r}")
        if pcommand_map is not None and not isinstance(pcommand_map, dict):
            raise TypeError(f"pcommand_map must be a dict of command name -> callable, got {type(pcommand_map)}")
        self.port = port
        self.ip = ip
        self.nlisten = int(nlisten)
        self.name = str(name)
        # the caller's dict itself (as in dareplane): modules often fill it after creating the server
        self.pcommand_map: dict[str, Callable] = pcommand_map if pcommand_map is not None else {}
        for key, func in self.pcommand_map.items():
            self._check_handler(key, func)
        self.delimiter = delimiter.encode() if isinstance(delimiter, str) else bytes(delimiter)
        CommandSplitter(self.delimiter)  # validates it
        self.logger = logger or logging.getLogger("lslacq_dareplane.server")
        self.max_command_bytes = int(max_command_bytes)
        self.max_output_bytes = int(max_output_bytes)
        self.thread_stop_timeout_s = float(thread_stop_timeout_s)
        self.process_stop_timeout_s = float(process_stop_timeout_s)
        self.close_timeout_s = float(close_timeout_s)
        self.unterminated_timeout_s = unterminated_timeout_s
        if handler_thread not in ("worker", "loop"):
            raise ValueError(f"handler_thread must be 'worker' or 'loop', got {handler_thread!r}")
        self.handler_thread = handler_thread

        self._tasks = StartedTasks(self.logger)
        self.threads = self._tasks.threads
        self.processes = self._tasks.processes
        self.listen_stop_event = threading.Event()
        self.is_listening = False
        self.error: BaseException | None = None
        ClientLoop.__init__(self)
        self._commands: queue.Queue = queue.Queue()
        self._worker: threading.Thread | None = None
        self._serve_thread: threading.Thread | None = None
        self._done = threading.Event()
        self._done.set()
        self._request = threading.local()  # the connection whose command a handler is running for
        self._idle = threading.Condition()
        self._inflight = 0  # commands queued or running in the worker
        self.callback_stack = WakingDeque(self.wake)

    # ------------------------------------------------------------------ setup
    def _check_handler(self, key, func) -> None:
        if not isinstance(key, str) or not key or "|" in key or ";" in key or any(c.isspace() for c in key):
            raise ValueError(f"primary command {key!r} must be a non-empty string without '|', ';' or spaces")
        if key in BUILT_IN_PCOMMS:
            raise ValueError(f"primary command {key!r} is built into every server; choose another name")
        if not callable(func):
            raise TypeError(f"handler for primary command {key!r} must be callable, got {func!r}")

    # --------------------------------------------------------------- main loop
    def start_listening(self) -> None:
        """Serve clients until CLOSE, :meth:`shutdown` or ``listen_stop_event``.

        Blocks. On return every thread and process started by commands has been
        stopped and every socket is closed.
        """
        if self.server_socket is None or self.loop is None:
            raise NodeStateError(f"server {self.name!r}: call init_server() before start_listening()")
        self._done.clear()
        self.loop_thread = threading.current_thread()
        self.is_listening = True
        self._worker = threading.Thread(target=self._work, name=f"{self.name}-commands", daemon=True)
        self._worker.start()
        try:
            while not self.listen_stop_event.is_set():
                self.loop_once(timeout=0.5)
        except BaseException as exc:
            self.error = exc
            if not isinstance(exc, KeyboardInterrupt):
                self.logger.exception("server %r: event loop failed", self.name)
            raise
        finally:
            try:
                self._finish()
            finally:
                self.is_listening = False
                self._done.set()

    def _before_select(self, timeout: float) -> float:
        return self._run_unterminated(timeout)

    def after_events(self) -> None:
        """Send the queued callbacks to the control room (the first open connection) after each round."""
        self._deliver_callbacks()

    def _run_unterminated(self, timeout: float) -> float:
        """Dispatch idle unterminated known commands; return the select timeout to use."""
        idle = self.unterminated_timeout_s
        if idle is None:
            return timeout
        now = time.monotonic()
        with self.connections_lock:
            conns = [c for c in self.connections.values() if c.splitter.pending_bytes and not c.closed]
        for conn in conns:
            due = conn.last_rx + idle
            if now < due:
                timeout = min(timeout, due - now)
                continue
            fragment = conn.splitter.peek()
            pcomm = fragment.split(b"|", 1)[0].strip().decode("utf-8", "replace")
            known = pcomm in BUILT_IN_PCOMMS or pcomm in self.pcommand_map
            if known:
                try:
                    parse_command(fragment)
                except CommandError:
                    continue  # a known command whose payload may still be on its way
            # a known command is run; an unknown one gets its ERROR line now and is dropped, so it is not glued
            # onto the next command ("HELLO" then "UP;" was "HELLOUP")
            conn.splitter.flush()
            self.logger.debug(
                "server %r: %s unterminated %r after %.2f s idle",
                self.name,
                "running" if known else "rejecting",
                fragment,
                idle,
            )
            self._dispatch(conn, fragment)
            timeout = 0.0  # flush the reply right away
        return max(timeout, 0.0)

    # -------------------------------------------------------------- commands
    def _dispatch(self, conn: CommandConnection, raw: bytes) -> None:
        try:
            cmd = parse_command(raw)
        except CommandError as exc:
            self.logger.warning("server %r: bad command %r from %r: %s", self.name, raw[:200], conn, exc)
            self.send(conn, format_error(str(exc)))
            return
        if cmd.pcomm == "UP":
            self.send(conn, b"1")
            return
        self.logger.info("server %r: received %r", self.name, cmd.raw[:500])
        if cmd.pcomm == "GET_PCOMMS":
            self.send(conn, format_pcomms(self.pcommand_map))
        elif cmd.pcomm == "CLOSE":
            self.logger.info("server %r: CLOSE from %r", self.name, conn)
            self.listen_stop_event.set()
        elif cmd.pcomm == "STOP":
            self._enqueue(conn, _STOP)
        elif cmd.pcomm in self.pcommand_map:
            self._enqueue(conn, cmd)
        else:
            known = list(self.pcommand_map) + list(BUILT_IN_PCOMMS)
            close = difflib.get_close_matches(cmd.pcomm, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            msg = f"unknown primary command {cmd.pcomm!r} for module {self.name!r}; {hint}known: {', '.join(known)}"
            self.logger.warning("server %r: %s", self.name, msg)
            self.send(conn, format_error(msg))

    def _enqueue(self, conn: CommandConnection, item) -> None:
        with conn.lock:
            conn.pending += 1
        with self._idle:
            self._inflight += 1
        if self.handler_thread == "loop":
            self._process(conn, item)  # dareplane's behaviour: the listening thread runs the handler
        else:
            self._commands.put((conn, item))

    def _work(self) -> None:
        """Worker thread: run handlers and STOP in arrival order."""
        while True:
            conn, item = self._commands.get()
            if item is _QUIT:
                return
            self._process(conn, item)

    def _process(self, conn: CommandConnection, item) -> None:
        try:
            if item is _STOP:
                self.logger.info("server %r: STOP", self.name)
                self.close_threads()
                self.close_processes()
            else:
                self._run_handler(conn, item)
        except Exception as exc:  # a bug here must not end the worker
            self.logger.exception("server %r: error while processing %r", self.name, item)
            self.send(conn, format_error(f"internal error: {type(exc).__name__}: {exc}"))
        finally:
            with conn.lock:
                conn.pending -= 1
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()
            self.wake()

    def _run_handler(self, conn: CommandConnection, cmd: Command) -> None:
        func = self.pcommand_map.get(cmd.pcomm)
        if func is None:  # removed from the map since it was queued
            self.send(conn, format_error(f"primary command {cmd.pcomm!r} is no longer available"))
            return
        try:
            sig = inspect.signature(func)
        except (TypeError, ValueError):
            sig = None
        if sig is not None:
            try:
                sig.bind(*cmd.args, **cmd.kwargs)
            except TypeError as exc:
                msg = f"bad arguments for {cmd.pcomm}: {exc}; it takes {cmd.pcomm}{sig}"
                self.logger.warning("server %r: %s (command %r)", self.name, msg, cmd.raw[:200])
                self.send(conn, format_error(msg))
                return
        self._request.conn = conn
        try:
            ret = func(*cmd.args, **cmd.kwargs)
        except Exception as exc:
            self.logger.exception("server %r: command %r failed", self.name, cmd.raw[:200])
            self.send(conn, format_error(f"command {cmd.pcomm} failed: {type(exc).__name__}: {exc}"))
            return
        finally:
            self._request.conn = None
        if not self._tasks.keep(cmd.raw[:80], ret):
            self.logger.warning(
                "server %r: handler of %s returned %r; expected an int, a (Thread, Event) pair or a Popen "
                "-- the server cannot stop it on STOP",
                self.name,
                cmd.pcomm,
                type(ret).__name__,
            )

    def reply(self, data: bytes | str) -> bool:
        """Send ``data`` to the client whose command is being handled.

        Call it from a handler (e.g. a STATUS command). Outside a handler
        the data goes to the control connection. Returns False if that
        client is gone.
        """
        if isinstance(data, str):
            data = data.encode()
        conn = getattr(self._request, "conn", None) or self._control_conn()
        return conn is not None and self.send(conn, bytes(data))

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every received module command (and STOP) has been handled.

        ``UP`` is answered at once even while handlers run, so it is a liveness
        check, not a barrier; use this (in-process) to wait for the handlers.

        Returns
        -------
        bool
            False if ``timeout`` seconds passed first.
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._inflight <= 0, timeout)

    def close_threads(self) -> None:
        """Stop every thread started by a command (set its event, join with timeout)."""
        self._tasks.stop_threads(self.thread_stop_timeout_s)

    def close_processes(self) -> None:
        """Stop every process tree started by a command."""
        self._tasks.stop_processes(self.process_stop_timeout_s)

    # ------------------------------------------------------------- callbacks
    @property
    def current_conn(self) -> ConnectionProxy | None:
        """Writer to the control room: the oldest connected client (None if none)."""
        conn = self._control_conn()
        return ConnectionProxy(self, conn) if conn is not None else None

    def send_callback(self, target: str, pcomm: str, payload: Any = None) -> bool:
        """Ask the control room to send ``pcomm`` to module ``target``.

        Writes ``<target>|<PCOMM>|<payload>`` to the control connection (the
        oldest connected client). Thread-safe; unaffected by STOP.

        Parameters
        ----------
        target : str
            Module name in the control room's configuration.
        pcomm : str
            Primary command of that module.
        payload : dict or str, optional
            Keyword arguments (a dict is sent as JSON).

        Returns
        -------
        bool
            False if no control room is connected (the callback is dropped and logged).
        """
        data = format_callback(target, pcomm, payload)
        conn = self._control_conn()
        if conn is None or not self.send(conn, data):
            self.logger.warning("server %r: no control room connected; dropped callback %r", self.name, data)
            return False
        return True

    def _deliver_callbacks(self) -> None:
        while self.callback_stack:
            try:
                payload = self.callback_stack.popleft()
            except IndexError:
                break
            data = payload.encode() if isinstance(payload, str) else bytes(payload)
            conn = self._control_conn()
            if conn is None or not self.send(conn, data):
                self.logger.warning("server %r: no control room connected; dropped callback %r", self.name, data)

    # -------------------------------------------------------------- shutdown
    def _finish(self) -> None:
        """End of start_listening: drain commands, stop what they started, close sockets."""
        worker = self._worker
        if worker is not None:
            self._commands.put((DUMMY, _QUIT))
            deadline = time.monotonic() + self.close_timeout_s
            while worker.is_alive() and time.monotonic() < deadline:
                # keep delivering replies while queued commands finish
                self.loop_once(timeout=0.05)
            if worker.is_alive():
                self.logger.error(
                    "server %r: a command handler is still running %.1f s after CLOSE; leaving it behind",
                    self.name,
                    self.close_timeout_s,
                )
            self._worker = None
        self.close_threads()
        self.close_processes()
        # last replies (best effort, short)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline and any(c.out for c in list(self.connections.values()) if not c.closed):
            self.loop_once(timeout=0.05)
        for conn in list(self.connections.values()):
            self.close_connection(conn)
        self.close_sockets()
        self.logger.info("server %r stopped", self.name)

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop serving, stop what commands started and close every socket.

        Safe to call from any thread, several times, and before or without
        :meth:`start_listening`.
        """
        self.listen_stop_event.set()
        self.wake()
        me = threading.current_thread()
        if self.is_listening:
            if me is self._worker:
                return  # the loop finishes once this handler returns
            if me is not self.loop_thread:
                timeout = self.close_timeout_s + self.thread_stop_timeout_s + 5 if timeout is None else timeout
                if not self._done.wait(timeout):
                    self.logger.error("server %r did not stop within %.1f s", self.name, timeout)
            if self._serve_thread is not None and me is not self._serve_thread:
                self._serve_thread.join(1.0)
                self._serve_thread = None
            return
        self.close_threads()
        self.close_processes()
        self.close_sockets()

    # --------------------------------------------------------- conveniences
    def start_in_thread(self) -> threading.Thread:
        """Run :meth:`start_listening` in a background thread (init first if needed)."""
        if self.server_socket is None:
            self.init_server()
        thread = threading.Thread(target=self._serve_quietly, name=f"{self.name}-server", daemon=True)
        self._serve_thread = thread
        self._done.clear()
        thread.start()
        return thread

    def _serve_quietly(self) -> None:
        try:
            self.start_listening()
        except BaseException:
            pass  # logged and kept in self.error

    def __enter__(self) -> DefaultServer:
        self.start_in_thread()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        state = "listening" if self.is_listening else "stopped"
        return f"<{type(self).__name__} {self.name!r} {self.ip}:{self.port} {state}>"


class DefaultCallbackServer(DefaultServer):
    """dareplane's DefaultCallbackServer: every DefaultServer already sends ``callback_stack``."""
