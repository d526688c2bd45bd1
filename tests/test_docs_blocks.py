"""Every command and Python block of README.md and docs/*.md runs as written (those that need no hardware).

Python: each file's blocks run in order in one session (tests/docs/run_blocks.py), as a reader pasting them
would. A block may need what a test machine has not got (a device, another host, a user's file: its error
says so, and it is reported, not failed) or be a fragment of the prose around it: FRAGMENTS lists those, with
why. Any other failure means the docs are wrong.

Shell: every ``lslacq ...`` / ``python -m lslacq_dareplane ...`` line is parsed by the real command line
parser, and those that need no hardware, other machine or user file are run: one that runs until Ctrl-C
gets SIGINT after a few seconds and must stop with exit status 0 and no traceback (``lslacq demo`` runs in
the background meanwhile, for the commands that read its streams).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
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


def python_results(path: Path) -> list[dict]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, str(RUNNER), str(path.relative_to(ROOT)), "15"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, proc.stderr[-2000:]
    return results


@pytest.mark.slow
@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_python_blocks_of_the_docs_run(path):
    rel = str(path.relative_to(ROOT))
    wrong = []
    for result in python_results(path):
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


def _start(text: str, cwd: Path) -> subprocess.Popen:
    argv = shlex.split(text.rstrip("&").strip())
    if argv[0] == "lslacq":
        argv = [sys.executable, "-m", "lslacq.cli", *argv[1:]]
    elif argv[0] == "python":
        argv[0] = sys.executable
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)


def _busy(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no obstacle
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _drive_module(proc: subprocess.Popen, text: str) -> str | None:
    """A dareplane module command: START it as a control room would; None when STATUS says it runs."""
    import socket
    import time

    line = proc.stdout.readline()
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


def _stop(proc: subprocess.Popen, budget: float) -> tuple[int, str, str, bool]:
    """Let ``proc`` run up to ``budget`` s, then Ctrl-C it; return (exit status, out, err, interrupted)."""
    try:
        out, err = proc.communicate(timeout=budget)
        return proc.returncode, out, err, False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
    return proc.returncode, out, err, True


@pytest.mark.slow
def test_documented_commands_run_as_written(tmp_path):
    for name in ("examples", "docs"):  # commands name files relative to the repository
        (tmp_path / name).symlink_to(ROOT / name)
    demo = _start("lslacq demo --no-verify", tmp_path)  # the streams `lsl watch`, `view`... read
    background: list[subprocess.Popen] = []
    failures, ran = [], 0
    commands = [c for c in shell_commands() if not any(re.search(p, c[2]) for p, _why in NOT_RUN)]
    ports = {51244} | {int(p) for c in commands for p in re.findall(r"(?:--port[= ]|127\.0\.0\.1:)(\d+)", c[2])}
    busy = sorted(port for port in ports if _busy(port))
    if busy:  # the docs use fixed ports: on a shared machine another program may hold one
        _stop(demo, 0.01)
        pytest.skip(f"ports the documented commands use are busy: {busy}")
    try:
        assert demo.stdout.readline().startswith("lslacq demo:")
        for rel, number, text in [c for c in commands if c[2].endswith("&")]:  # servers the other lines use
            proc = _start(text, tmp_path)
            background.append(proc)
            if not proc.stdout.readline():
                failures.append(f"{rel}:{number}: {text!r} ended: {proc.stderr.read()[-500:]}")
        for rel, number, text in [c for c in commands if not c[2].endswith("&")]:
            proc = _start(text, tmp_path)
            problem = _drive_module(proc, text) if re.search(r"dareplane serve|-m lslacq_dareplane", text) else None
            code, out, err, interrupted = _stop(proc, BUDGET)
            ran += 1
            if problem or code != 0 or "Traceback" in err:
                how = "after Ctrl-C" if interrupted else "by itself"
                failures.append(f"{rel}:{number}: {text!r} exited {code} {how}: {problem or ''} {err.strip()[-800:]}")
    finally:
        for proc in [*background, demo]:
            if proc.poll() is None:
                _stop(proc, 0.01)
    assert ran >= 15
    assert not failures, "\n".join(failures)
