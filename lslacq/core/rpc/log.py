"""Forward log records, uncaught exceptions and stdout/stderr between processes.

Typical use (ProcessSpawner and create_manager do steps 3-4 for you):

1. In the main process, :func:`start_log_server` (a thread that receives
   records and hands them, sorted by creation time, to a logger).
2. Attach a handler to that logger, e.g. :class:`RPCLogHandler` (coloured by
   source host/process/thread).
3. In the other process, :func:`set_process_name`, :func:`set_logger_address`.
4. Optionally :func:`log_exceptions` and :func:`forward_stdio`.

Records carry ``hostname``, ``process_name`` and ``thread_name`` attributes.
The transport is a ZeroMQ PUSH/PULL pair (no RPC, so logging never recurses
into the RPC system) and never blocks the sender: if the server is gone,
records are dropped once the queue is full.
"""

from __future__ import annotations

import heapq
import io
import logging
import os
import socket as _socket
import sys
import threading
import time
import traceback

import msgpack
import zmq

from .security import bind_server_socket

__all__ = [
    "start_log_server",
    "stop_log_server",
    "get_log_server",
    "LogServer",
    "LogSender",
    "RPCLogHandler",
    "set_host_name",
    "get_host_name",
    "set_process_name",
    "get_process_name",
    "set_thread_name",
    "get_thread_name",
    "set_logger_address",
    "get_logger_address",
    "get_logger_key",
    "log_exceptions",
    "forward_stdio",
]

_host_name = _socket.gethostname()
_process_name = f"process-{os.getpid()}"
_thread_names: dict[int, str] = {}
_log_server: LogServer | None = None
_log_sender: LogSender | None = None
_logger_address: str | None = None
_logger_key: str | None = None
_state_lock = threading.Lock()


def set_host_name(name: str) -> None:
    """Set the name of this host used in log records."""
    global _host_name
    _host_name = name


def get_host_name() -> str:
    """Return the name of this host used in log records."""
    return _host_name


def set_process_name(name: str) -> None:
    """Set the name of this process used in log records."""
    global _process_name
    _process_name = name


def get_process_name() -> str:
    """Return the name of this process used in log records."""
    return _process_name


def set_thread_name(name: str, tid: int | None = None) -> None:
    """Set the name of a thread (default: the calling one) used in log records."""
    _thread_names[threading.get_ident() if tid is None else tid] = name


def get_thread_name(tid: int | None = None) -> str:
    """Return the log name of a thread (default: the calling one)."""
    tid = threading.get_ident() if tid is None else tid
    name = _thread_names.get(tid)
    if name is None:
        for thread in threading.enumerate():
            if thread.ident == tid:
                return thread.name
        return f"thread-{tid:x}"
    return name


_RECORD_FIELDS = (
    "name",
    "levelno",
    "levelname",
    "pathname",
    "filename",
    "module",
    "lineno",
    "funcName",
    "created",
    "msecs",
    "relativeCreated",
    "thread",
    "threadName",
    "process",
    "processName",
)


def _record_to_dict(record: logging.LogRecord) -> dict:
    data = {key: getattr(record, key, None) for key in _RECORD_FIELDS}
    data["msg"] = record.getMessage()
    if record.exc_info and not record.exc_text:
        record.exc_text = "".join(traceback.format_exception(*record.exc_info))
    data["exc_text"] = record.exc_text
    data["stack_info"] = record.stack_info
    data["hostname"] = getattr(record, "hostname", None) or _host_name
    data["process_name"] = getattr(record, "process_name", None) or _process_name
    data["thread_name"] = getattr(record, "thread_name", None) or get_thread_name(record.thread)
    return data


def _dict_to_record(data: dict) -> logging.LogRecord:
    data = dict(data)
    data["args"] = None
    data["exc_info"] = None
    return logging.makeLogRecord(data)


class LogSender(logging.Handler):
    """Logging handler that forwards records to a remote :class:`LogServer`.

    Parameters
    ----------
    address : str, optional
        Address of the log server; call :meth:`connect` later if omitted.
    logger : str, optional
        Name of the logger to attach this handler to ('' for the root logger).
    """

    def __init__(self, address: str | None = None, logger: str | None = None, server_key: str | None = None):
        super().__init__()
        self._socket_lock = threading.RLock()  # connect() and close() against each other
        self._socket: zmq.Socket | None = None
        self.address: str | None = None
        if address is not None:
            self.connect(address, server_key)
        if logger is not None:
            logging.getLogger(logger).addHandler(self)

    def connect(self, address: str, server_key: str | None = None) -> None:
        """(Re)connect to the log server at ``address`` (``server_key``: its CurveZMQ public key)."""
        from . import security

        with self._socket_lock:
            if self._socket is not None:
                self._socket.close(linger=0)
            sock: zmq.Socket = zmq.Context.instance().socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 1000)
            sock.setsockopt(zmq.SNDHWM, 10000)
            security.configure_client_socket(sock, address, server_key)
            sock.connect(address)
            self._socket = sock
            self.address = address

    def emit(self, record: logging.LogRecord) -> None:
        """Send ``record`` to the log server (dropped, never blocking, if it is unreachable and the queue full)."""
        sock = self._socket
        if sock is None:
            return
        try:
            sock.send(msgpack.packb(_record_to_dict(record), default=str), zmq.NOBLOCK)
        except zmq.Again:
            pass  # log server unreachable and queue full: drop rather than block the application
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        """Close the connection to the log server."""
        with self._socket_lock:
            if self._socket is not None:
                self._socket.close(linger=500)
                self._socket = None
        super().close()


class LogServer(threading.Thread):
    """Thread that receives log records from remote processes.

    Records are handed to ``logger.handle()`` in creation-time order (they are
    held back ``sort_delay`` seconds so that records from several processes can
    be interleaved correctly).

    Parameters
    ----------
    logger : logging.Logger
        Logger that handles received records.
    address : str
        Address to bind (default: a free port on 127.0.0.1).
    sort : bool
        Sort records by creation time before handling them.
    """

    def __init__(
        self,
        logger: logging.Logger,
        address: str = "tcp://127.0.0.1:*",
        sort: bool = True,
        sort_delay: float = 0.05,
        curve_secret_key=None,
        authorized_keys=None,
    ):
        super().__init__(name="lslacq-log-server", daemon=True)
        self.logger = logger
        self.sort = sort
        self.sort_delay = sort_delay
        sock: zmq.Socket = zmq.Context.instance().socket(zmq.PULL)
        sock.setsockopt(zmq.LINGER, 0)
        self._auth, self.address = bind_server_socket(sock, address, curve_secret_key, authorized_keys, "log server")
        self.socket = sock
        self.public_key: str | None = self._auth.public_key if self._auth else None
        self._stop_event = threading.Event()
        self._heap: list = []
        self._counter = 0

    def run(self) -> None:
        """Receive records and hand them to the logger, in creation-time order, until :meth:`stop`."""
        sock = self.socket
        try:
            while not self._stop_event.is_set():
                if sock.poll(20):
                    while True:
                        try:
                            data = sock.recv(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        self._receive(data)
                self._flush(time.time() - self.sort_delay)
            # drain what is already queued before stopping
            while sock.poll(0):
                self._receive(sock.recv())
            self._flush(float("inf"))
        finally:
            sock.close(linger=0)
            if self._auth is not None:
                self._auth.release()

    def _receive(self, data: bytes) -> None:
        try:
            record = _dict_to_record(msgpack.unpackb(data, raw=False))
        except Exception:
            logging.getLogger(__name__).warning(
                "log server %s: dropped an undecodable record (%d bytes)", self.address, len(data)
            )
            return
        if not self.sort:
            self._handle(record)
            return
        self._counter += 1
        heapq.heappush(self._heap, (record.created, self._counter, record))

    def _flush(self, before: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= before:
            self._handle(heapq.heappop(heap)[2])

    def _handle(self, record: logging.LogRecord) -> None:
        try:
            self.logger.handle(record)
        except Exception:  # a broken handler must not kill the log server
            traceback.print_exc()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (handling the records already received) and wait for it."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)
        elif not self.socket.closed:
            self.socket.close(linger=0)
            if self._auth is not None:
                self._auth.release()
                self._auth = None

    close = stop


def start_log_server(logger: logging.Logger | str = "", address: str = "tcp://127.0.0.1:*", **kwds) -> LogServer:
    """Start this process's global log server (once) and return it.

    Records received are handled by ``logger`` (a Logger or logger name; the
    root logger by default). Use :func:`get_logger_address` to obtain the
    address other processes pass to :func:`set_logger_address`.
    """
    global _log_server
    with _state_lock:
        if _log_server is not None and _log_server.is_alive():
            return _log_server
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        _log_server = LogServer(logger, address, **kwds)
        _log_server.start()
        return _log_server


def get_log_server() -> LogServer | None:
    """Return this process's running log server (started by :func:`start_log_server`), or None."""
    server = _log_server
    return server if server is not None and server.is_alive() else None


def stop_log_server() -> None:
    """Stop the global log server started by :func:`start_log_server`."""
    global _log_server
    with _state_lock:
        server, _log_server = _log_server, None
    if server is not None:
        server.stop()


def set_logger_address(addr: str | None, server_key: str | None = None) -> None:
    """Forward this process's log records (root logger) to the log server at ``addr``.

    ``server_key`` is the log server's CurveZMQ public key (non-loopback log servers).
    """
    global _log_sender, _logger_address, _logger_key
    with _state_lock:
        _logger_address = addr
        _logger_key = server_key
        if _log_sender is not None:
            logging.getLogger().removeHandler(_log_sender)
            _log_sender.close()
            _log_sender = None
        if addr is not None:
            _log_sender = LogSender(addr, logger="", server_key=server_key)


def get_logger_address() -> str | None:
    """Return the address of this process's LogServer, else the one set by :func:`set_logger_address`."""
    if _log_server is not None and _log_server.is_alive():
        return _log_server.address
    return _logger_address


def get_logger_key() -> str | None:
    """Return the CurveZMQ public key of the log server of :func:`get_logger_address` (None if plain)."""
    if _log_server is not None and _log_server.is_alive():
        return _log_server.public_key
    return _logger_key


def log_exceptions(logger: str = "lslacq.uncaught") -> None:
    """Log uncaught exceptions (main thread and other threads) as ERROR records."""
    log = logging.getLogger(logger)

    def excepthook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("Unhandled exception: %s", exc, exc_info=(exc_type, exc, tb))

    def thread_excepthook(args):
        if args.exc_type is SystemExit:
            return
        log.error(
            "Unhandled exception in thread %s: %s",
            getattr(args.thread, "name", "?"),
            args.exc_value,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook


class _StdioForwarder(io.TextIOBase):
    """File-like object that turns written lines into log records."""

    def __init__(self, logger_name: str, level: int, original):
        self._logger = logging.getLogger(logger_name)
        self._level = level
        self._original = original
        self._buffer = ""
        self._guard = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if getattr(self._guard, "active", False):  # logging itself writes to stderr: avoid a loop
            if self._original is not None:
                self._original.write(text)
            return len(text)
        self._guard.active = True
        try:
            self._buffer += text
            while "\n" in self._buffer:
                line, self._buffer = self._buffer.split("\n", 1)
                if line.strip():
                    self._logger.log(self._level, line)
        finally:
            self._guard.active = False
        return len(text)

    def flush(self) -> None:
        if self._buffer.strip():
            line, self._buffer = self._buffer, ""
            self.write(line + "\n")

    encoding = "utf-8"  # io.TextIOBase's is a read-only property

    def fileno(self) -> int:
        if self._original is None:
            raise io.UnsupportedOperation("fileno")
        return self._original.fileno()

    def isatty(self) -> bool:
        return False


def forward_stdio() -> None:
    """Send this process's ``print`` output and stderr text as log records ('stdout'/'stderr' loggers)."""
    if not isinstance(sys.stdout, _StdioForwarder):
        sys.stdout = _StdioForwarder("stdout", logging.INFO, sys.__stdout__)
    if not isinstance(sys.stderr, _StdioForwarder):
        sys.stderr = _StdioForwarder("stderr", logging.WARNING, sys.__stderr__)


_COLORS = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96]
_LEVEL_COLORS = {logging.WARNING: "33;1", logging.ERROR: "31;1", logging.CRITICAL: "41;97"}


class RPCLogHandler(logging.StreamHandler):
    """Stream handler that prints records with their source, coloured by host/process/thread.

    Parameters
    ----------
    stream : file-like, optional
        Where to write (default ``sys.stderr``).
    color : bool or None
        Use ANSI colours; default: only when the stream is a terminal.
    sort_delay : float
        Hold records this many seconds and write them in creation order (as
        pyacq's handler does). 0 (default) writes at once; records that come
        through a :class:`LogServer` are already sorted.
    """

    def __init__(self, stream=None, color: bool | None = None, sort_delay: float = 0.0):
        super().__init__(stream if stream is not None else sys.stderr)
        if color is None:
            isatty = getattr(self.stream, "isatty", None)
            color = bool(isatty and isatty())
        self.color = color
        self.sort_delay = float(sort_delay)
        self._source_colors: dict[str, int] = {}
        self._pending: list = []
        self._pending_lock = threading.Lock()
        # taken while due records are popped and written: two writers (the timer, a flush) keep the order
        self._write_lock = threading.RLock()
        self._writing = threading.local()  # StreamHandler.emit calls flush(): not a drain from inside a write
        self._counter = 0
        self._timer: threading.Timer | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record, or with ``sort_delay`` hold it that long to write records in creation order."""
        if self.sort_delay <= 0:
            super().emit(record)
            return
        with self._pending_lock:
            self._counter += 1
            heapq.heappush(self._pending, (record.created, self._counter, record))
            if self._timer is None:
                self._schedule()

    def _schedule(self) -> None:
        # a one-shot timer per batch: no thread outlives the records it has to write
        self._timer = threading.Timer(self.sort_delay, self._write_due)
        self._timer.daemon = True
        self._timer.start()

    def _write_due(self, everything: bool = False) -> None:
        with self._write_lock:
            limit = float("inf") if everything else time.time() - self.sort_delay
            due = []
            with self._pending_lock:
                while self._pending and self._pending[0][0] <= limit:
                    due.append(heapq.heappop(self._pending)[2])
                self._timer = None
                if self._pending and not everything:
                    self._schedule()
            self._writing.active = True
            try:
                for record in due:
                    super().emit(record)  # which calls flush(): it must not write later records first
            finally:
                self._writing.active = False

    def flush(self) -> None:
        """Write every held record, then flush the stream."""
        if self.sort_delay > 0 and self._pending and not getattr(self._writing, "active", False):
            self._write_due(everything=True)
        super().flush()

    def close(self) -> None:
        """Write what is held, then close the handler."""
        timer = self._timer
        if timer is not None:
            timer.cancel()
            if timer is not threading.current_thread():
                timer.join(1.0)  # no thread outlives the handler
        self.flush()
        super().close()

    def source(self, record: logging.LogRecord) -> str:
        """Return ``host:process:thread`` of the process that made ``record``."""
        host = getattr(record, "hostname", None) or _host_name
        proc = getattr(record, "process_name", None) or _process_name
        thread = getattr(record, "thread_name", None) or get_thread_name(record.thread)
        return f"{host}:{proc}:{thread}"

    def format(self, record: logging.LogRecord) -> str:
        """Return ``[time source] LEVEL logger: message`` (and the traceback, if any)."""
        source = self.source(record)
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created)) + f".{int(record.msecs):03d}"
        text = f"[{stamp} {source}] {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_text:
            text += "\n" + record.exc_text.rstrip()
        elif record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if not self.color:
            return text
        key = source.rsplit(":", 1)[0]
        color = self._source_colors.get(key)
        if color is None:
            color = _COLORS[len(self._source_colors) % len(_COLORS)]
            self._source_colors[key] = color
        level = _LEVEL_COLORS.get(record.levelno)
        body = f"\x1b[{level}m{text}\x1b[0m" if level else text
        return f"\x1b[{color}m\u2588\x1b[0m {body}"
