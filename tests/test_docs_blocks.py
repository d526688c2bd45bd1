"""Every command and Python block of README.md and docs/*.md runs as written (those that need no hardware).

Python: each file's blocks run in order in one session (tests/docs/run_blocks.py), as a reader pasting them
would. A block may need what a test machine has not got (a device, another host, a user's file: its error
says so, and it is reported, not failed) or be a fragment of the prose around it: FRAGMENTS lists those, with
why. Any other failure means the docs are wrong.

Shell: every ``lslacq ...`` / ``python -m lslacq_dareplane ...`` line is parsed by the real command line
parser, and those that need no hardware, other machine or user file are run: one that runs until Ctrl-C
gets SIGINT BUDGET seconds after its first output (its start-up is not counted) and must stop with exit status
0 and no traceback (``lslacq demo`` runs in the background meanwhile, for the commands that read its streams).
Commands run PARALLEL at a time; those that share a port or a directory run one after the other.
The files' Python sessions run PARALLEL_FILES at a time, never alongside the commands.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNER = Path(__file__).parent / "docs" / "run_blocks.py"

#: (file, first code line) of Python blocks that are fragments of their prose (names from the text around
#: them, or a situation the text describes), with why
FRAGMENTS = {
    ("docs/devices.md", "from lslacq.devices import PyAudio"): "needs a sound card (default_input_device() is None)",
    ("docs/devices.md", "dev = nodegroup.create_node('WebCamAV', name='cam0')"): "a nodegroup of the text, a camera",
    ("docs/distributed.md", "import lslacq"): "another machine (10.0.0.103) running lslacq host",
    (
        "docs/distributed.md",
        "manager = create_manager(address='tcp://0.0.0.0:*', log_address='tcp://0.0.0.0:*',",
    ): "the keys/ directory made by lslacq keygen, another machine",
    (
        "docs/dsp.md",
        "from lslacq.dsp import design_sos, overlap_filtfilt_error, suggest_overlapsize",
    ): "the reader's recorded data",
    ("docs/bci.md", "from lslacq.bci import Epocher"): "a filter node of the text",
    ("docs/bci.md", "from lslacq.bci import epochs_from_recording"): "the reader's recording and event_id",
    ("docs/dsp.md", "from lslacq.dsp import EVENT_DTYPE, make_events"): "an output stream of the text",
    ("docs/dsp.md", "trig = AnalogTrigger()"): "continues the DSP text (imports above)",
    ("docs/dsp.md", "acc = TriggerAccumulator()"): "continues the DSP text (imports above)",
    ("docs/lsl.md", "import pyxdf"): "a recording.xdf made with LabRecorder",
    ("docs/lsl.md", "from lslacq_lsl import LslOutlet"): "a device node of the text",
    ("docs/recording.md", "from lslacq.rec import RawRecorder"): "a device node of the text",
    ("docs/recording.md", "from lslacq.rec import XdfRecorder"): "a device node of the text",
    ("docs/recording.md", "from lslacq.rec import AviRecorder"): "a webcam node of the text",
    ("docs/rpc.md", "server = RPCServer()"): "continues the RPC text (imports above)",
    (
        "docs/rpc.md",
        "from lslacq.core.rpc import RPCServer, RPCClient, security",
    ): "the keys/ and clients/ directories made by lslacq keygen, another machine",
    (
        "docs/streams.md",
        "inp.connect(out, max_buffered=5.0)              # may fall 5 s behind, then loses the oldest",
    ): "streams of the text",
    ("docs/viewers.md", "import pyqtgraph as pg"): "a device node of the text",
    ("docs/viewers.md", "from lslacq.viewers import QOscilloscopeMultiPlot"): "a device node of the text",
    ("docs/viewers.md", "viewer = QTriggeredOscilloscope()"): "continues the viewer text (imports above)",
    ("docs/viewers.md", "viewer = QTimeFreq()"): "continues the viewer text (imports above)",
    ("docs/viewers.md", "viewer = ImageViewer()"): "continues the viewer text (imports above)",
    ("docs/viewers.md", "man = lslacq.create_manager()"): "continues the viewer text (imports above)",
}

#: shell lines that are parsed but not run, by the reason they cannot run here
NOT_RUN = [
    (r"\b(10\.0\.0\.|192\.168\.)", "another machine"),
    (r"/data/|sub-01|session\.xdf|recording\.xdf|\bgraph\.toml\b", "the reader's own file"),
    (r"bridge audio|jack-dummy", "a sound card (or jackd)"),
    (r"\bMyAmp\b|\bMyEEG\b", "the reader's own stream"),
    (r"\[--", "a synopsis"),
    (r"^python benchmarks/", "a benchmark (run by hand)"),
]

#: seconds a command runs before it gets Ctrl-C
BUDGET = 5.0


#: docs files whose Python blocks run at once (each in its own session; their streams have distinct names)
PARALLEL_FILES = 4


class _BlockSessions:
    """The run_blocks.py sessions of the selected docs files, PARALLEL_FILES at a time, in the tests' order.

    A file's session is started before its test asks for it, so the sessions' waits (a block that waits for a
    stream, a server or its time budget) overlap; each test reads only its own file's results.
    """

    def __init__(self, paths: list[Path], outdir: Path):
        self.queue = list(paths)
        self.outdir = outdir
        self.running: dict[Path, tuple[subprocess.Popen, Path, Path]] = {}
        self._fill()

    def _start(self, path: Path) -> None:
        self.queue.remove(path)
        out, err = (self.outdir / f"{path.stem}.{kind}" for kind in ("out", "err"))
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        with open(out, "w") as stdout, open(err, "w") as stderr:
            proc = subprocess.Popen(
                [sys.executable, str(RUNNER), str(path.relative_to(ROOT)), "15"],
                stdout=stdout,
                stderr=stderr,
                text=True,
                cwd=ROOT,
                env=env,
            )
        self.running[path] = (proc, out, err)

    def _fill(self) -> None:
        while self.queue and sum(p.poll() is None for p, _o, _e in self.running.values()) < PARALLEL_FILES:
            self._start(self.queue[0])

    def results(self, path: Path) -> list[dict]:
        if path not in self.running:
            self._start(path)
        proc, out, err = self.running[path]
        try:
            proc.wait(timeout=600)
        finally:
            self._fill()
        results = [json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")]
        assert proc.returncode == 0, err.read_text()[-2000:]
        return results

    def close(self) -> None:
        for proc, _out, _err in self.running.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


@pytest.fixture(scope="module")
def block_sessions(request, tmp_path_factory):
    selected = [
        item.callspec.params["path"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_python_blocks_of_the_docs_run" and item.module is request.module
    ]
    sessions = _BlockSessions(selected, tmp_path_factory.mktemp("docs-blocks"))
    yield sessions
    sessions.close()


@pytest.mark.slow
@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_python_blocks_of_the_docs_run(path, block_sessions):
    rel = str(path.relative_to(ROOT))
    wrong = []
    for result in block_sessions.results(path):
        if (
            result["status"] == "error"
            and (rel, result["first"]) not in FRAGMENTS
            and not result["first"].startswith(">>>")
        ):  # a session transcript, shown not run
            wrong.append(f"{rel}:{result['line']}: {result['detail']}")
    assert not wrong, "\n".join(wrong)


def shell_commands() -> list[tuple[str, int, str]]:
    """``(file, line, command)`` of every lslacq command line of the docs' shell and console blocks."""
    fence = re.compile(r"^```(\w*)")
    found = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        lang = None
        for number, line in enumerate(lines, 1):
            m = fence.match(line)
            if m:
                lang = None if lang is not None else m.group(1)
                continue
            if lang not in ("bash", "sh", "console", "shell", ""):
                continue
            text = line.strip()
            if lang == "console":
                if not text.startswith("$ "):
                    continue  # output
                text = text[2:]
            text = re.sub(r"\s+#.*$", "", text).strip()
            if re.match(r"^lslacq [\w-]+:", text):
                continue  # output a command printed ("lslacq demo: published ...")
            for part in text.split("&&"):  # pip install -e ".[lsl]" && lslacq demo --duration 10
                part = part.strip()
                if re.match(r"^(lslacq|python -m lslacq_dareplane|python benchmarks/)\b", part):
                    found.append((str(path.relative_to(ROOT)), number, part))
    return found


def test_every_documented_command_line_parses():
    from lslacq.cli import build_parser

    commands = shell_commands()
    assert len(commands) > 30
    parser = build_parser()
    for rel, number, text in commands:
        if text.startswith(("python ", "python3 ")) or "[--" in text:
            continue
        argv = shlex.split(text.rstrip("&").strip())[1:]
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"{rel}:{number}: {text!r} does not parse (exit {exc.code})")


class _Command:
    """A documented command running in ``cwd``, its stdout and stderr read as they come.

    ``started`` is set by its first line of output (or when it closed both, having ended): the time a command
    gets before its Ctrl-C is counted from then, so a loaded machine's slow imports do not eat it (a Ctrl-C
    during the imports is a KeyboardInterrupt traceback and exit 130, not a failure of the command).
    """

    def __init__(self, text: str, cwd: Path):
        self.text = text
        argv = shlex.split(text.rstrip("&").strip())
        if argv[0] == "lslacq":
            argv = [sys.executable, "-m", "lslacq.cli", *argv[1:]]
        elif argv[0] == "python":
            argv[0] = sys.executable
        # unbuffered as in a terminal: a line is read when it is printed, not when a pipe's buffer fills
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
        self.out: list[str] = []
        self.err: list[str] = []
        self.started = threading.Event()
        self.first_stdout = threading.Event()
        self._open = 2
        self._lock = threading.Lock()
        self._readers = [
            threading.Thread(target=self._read, args=(pipe, sink), name=f"docs-command-{i}", daemon=True)
            for i, (pipe, sink) in enumerate(((self.proc.stdout, self.out), (self.proc.stderr, self.err)))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, pipe, sink: list[str]) -> None:
        for line in iter(pipe.readline, ""):
            sink.append(line)
            self.started.set()
            if sink is self.out:
                self.first_stdout.set()
        with self._lock:
            self._open -= 1
            if self._open == 0:  # ended (or closed both) without a word
                self.started.set()
        if sink is self.out:
            self.first_stdout.set()

    def first_line(self, timeout: float = 60.0) -> str:
        """Its first line on stdout ('' if it ended or printed none within ``timeout``)."""
        self.first_stdout.wait(timeout)
        return self.out[0] if self.out else ""

    def stop(self, budget: float, startup: float = 60.0) -> tuple[int, str, str, bool]:
        """Let it run ``budget`` s after its first output, then Ctrl-C it; (exit status, out, err, interrupted).

        At most ``startup`` s are waited for the first output.
        """
        self.started.wait(startup)
        interrupted = False
        try:
            self.proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            interrupted = True
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for reader in self._readers:  # EOF once the command and whatever it started have closed the pipes
            reader.join(timeout=30)
        for pipe in (self.proc.stdout, self.proc.stderr):
            pipe.close()
        return self.proc.returncode, "".join(self.out), "".join(self.err), interrupted


def _busy(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _drive_module(cmd: _Command, text: str) -> str | None:
    """A dareplane module command: START it as a control room would; None when STATUS says it runs."""
    import socket
    import time

    line = cmd.first_line()
    if "serving" not in line:
        return f"no 'serving' line (got {line!r})"
    port = int(re.search(r"--port[= ](\d+)", text).group(1))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        reader = sock.makefile("rb")
        reader.readline()  # Connected to ...
        sock.sendall(b"START;")
        deadline = time.monotonic() + 30
        while True:
            sock.sendall(b"STATUS;")
            reply = reader.readline()
            if reply.startswith(b"ERROR"):
                return f"START: {reply.decode()}"
            status = json.loads(reply)
            if status["state"] == "running" or status["failures"] or time.monotonic() > deadline:
                break
        errors = [f"{name}: {info['error']}" for name, info in status["nodes"].items() if info["error"]]
        if status["state"] != "running" or errors or status["failures"]:
            return f"after START: state {status['state']!r}, errors {errors}, failures {status['failures']}"
    return None


def _resources(text: str) -> set[str]:
    """What a command holds that another one may want too: its ports, the directories it writes (keys/)."""
    ports = re.findall(r"(?:--port[= ]|127\.0\.0\.1:)(\d+)", text)
    return {f"port {p}" for p in ports} | {w for w in shlex.split(text) if w.endswith("/")}


def _chains(commands: list[tuple[str, int, str]]) -> list[list[tuple[str, int, str]]]:
    """The commands in groups that share nothing with each other group (a group runs in the docs' order)."""
    groups: list[tuple[set[str], list]] = []
    for command in commands:
        held = _resources(command[2])
        joined = [g for g in groups if g[0] & held]
        merged = (held.union(*(g[0] for g in joined)), sorted([command, *(c for g in joined for c in g[1])]))
        groups = [g for g in groups if g not in joined] + [merged]
    return [g[1] for g in groups]


def _run_chain(chain: list[tuple[str, int, str]], cwd: Path) -> list[str]:
    """Run each command of ``chain`` in turn for BUDGET s after its start-up; the failures, described."""
    failures = []
    for rel, number, text in chain:
        cmd = _Command(text, cwd)
        problem = None
        try:
            if re.search(r"dareplane serve|-m lslacq_dareplane", text):
                problem = _drive_module(cmd, text)
        except (OSError, ValueError) as exc:  # refused, reset, a reply that is not JSON
            problem = f"driving it as a control room failed: {exc!r}"
        finally:
            code, _out, err, interrupted = cmd.stop(BUDGET)
        if problem or code != 0 or "Traceback" in err:
            how = "after Ctrl-C" if interrupted else "by itself"
            failures.append(f"{rel}:{number}: {text!r} exited {code} {how}: {problem or ''} {err.strip()[-800:]}")
    return failures


#: documented commands run at once (each chain of commands that share a port or a directory runs in turn)
PARALLEL = 4


@pytest.mark.slow
def test_documented_commands_run_as_written(tmp_path):
    for name in ("examples", "docs"):  # commands name files relative to the repository
        (tmp_path / name).symlink_to(ROOT / name)
    commands = [c for c in shell_commands() if not any(re.search(p, c[2]) for p, _why in NOT_RUN)]
    ports = {51244} | {int(p) for c in commands for p in re.findall(r"(?:--port[= ]|127\.0\.0\.1:)(\d+)", c[2])}
    busy = sorted(port for port in ports if _busy(port))
    if busy:  # the docs use fixed ports: on a shared machine another program may hold one
        pytest.skip(f"ports the documented commands use are busy: {busy}")
    demo = _Command("lslacq demo --no-verify", tmp_path)  # the streams `lsl watch`, `view`... read
    background: list[_Command] = []
    failures: list[str] = []
    foreground = [c for c in commands if not c[2].endswith("&")]
    try:
        assert demo.first_line().startswith("lslacq demo:"), "".join(demo.err)[-2000:]
        for rel, number, text in [c for c in commands if c[2].endswith("&")]:  # servers the other lines use
            server = _Command(text, tmp_path)
            background.append(server)
            if not server.first_line():
                server.stop(0)
                failures.append(f"{rel}:{number}: {text!r} ended: {''.join(server.err)[-500:]}")
        chains = sorted(_chains(foreground), key=len, reverse=True)  # the longest first: they set the pace
        with concurrent.futures.ThreadPoolExecutor(PARALLEL, thread_name_prefix="docs-commands") as pool:
            for found in pool.map(lambda chain: _run_chain(chain, tmp_path), chains):
                failures.extend(found)
    finally:
        for cmd in [*background, demo]:
            cmd.stop(0.01 if cmd.proc.poll() is None else 0)
    assert len(foreground) >= 15
    assert not failures, "\n".join(failures)
