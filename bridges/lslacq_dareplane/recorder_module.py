"""The LSL recorder as a dareplane module: LabRecorder's remote-control commands as primary commands.

``lslacq dareplane record --port 8082 -o DATA`` (or, as a control room
launches modules, ``python -m lslacq_dareplane.recorder_module --port=8082
--root=DATA``) serves ``lslacq record --rcs``'s recorder on the dareplane
module protocol. Every command is turned into the line a LabRecorder script
sends and handed to the same :class:`~lslacq_lsl.rcs.RcsController`, so the
two front ends cannot drift apart:

``SELECT_ALL`` / ``SELECT_NONE`` / ``UPDATE``
    ``select all`` / ``select none`` / ``update``.
``FILENAME|{"root": "DATA", "template": "exp%n/block_%b.xdf", "task": "oddball", "run": 3, ...}``
    ``filename {root:DATA} {template:...} ...``: the fields root, template,
    participant, session, task, run, acquisition, modality and
    LabRecorder's ``%p %s %b %n %r %a %m`` template fields.
``START``
    ``start``: record every visible stream to the file the fields name
    (refused, naming them, while ``--require`` streams are missing). Returns
    a ``(Thread, Event)`` pair, so dareplane's built-in ``STOP`` ends the
    recording too.
``STOPRECORD``
    ``stop``: finish the file (footers written).
``STATUS``
    One JSON line: state, the file being recorded and the next one, the
    fields, visible/selected/missing streams, samples per stream, bytes
    written, errors.
``RECORD`` / ``SET_SAVE_PATH|{"fname": "run1", "data_root": "DATA"}``
    The names of dareplane's own LabRecorder module (``dp-lsl-recording``:
    ``SELECT_ALL``, ``SET_SAVE_PATH``, ``UPDATE``, ``RECORD``,
    ``STOPRECORD``), so a control room set up for it drives this one
    unchanged.

A refused command gets the dareplane server's ``ERROR ...`` line with the
reason LabRecorder's socket would answer (``required streams missing: EEG
(visible: ...)``); a command that worked gets nothing back, as every
dareplane command.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .served import ServedModule
from .server import DefaultServer

__all__ = ["RecorderModule", "RECORDER_PCOMMS", "FILENAME_FIELDS", "add_record_parser", "main"]

#: Primary commands a RecorderModule adds to the built-in ones.
RECORDER_PCOMMS = (
    "SELECT_ALL",
    "SELECT_NONE",
    "UPDATE",
    "FILENAME",
    "START",
    "STOPRECORD",
    "STATUS",
    "RECORD",
    "SET_SAVE_PATH",
)
#: The fields of LabRecorder's ``filename`` command (FILENAME's keys).
FILENAME_FIELDS = ("root", "template", "participant", "session", "task", "run", "acquisition", "modality")


class RecorderModule(ServedModule):
    """Serve an LSL-to-XDF recorder driven by LabRecorder's commands as a dareplane module.

    Parameters
    ----------
    root : str or path
        Study root: where files go (``FILENAME|{"root": ...}`` changes it).
    names : list of str, optional
        Only LSL streams with these names are recorded (default: every
        visible stream, as LabRecorder).
    require : list of str
        Stream names that must be visible for START to record.
    port, ip : int, str
        Where the module server listens (default 8080 on 127.0.0.1).
    name : str
        Module name (banner).
    flush_interval : float
        Longest time (s) data waits in memory before reaching the file.
    timeout : float
        Seconds to wait for each stream's description when recording starts.
    wait_time : float
        Seconds LSL stream discovery takes at SELECT_ALL, UPDATE and START.
    record : callable, optional
        ``record(path, infos)`` returning an object with ``stop()``,
        ``error``, ``counts()`` and ``writer.bytes_written`` (default:
        :class:`~lslacq_lsl.xdf_record.LslXdfRecording`).
    supervise_interval_s : float
        How often a running recording is checked for failures.
    server_kwargs
        Passed to :class:`DefaultServer`.
    """

    def __init__(
        self,
        root: str | Path = ".",
        names=None,
        require=(),
        *,
        port: int = 8080,
        ip: str = "127.0.0.1",
        name: str = "lslacq_recorder",
        flush_interval: float = 1.0,
        timeout: float = 5.0,
        wait_time: float = 1.0,
        record: Callable | None = None,
        supervise_interval_s: float = 0.25,
        logger: logging.Logger | None = None,
        **server_kwargs,
    ):
        from lslacq_lsl.rcs import RcsController  # pylsl: imported only when a recorder is served

        if not flush_interval > 0:
            raise ValueError(f"RecorderModule: flush_interval must be > 0 s, got {flush_interval!r}")
        self.name = name
        self.logger = logger or logging.getLogger("lslacq_dareplane.recorder")
        self.flush_interval = float(flush_interval)
        self.timeout = float(timeout)
        self.supervise_interval_s = float(supervise_interval_s)
        self.controller = RcsController(
            root=root,
            names=names,
            require=require,
            record=record or self._record,
            say=self.logger.info,
            wait_time=wait_time,
        )
        self.failures: list[str] = []
        self.last_file: str | None = None
        self._lock = threading.RLock()
        self._supervisor: tuple[threading.Thread, threading.Event] | None = None
        pcommands = {
            "SELECT_ALL": self.select_all,
            "SELECT_NONE": self.select_none,
            "UPDATE": self.update,
            "FILENAME": self.filename,
            "START": self.start,
            "STOPRECORD": self.stop_record,
            "STATUS": self.status,
            "RECORD": self.start,
            "SET_SAVE_PATH": self.set_save_path,
        }
        self.server = DefaultServer(port, ip=ip, name=name, pcommand_map=pcommands, logger=logger, **server_kwargs)

    def _record(self, path: Path, infos: list):
        from lslacq_lsl.xdf_record import LslXdfRecording

        return LslXdfRecording(path, infos, flush_interval=self.flush_interval, timeout=self.timeout)

    def _rcs(self, line: str) -> None:
        """Run one LabRecorder command line through the RCS parser; a refusal raises with its reason."""
        reply = self.controller.handle(line)
        if reply != "OK":
            raise RuntimeError(reply.removeprefix("ERROR: "))

    # -------------------------------------------------------------- commands
    def select_all(self) -> int:
        """SELECT_ALL: look for streams and select every one (``select all``)."""
        self._rcs("select all")
        return 0

    def select_none(self) -> int:
        """SELECT_NONE: ``select none``."""
        self._rcs("select none")
        return 0

    def update(self) -> int:
        """UPDATE: look for streams again (``update``)."""
        self._rcs("update")
        return 0

    def filename(self, **fields: Any) -> int:
        """FILENAME: LabRecorder's ``filename {root:...} {template:...} ...`` from keyword fields."""
        from lslacq_lsl.rcs import OPTION_PATTERN

        if not fields:
            raise ValueError(
                'FILENAME needs at least one field, e.g. FILENAME<pipe>{"participant": "P01", '
                f'"run": 2}}; the fields are {", ".join(FILENAME_FIELDS)}'
            )
        unknown = sorted(set(fields) - set(FILENAME_FIELDS))
        if unknown:
            raise ValueError(
                f"FILENAME: unknown field(s) {', '.join(unknown)}; LabRecorder's fields are "
                f"{', '.join(FILENAME_FIELDS)}"
            )
        parts = []
        for key, value in fields.items():
            part = f"{{{key}:{value}}}"
            if isinstance(value, (dict, list, bool)) or value is None or not OPTION_PATTERN.fullmatch(part):
                raise ValueError(
                    f"FILENAME: {key}={value!r} is not a value LabRecorder's filename command can carry: "
                    'give a non-empty text or number without braces, newlines or ?*<>" (nor a pipe)'
                )
            parts.append(part)
        self._rcs("filename " + " ".join(parts))
        return 0

    def set_save_path(self, fname: str, data_root: str | None = None, overwrite: bool = False) -> int:
        """SET_SAVE_PATH: dp-lsl-recording's command: record next to ``data_root/fname.xdf``.

        An existing file gets a ``_YYYYmmddHHMMSS`` suffix on the new name
        unless ``overwrite`` (then the old file is renamed ``_oldN``, as
        LabRecorder does: nothing is ever overwritten).
        """
        root = Path(data_root) if data_root is not None else Path(self.controller.fields["root"])
        name = str(fname) if str(fname).lower().endswith(".xdf") else f"{fname}.xdf"
        path = root / name
        if path.exists() and not overwrite:
            path = path.with_name(f"{path.stem}_{time.strftime('%Y%m%d%H%M%S')}{path.suffix}")
        return self.filename(root=str(path.parent), template=path.name)

    def start(self):
        """START (and RECORD): record to the file the fields name; return the supervisor ``(Thread, Event)``."""
        with self._lock:
            if self.controller.recording is not None:
                raise RuntimeError(f"already recording to {self.controller.path}; send STOPRECORD (or STOP) first")
            self._rcs("start")
            recording, path = self.controller.recording, self.controller.path
            self.last_file = str(path)
            event = threading.Event()
            thread = threading.Thread(
                target=self._supervise, args=(recording, event), name=f"{self.name}-recording", daemon=True
            )
            thread.start()
            self._supervisor = (thread, event)
            return thread, event

    def _supervise(self, recording, event: threading.Event) -> None:
        """Watch the recording until told to stop or it fails; then finish its file."""
        while not event.wait(self.supervise_interval_s):
            if getattr(recording, "error", None) is not None:
                msg = f"recording {self.last_file} failed: {recording.error}"
                self.failures.append(msg)
                self.logger.error("%s: %s", self.name, msg)
                break
        if self.controller.recording is recording:
            try:
                self._rcs("stop")
            except RuntimeError as exc:  # closing the file failed (the reason is in the text)
                self.failures.append(f"closing {self.last_file} failed: {exc}")
                self.logger.error("%s: closing %s failed: %s", self.name, self.last_file, exc)

    def stop_record(self) -> int:
        """STOPRECORD: stop recording and finish the file (``stop``)."""
        with self._lock:
            sup, self._supervisor = self._supervisor, None
            if sup is None:
                self._rcs("stop")  # not recording: said on the console, as LabRecorder's stop
                return 0
            thread, event = sup
            event.set()
            if thread is not threading.current_thread():
                thread.join(60)
        return 0

    def status_dict(self) -> dict:
        """Return the STATUS reply as a dict."""
        c = self.controller
        recording = c.recording
        info: dict[str, Any] = {
            "module": self.name,
            "state": "recording" if recording is not None else "idle",
            "file": str(c.path) if recording is not None else None,
            "last_file": self.last_file,
            "next_file": str(c.filename()),
            "fields": dict(c.fields),
            "visible": sorted(c.visible),
            "selected": sorted(c.selected),
            "required": list(c.require),
            "missing": c.missing(),
            "streams": {},
            "bytes_written": None,
            "error": None,
            "failures": list(self.failures),
        }
        if recording is not None:
            info["streams"] = dict(recording.counts()) if hasattr(recording, "counts") else {}
            writer = getattr(recording, "writer", None)
            info["bytes_written"] = getattr(writer, "bytes_written", None)
            error = getattr(recording, "error", None)
            info["error"] = None if error is None else f"{type(error).__name__}: {error}"
        return info

    def _finish(self) -> None:
        """After the server: finish any recording."""
        if self._supervisor is not None:
            self.stop_record()
        self.controller.close()


# --------------------------------------------------------------------- command line
def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8080, help="TCP port of the module server (default 8080)")
    parser.add_argument(
        "--ip",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1; 0.0.0.0 exposes the module, which has no "
        "authentication, to the network)",
    )
    parser.add_argument("--name", default="lslacq_recorder", help="module name in the banner")
    parser.add_argument(
        "-o",
        "--root",
        default=".",
        metavar="DIR",
        help='study root: where files go (FILENAME {"root": ...} changes it; default: here)',
    )
    parser.add_argument(
        "--lsl",
        nargs="+",
        action="extend",
        metavar="NAME",
        help="only these LSL streams are recorded (default: every visible stream)",
    )
    parser.add_argument(
        "--require",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        help="START refuses, naming them, while these streams are missing",
    )
    parser.add_argument(
        "--flush-interval",
        "--flush_interval",
        type=float,
        default=1.0,
        metavar="S",
        help="longest time data waits in memory before reaching the file (default 1 s)",
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="seconds to wait for a stream's description at START"
    )
    parser.add_argument("--loglevel", default="INFO", help="log level, name or number (dareplane passes 10)")
    parser.add_argument(
        "--log-server",
        "--log_server",
        default="127.0.0.1:9020",
        metavar="HOST:PORT",
        help="forward logs to this dareplane log server (default 127.0.0.1:9020; 'none' to disable)",
    )


def run_record_module(args) -> int:
    """Serve a RecorderModule from parsed arguments until CLOSE (or SIGTERM/Ctrl-C); return the exit code."""
    from .cli import setup_logging

    if Path(args.root).exists() and not Path(args.root).is_dir():
        print(f"lslacq dareplane record: the study root {args.root!r} is a file; give a directory", file=sys.stderr)  # noqa: T201
        return 2
    try:
        setup_logging(args.loglevel, args.log_server)
        module = RecorderModule(
            args.root,
            names=args.lsl,
            require=args.require,
            port=args.port,
            ip=args.ip,
            name=args.name,
            flush_interval=args.flush_interval,
            timeout=args.timeout,
        )
        module.server.init_server()
    except (ValueError, OSError, ImportError) as exc:
        print(f"lslacq dareplane record: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    where = f"{module.server.ip}:{module.server.port}"
    print(f"module {module.name!r} (LSL recorder, root {args.root!r}) serving on {where}", flush=True)  # noqa: T201
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: module.server.shutdown())
    try:
        module.serve()
    except KeyboardInterrupt:  # Ctrl-C: a normal stop, the file is finished
        module.close()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def add_record_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``lslacq dareplane record`` to the ``lslacq dareplane`` sub-commands."""
    parser = subparsers.add_parser(
        "record",
        help="serve the LSL recorder (LabRecorder's commands) as a dareplane module",
        description="Serve an LSL-to-XDF recorder as a dareplane module: primary commands SELECT_ALL, SELECT_NONE, "
        "UPDATE, FILENAME|{root, template, participant, session, task, run, acquisition, modality}, "
        "START, STOPRECORD, STATUS (and dp-lsl-recording's RECORD, SET_SAVE_PATH); the same recorder "
        "as lslacq record --rcs.",
    )
    _add_arguments(parser)
    parser.set_defaults(func=run_record_module)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m lslacq_dareplane.recorder_module --port=8082 --root=DATA``: how a control room launches it."""
    parser = argparse.ArgumentParser(
        prog="python -m lslacq_dareplane.recorder_module",
        description="Serve the lslacq LSL recorder as a dareplane module.",
    )
    _add_arguments(parser)
    return run_record_module(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
