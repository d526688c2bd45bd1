"""dareplane-compatible log forwarding: JSON log records over TCP (port 9020).

Wire format (dareplane-utils 0.0.24): each record is a 4-byte big-endian
length followed by the LogRecord's ``__dict__`` as JSON; the receiver
re-creates it with :func:`logging.makeLogRecord` and hands it to the local
logging tree.

* :class:`JsonSocketHandler` sends records in that format. The message is
  formatted before sending and tracebacks travel as ``exc_text``, so a
  dareplane receiver prints them; records logged while no receiver runs are
  kept (up to ``backlog``) and sent once it is up.
* :func:`get_logger` is dareplane's ``get_logger`` without its global
  ``logging.config.dictConfig`` side effects.
* :class:`LogRecordSocketReceiver` receives from any dareplane or lslacq
  sender, tolerating the stringified records dareplane's handler falls back
  to, malformed JSON and bogus lengths (logged, never fatal).
"""

from __future__ import annotations

import collections
import json
import logging
import logging.handlers
import re
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from lslacq.core.tcp import Connection, TcpServer

__all__ = [
    "DEFAULT_LOG_PORT",
    "DAREPLANE_FORMAT",
    "JsonSocketHandler",
    "get_logger",
    "record_to_json",
    "record_from_dict",
    "LogRecordSocketReceiver",
]

DEFAULT_LOG_PORT = 9020
#: dareplane's standard log line format.
DAREPLANE_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"

_log = logging.getLogger(__name__)
_receiving = threading.local()  # set while a receiver dispatches a record: never forward it again


def _json_default(value):
    return str(value)


def record_to_json(record: logging.LogRecord) -> bytes:
    """Serialize a record the way dareplane's receiver expects it (without the length prefix).

    The message is formatted here (``args`` become ``[]``), the traceback is
    sent as ``exc_text`` and ``exc_info`` as None, everything else as JSON
    (non-JSON values as their ``str``).
    """
    d = dict(record.__dict__)
    message = record.getMessage()
    # dareplane's receiver applies ``msg % args`` when "%s" occurs in msg
    d["msg"] = message.replace("%", "%%") if "%s" in message else message
    d["args"] = []
    d.pop("message", None)
    if record.exc_info:
        if not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        d["exc_text"] = record.exc_text
    d["exc_info"] = None
    return json.dumps(d, default=_json_default).encode()


class JsonSocketHandler(logging.handlers.SocketHandler):
    """Send log records as length-prefixed JSON to a dareplane log server.

    Parameters
    ----------
    host : str
        Log server address (default ``"127.0.0.1"``).
    port : int
        Log server port (default 9020).
    backlog : int
        Records kept while the server is unreachable, sent once it accepts
        connections (oldest dropped first). 0 disables buffering.
    timeout : float
        Connect timeout in seconds; kept short so logging never stalls a module.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = DEFAULT_LOG_PORT, backlog: int = 1000, timeout: float = 1.0
    ):
        super().__init__(host, port)
        self.connect_timeout = float(timeout)
        self.backlog: collections.deque = collections.deque(maxlen=max(int(backlog), 1))
        self._keep = int(backlog) > 0
        self.dropped = 0

    def makeSocket(self, timeout=None):
        """Connect to the log server within ``timeout`` s (default: the handler's connect timeout)."""
        return super().makeSocket(timeout=self.connect_timeout if timeout is None else timeout)

    def makePickle(self, record: logging.LogRecord) -> bytes:
        """Return ``record`` as dareplane's wire format: a 4-byte big-endian length, then the JSON."""
        data = record_to_json(record)
        return struct.pack(">L", len(data)) + data

    def emit(self, record: logging.LogRecord) -> None:
        """Send ``record``, after the backlog; keep it in the backlog while the server is unreachable.

        Records a receiver in this process is dispatching are not sent (no loop).
        """
        if getattr(_receiving, "active", False):
            return  # a record a receiver in this process is dispatching: do not loop it back
        try:
            packet = self.makePickle(record)
        except Exception:
            self.handleError(record)
            return
        self.acquire()
        try:
            if len(self.backlog) == self.backlog.maxlen:
                self.dropped += 1
            self.backlog.append(packet)
            self._flush_backlog()
            if not self._keep:
                self.backlog.clear()
        finally:
            self.release()

    def _flush_backlog(self) -> None:
        if self.sock is None:
            self.createSocket()  # respects SocketHandler's retry back-off
        while self.sock is not None and self.backlog:
            try:
                self.sock.sendall(self.backlog[0])
            except OSError:
                self.sock.close()
                self.sock = None
                self.retryTime = None  # reconnect at the next record
                return
            self.backlog.popleft()

    def flush(self) -> None:
        """Try to send the buffered records now."""
        self.acquire()
        try:
            if self.backlog:
                self.retryTime = None
                self._flush_backlog()
        finally:
            self.release()


_handlers: dict[tuple[str, int], JsonSocketHandler] = {}
_handlers_lock = threading.Lock()


def _shared_handler(host: str, port: int) -> JsonSocketHandler:
    with _handlers_lock:
        handler = _handlers.get((host, port))
        if handler is None:
            handler = JsonSocketHandler(host, port)
            handler.setFormatter(logging.Formatter(DAREPLANE_FORMAT))
            _handlers[(host, port)] = handler
        return handler


def get_logger(
    name: str,
    add_console_handler: bool = False,
    colors: dict | None = None,
    no_socket_handler: bool = False,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_LOG_PORT,
    level: int | str | None = None,
) -> logging.Logger:
    """Return a logger that forwards to a dareplane log server (dareplane's ``get_logger``).

    Like dareplane's, the logger gets one shared JSON socket handler for
    ``host:port`` and does not propagate to the root logger. Unlike it, no
    global logging configuration is changed.

    Parameters
    ----------
    name : str
        Logger name.
    add_console_handler : bool
        Also print to stderr in dareplane's format.
    colors : dict, optional
        Accepted for compatibility (console colours need ``colorlog``; ignored otherwise).
    no_socket_handler : bool
        Do not forward to the log server.
    host, port : str, int
        Log server address (dareplane: 127.0.0.1:9020).
    level : int or str, optional
        Set the logger's level.
    """
    logger = logging.getLogger(name)
    if level is not None:
        logger.setLevel(level)
    has_socket = any(isinstance(h, JsonSocketHandler) for h in logger.handlers)
    if no_socket_handler:
        for h in [h for h in logger.handlers if isinstance(h, logging.handlers.SocketHandler)]:
            logger.removeHandler(h)
    elif not has_socket:
        logger.addHandler(_shared_handler(host, int(port)))
    if add_console_handler and not any(getattr(h, "_lslacq_console", False) for h in logger.handlers):
        console = logging.StreamHandler()
        console.setFormatter(_console_formatter(colors))
        console._lslacq_console = True
        logger.addHandler(console)
    logger.propagate = False
    return logger


def _console_formatter(colors: dict | None) -> logging.Formatter:
    try:
        import colorlog
    except ImportError:
        return logging.Formatter(DAREPLANE_FORMAT)
    log_colors = dict(colorlog.default_log_colors)
    log_colors.update({"DEBUG": "cyan"})
    log_colors.update(colors or {})
    return colorlog.ColoredFormatter(
        "%(log_color)s%(asctime)s - %(name)s - %(levelname)s - %(reset)s%(message)s", log_colors=log_colors
    )


_EXC_INFO_STR = re.compile(r"^\(<class '([\w.]+)'>, (.*), <traceback object at 0x[0-9a-fA-F]+>\)$", re.S)

_NUMERIC = {
    "created": float,
    "msecs": float,
    "relativeCreated": float,
    "levelno": int,
    "lineno": int,
    "process": int,
    "thread": int,
}


def record_from_dict(obj: dict) -> logging.LogRecord:
    """Rebuild a LogRecord from a received dict, tolerating dareplane's stringified fallback.

    dareplane's handler sends ``str()`` of every non-int value when a record
    does not serialize (for example with ``exc_info`` set): ``args`` arrive
    as ``"()"``, numbers as strings, None as ``"None"``. The record returned
    always formats without raising.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"log record must be a JSON object, got {type(obj).__name__}")
    d = dict(obj)
    for key, value in list(d.items()):
        if value == "None" and key not in ("msg", "name"):
            d[key] = None
    for key, conv in _NUMERIC.items():
        value = d.get(key)
        if key in d and (isinstance(value, bool) or not isinstance(value, (int, float))):
            try:
                d[key] = conv(float(value))
            except (TypeError, ValueError):
                d.pop(key)
    if "levelno" not in d:
        d["levelno"] = logging.getLevelName(str(d.get("levelname", "INFO")))
        if not isinstance(d["levelno"], int):
            d["levelno"] = logging.INFO
    d.setdefault("levelname", logging.getLevelName(d["levelno"]))
    exc_info = d.get("exc_info")
    if isinstance(exc_info, str) and exc_info and not d.get("exc_text"):
        # dareplane's fallback sent str(exc_info): keep the exception, the traceback is lost at the sender
        match = _EXC_INFO_STR.match(exc_info)
        d["exc_text"] = (match.group(2) if match else exc_info) + "  [traceback not forwarded by the sender]"
    d["exc_info"] = None  # cannot be rebuilt; the traceback text is in exc_text
    msg = d.get("msg", "")
    d["msg"] = msg if isinstance(msg, str) else str(msg)
    args = d.get("args")
    if isinstance(args, list):
        args = tuple(args)
    elif isinstance(args, str) or (args is not None and not isinstance(args, (tuple, dict))):
        args = None  # a str() of the original args: not usable for formatting
    d["args"] = args
    record = logging.makeLogRecord(d)
    if args == ():
        # lslacq's sender escapes "%" when the message contains "%s" (dareplane's receiver formats it)
        if "%%s" in record.msg:
            try:
                record.msg = record.msg % ()
            except (TypeError, ValueError):
                pass
        record.args = None
    try:
        record.getMessage()
    except Exception:
        record.msg = f"{record.msg} {record.args!r}"
        record.args = None
    return record


class LogRecordSocketReceiver(TcpServer):
    """Receive JSON log records from dareplane modules (dareplane's LogRecordSocketReceiver).

    Every record is dispatched to ``logging.getLogger(logname or record.name)``
    (as dareplane does), written to ``logfile`` if given, and passed to
    ``on_record``. Serve with :meth:`serve_until_stopped` (blocking, stops
    when ``abort`` is set) or :meth:`start` (background thread); stop with
    :meth:`shutdown`.

    Parameters
    ----------
    host : str
        Interface to bind (default 127.0.0.1).
    port : int
        Port (dareplane: 9020; 0 picks a free one, see ``port`` after creation).
    logfile : str or Path, optional
        Also append every record to this file in dareplane's format.
    logname : str, optional
        Dispatch every record to this logger instead of its own name.
    dispatch : bool
        Hand records to the local logging tree (default True).
    on_record : callable, optional
        Called with each rebuilt LogRecord (in the receiver thread).
    max_record_bytes : int
        Larger length prefixes are treated as a broken sender and its connection is dropped.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_LOG_PORT,
        logfile: str | Path | None = None,
        logname: str | None = None,
        *,
        dispatch: bool = True,
        on_record: Callable[[logging.LogRecord], None] | None = None,
        max_record_bytes: int = 16 << 20,
    ):
        self.host = host
        self.logname = logname
        self.dispatch = dispatch
        self.on_record = on_record
        self.max_record_bytes = int(max_record_bytes)
        self.abort = 0
        self.timeout = 0.5
        self.records_received = 0
        self.errors = 0
        self.error: BaseException | None = None
        self.logfile = Path(logfile) if logfile is not None else None
        self._file_handler: logging.Handler | None = None
        if self.logfile is not None:
            self._file_handler = logging.FileHandler(self.logfile, encoding="utf-8")
            self._file_handler.setFormatter(logging.Formatter(DAREPLANE_FORMAT))
        TcpServer.__init__(self, "log receiver", _log)
        try:
            self.port = self.listen(host, port, 16)
        except OSError:
            if self._file_handler is not None:
                self._file_handler.close()
            raise
        self.socket = self.server_socket
        self._thread: threading.Thread | None = None
        self._closed = False
        self._stopped = threading.Event()
        self._stopped.set()

    # ------------------------------------------------------------------ serve
    def serve_until_stopped(self) -> None:
        """Serve until ``abort`` is set or :meth:`shutdown` is called (blocking)."""
        self._stopped.clear()
        self.loop_thread = threading.current_thread()
        try:
            while not self.abort and not self._closed:
                self.poll_once(self.timeout)
        except BaseException as exc:
            self.error = exc
            if not isinstance(exc, KeyboardInterrupt):
                _log.exception("log receiver on %s:%d failed", self.host, self.port)
            raise
        finally:
            self._stopped.set()
            self._close()

    def start(self) -> LogRecordSocketReceiver:
        """Serve in a background thread; returns self."""
        self._stopped.clear()
        self._thread = threading.Thread(target=self.serve_until_stopped, name=f"log-receiver-{self.port}", daemon=True)
        self._thread.start()
        return self

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop serving and close every socket and the log file."""
        self.abort = 1
        self.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            self._thread = None
        elif self._stopped.is_set():
            self._close()

    def __enter__(self) -> LogRecordSocketReceiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.shutdown()

    # ------------------------------------------------------ TcpServer hooks
    def make_connection(self, sock: socket.socket, peer: tuple) -> Connection:
        """Return the connection of an accepted sender, with the buffer of its partial record."""
        conn = Connection(sock, peer)
        conn.buffer = bytearray()  # type: ignore[attr-defined]  # bytes of the record being received
        return conn

    def on_data(self, conn: Connection, data: bytes) -> None:
        """Take the length-prefixed records out of ``data`` and dispatch them (in the receiver thread)."""
        try:
            self._frame(conn, data)
        except Exception:  # a bug must cost one sender, not the receiver
            self.errors += 1
            raise

    def _frame(self, conn: Connection, data: bytes) -> None:
        buf = conn.buffer  # type: ignore[attr-defined]
        buf += data
        while len(buf) >= 4:
            (length,) = struct.unpack(">L", buf[:4])
            if length > self.max_record_bytes:
                self.errors += 1
                _log.error(
                    "log receiver: sender announced a %d-byte record (limit %d); not a dareplane log sender? "
                    "dropping its connection",
                    length,
                    self.max_record_bytes,
                )
                conn.broken = True
                return
            if len(buf) < 4 + length:
                break
            payload = bytes(buf[4 : 4 + length])
            del buf[: 4 + length]
            self._handle_payload(payload)

    def _handle_payload(self, payload: bytes) -> None:
        try:
            record = record_from_dict(json.loads(payload))
            if not isinstance(record.name, str):
                record.name = str(record.name)
        except Exception as exc:  # bad input from a socket: log and drop, never stop receiving
            self.errors += 1
            _log.warning("log receiver: dropped a malformed record (%s): %r", exc, payload[:200])
            return
        self.records_received += 1
        _receiving.active = True
        try:
            if self.dispatch:
                logging.getLogger(self.logname or record.name).handle(record)
            if self._file_handler is not None:
                self._file_handler.handle(record)
            if self.on_record is not None:
                self.on_record(record)
        except Exception:
            self.errors += 1
            _log.exception("log receiver: handling a record failed")
        finally:
            _receiving.active = False

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.close_sockets()
        if self._file_handler is not None:
            self._file_handler.close()

    def __repr__(self) -> str:
        return f"<LogRecordSocketReceiver {self.host}:{self.port} records={self.records_received}>"
