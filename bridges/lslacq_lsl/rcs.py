"""LabRecorder's remote control socket (RCS) for ``lslacq record --rcs``: scripts written for LabRecorder drive lslacq.

The protocol is LabRecorder's: TCP, one command per line, answered with
``OK`` (no newline), as LabRecorder does:

* ``select all`` / ``select none``: the streams to record;
* ``start``: record to the file the filename fields name (LabRecorder's
  ``start`` selects every stream first, and so does this one);
* ``stop``: stop and close the file (footers written);
* ``update``: look for streams again;
* ``filename {root:DIR} {template:NAME.xdf} {task:T} {run:N} {participant:P} {session:S} {acquisition:A}
  {modality:M}``: any subset, in any order. Without a template the name is
  LabRecorder's BIDS one, ``sub-%p/ses-%s/%m/sub-%p_ses-%s_task-%b[_acq-%a]_run-%r_%m.xdf``;
  a template is lower-cased (LabRecorder does) and uses ``%n`` for the run.
  Fields: ``%p`` participant, ``%s`` session, ``%b`` task, ``%n``/``%r``
  run (3 digits), ``%a`` acquisition, ``%m`` modality.

Commands that cannot be done (``start`` while required streams are missing,
``start`` while recording, an unknown command) are answered
``ERROR: <why>`` instead, and said on the console; scripts that do not read
the replies are unaffected. An existing file is renamed ``NAME_oldN.xdf``
before recording (LabRecorder's rule: nothing is overwritten).
"""

from __future__ import annotations

import logging
import os
import re
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path

import pylsl

__all__ = ["RcsController", "RcsServer", "DEFAULT_PORT", "BIDS_TEMPLATE", "OPTION_PATTERN"]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 22345
BIDS_TEMPLATE = "sub-%p/ses-%s/%m/sub-%p_ses-%s_task-%b[_acq-%a]_run-%r_%m.xdf"
#: one ``{option:value}`` of LabRecorder's ``filename`` command (the characters a value may hold)
OPTION_PATTERN = re.compile(r"{(?P<option>[a-zA-Z]+):(?P<value>[^{}\n\r?*|<>\"]+)}", re.IGNORECASE)


class RcsController:
    """The state LabRecorder's commands act on: selection, filename fields, the current recording.

    Parameters
    ----------
    root : str or path
        Study root (``{root:...}`` changes it).
    names : list of str, optional
        Only streams with these names are candidates (default: every
        visible stream, as LabRecorder).
    require : list of str
        Stream names (or LabRecorder's ``"NAME (HOST)"``) that must be
        present for ``start`` to record.
    record : callable
        ``record(path, infos)`` starts a recording and returns an object with
        ``stop()`` (default: :class:`~lslacq_lsl.xdf_record.LslXdfRecording`).
    say : callable
        Where console messages go (default: print).
    """

    def __init__(
        self,
        root: str | os.PathLike = ".",
        names=None,
        require=(),
        record: Callable | None = None,
        say: Callable[[str], None] = print,
        wait_time: float = 1.0,
    ):
        self.fields = dict(
            root=os.fspath(root),
            template="",
            task="Default",
            run=1,
            participant="P001",
            session="S001",
            acquisition="",
            modality="eeg",
        )
        self.names = list(names) if names else None
        self.require = list(require)
        self.wait_time = wait_time
        self._record = record or _default_record
        self.say = say
        self.visible: dict[str, pylsl.StreamInfo] = {}
        self.selected: set[str] = set()
        self.recording = None
        self.path: Path | None = None
        self.lock = threading.Lock()

    # -- the commands ----------------------------------------------------------------
    def handle(self, line: str) -> str:
        """Run one command line; return the reply (``OK`` or ``ERROR: ...``)."""
        text = line.strip()
        with self.lock:
            try:
                if not text:
                    return "OK"
                if text == "start":
                    self.start()
                elif text == "stop":
                    self.stop()
                elif text == "update":
                    self.refresh()
                elif "filename" in text:
                    self.set_filename(text)
                elif "select" in text and "all" in text:
                    self.refresh()
                    self.selected = set(self.visible)
                elif "select" in text and "none" in text:
                    self.selected = set()
                else:
                    raise ValueError(
                        f"unknown command {text!r}; LabRecorder's commands are select all, select "
                        "none, start, stop, update, filename {root:...} {template:...} ..."
                    )
            except (ValueError, RuntimeError, OSError) as exc:
                self.say(f"RCS: {text!r} refused: {exc}")
                return f"ERROR: {exc}"
        return "OK"

    def refresh(self) -> dict:
        """Look for streams (``update``); return ``{"NAME (HOST)": info}``."""
        infos = pylsl.resolve_streams(wait_time=self.wait_time)
        visible = {}
        for info in infos:
            if self.names is not None and info.name() not in self.names:
                continue
            visible[f"{info.name()} ({info.hostname()})"] = info
        self.visible = visible
        return visible

    def missing(self) -> list[str]:
        """Return the required streams that are not visible."""
        names = {info.name() for info in self.visible.values()}
        return [r for r in self.require if r not in names and r not in self.visible]

    def set_filename(self, text: str) -> None:
        """``filename {option:value}...``: LabRecorder's options (unknown ones are ignored, as it does)."""
        for match in OPTION_PATTERN.finditer(text):
            option, value = match.group("option").lower(), match.group("value")
            if option == "run":
                try:
                    self.fields["run"] = int(value.strip())
                except ValueError:
                    self.fields["run"] = 0  # LabRecorder's QString::toInt
            elif option == "template":
                self.fields["template"] = value.lower()
            elif option == "modality":
                self.fields["modality"] = value.lower()
            elif option in self.fields:
                self.fields[option] = value

    def filename(self) -> Path:
        """Return the file the current fields name (LabRecorder's replacement rules)."""
        f = self.fields
        template, counter = f["template"], "%n"
        if not template:  # BIDS, the default
            template = BIDS_TEMPLATE.replace("[_acq-%a]", "_acq-%a" if f["acquisition"] else "")
            counter = "%r"
        name = template.replace("%b", str(f["task"]))
        for key, field in (("%p", "participant"), ("%s", "session"), ("%a", "acquisition"), ("%m", "modality")):
            name = name.replace(key, str(f[field]))
        name = name.replace(counter, f"{int(f['run']):03d}")
        return Path(f["root"]) / name

    def start(self) -> None:
        """``start``: select every visible stream and record them to :meth:`filename`.

        An existing file is renamed ``<stem>_old<k>`` first, as LabRecorder does.

        Raises
        ------
        RuntimeError
            If already recording, a required stream is missing, no stream is
            visible, or the file name is a directory.
        """
        if self.recording is not None:
            raise RuntimeError(f"already recording to {self.path}; send stop first")
        self.refresh()
        self.selected = set(self.visible)  # LabRecorder's start selects every stream
        missing = self.missing()
        if missing:
            raise RuntimeError(
                f"required streams missing: {', '.join(missing)} (visible: "
                f"{', '.join(sorted(self.visible)) or 'none'}); start them, then send start again"
            )
        if not self.selected:
            raise RuntimeError(
                "no stream to record is visible" + (f" (looking for {self.names})" if self.names else "")
            )
        path = self.filename()
        if path.is_dir():
            raise RuntimeError(f"{path} is a directory")
        if path.exists():
            k = 1
            while path.with_name(f"{path.stem}_old{k}{path.suffix}").exists():
                k += 1
            old = path.with_name(f"{path.stem}_old{k}{path.suffix}")
            path.rename(old)
            self.say(f"RCS: moved the existing {path} to {old}")
        path.parent.mkdir(parents=True, exist_ok=True)
        infos = [self.visible[k] for k in sorted(self.selected)]
        self.recording = self._record(path, infos)
        self.path = path
        self.say(f"RCS: recording {', '.join(sorted(self.selected))} to {path}")

    def stop(self) -> None:
        """``stop``: finish the recording (says so if there is none)."""
        if self.recording is None:
            self.say("RCS: stop: not recording")
            return
        recording, self.recording = self.recording, None
        recording.stop()
        self.say(f"RCS: recording finished: {self.path}")

    def close(self) -> None:
        """Stop the recording, if any."""
        with self.lock:
            if self.recording is not None:
                self.stop()


def _default_record(path: Path, infos: list):
    from .xdf_record import LslXdfRecording

    return LslXdfRecording(path, infos)


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        controller: RcsController = self.server.controller
        for raw in self.rfile:
            line = raw.decode("utf-8", errors="replace")
            reply = controller.handle(line)
            try:
                self.wfile.write(reply.encode("utf-8"))
                self.wfile.flush()
            except OSError:
                return


class RcsServer(socketserver.ThreadingTCPServer):
    """The remote control socket: ``RcsServer(controller, port).serve_forever()`` (port 0: any free port).

    Binds 127.0.0.1 only: LabRecorder's protocol has no authentication, and
    lslacq exposes nothing unauthenticated beyond this host.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, controller: RcsController, port: int = DEFAULT_PORT, host: str = "127.0.0.1"):
        self.controller = controller
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        """The port the server listens on (the one chosen when created with port 0)."""
        return self.server_address[1]
