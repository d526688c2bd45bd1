"""The ``lslacq`` command as a newcomer meets it: help, missing extras, Ctrl-C, pipes, exit statuses."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from helpers import wait_until

from lslacq.cli import build_parser, main, plain_text

ROOT = Path(__file__).resolve().parents[1]
MARKUP = re.compile(r"``|:(class|func|meth|mod|attr|data|exc|obj|ref):`|`~")


def lslacq(*args: str, env: dict | None = None, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lslacq.cli", *args], capture_output=True, text=True, timeout=timeout, env=env, **kwargs
    )


def _command_paths(parser, prefix=()):
    """Every sub-command path (``('bridge', 'rda')``...) of the parser tree."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _command_paths(sub, (*prefix, name))


def test_every_sub_command_help_runs_and_shows_no_markup(capsys):
    paths = list(_command_paths(build_parser()))
    assert ("bridge", "audio") in paths and ("lsl", "list") in paths and ("dareplane", "serve") in paths
    for path in [(), *paths]:
        with pytest.raises(SystemExit) as info:
            main([*path, "--help"])
        out = capsys.readouterr().out
        assert info.value.code == 0, path
        assert out.startswith("usage: lslacq"), (path, out[:200])
        assert not MARKUP.search(out), (path, MARKUP.search(out).group(0), out)
    assert "until the LSL demo lands" not in main.__globals__["build_parser"]().format_help()


def test_plain_text_drops_sphinx_roles_and_literals():
    assert (
        plain_text("a :class:`~lslacq_lsl.LslInlet` reads ``NAME`` (:func:`lslacq.load_graph`)")
        == "a LslInlet reads NAME (lslacq.load_graph)"
    )


def test_graph_demo_help_does_not_mention_the_old_demo(capsys):
    with pytest.raises(SystemExit):
        main(["graph-demo", "--help"])
    assert "until the LSL demo lands" not in capsys.readouterr().out


def test_dareplane_serve_help_names_graph_files(capsys):
    with pytest.raises(SystemExit):
        main(["dareplane", "serve", "--help"])
    assert "graph.toml" in " ".join(capsys.readouterr().out.split())


_WITHOUT_PYLSL = (
    "import sys; sys.modules['pylsl'] = None\n"  # what a core-only install looks like to Python
    "from lslacq.cli import main\nsys.exit(main(sys.argv[1:]))"
)


def without_pylsl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _WITHOUT_PYLSL, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_without_the_lsl_extra_the_commands_that_need_it_say_so_once_and_the_others_stay_quiet():
    hint = "from the 'lsl' extra: pip install 'lslacq[lsl]'"
    for args in (["demo", "--duration", "1"], ["bridge", "audio"], ["bridge", "rda"], ["lsl", "list"]):
        proc = without_pylsl(*args)
        assert proc.returncode == 1, (args, proc.stderr)
        assert proc.stderr.count(hint) == 1 and len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    quiet = without_pylsl("check", "--types")
    assert quiet.returncode == 0 and quiet.stderr == "" and "SosFilter" in quiet.stdout
    sources = without_pylsl("bridge", "--help")  # its help needs no pylsl: every source is listed
    assert sources.returncode == 0 and sources.stderr == "" and "audio" in sources.stdout
    assert without_pylsl("--help").stderr == ""


@pytest.mark.slow
def test_a_closed_stdout_is_a_quiet_exit_141():
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has exited: every write is EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "lslacq.cli", "check", "--schema"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 141 and proc.stderr == ""


@pytest.mark.slow
def test_an_environment_error_is_one_line_and_its_traceback_comes_with_v():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        quiet = lslacq("rda-emulator", "--port", str(port))
        verbose = lslacq("-v", "rda-emulator", "--port", str(port))
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr, quiet.stderr
    lines = quiet.stderr.strip().splitlines()
    # one line naming the server, the address and the fix (core/tcp.py's listening_socket words it)
    assert lines[0].startswith("lslacq rda-emulator: ") and "RDA emulator" in lines[0], lines[0]
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0], lines[0]
    assert "choose another --port" in lines[0] and len(lines) == 2 and "-v" in lines[1]
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


@pytest.mark.slow
def test_a_remote_failure_while_building_a_graph_is_one_line_without_v(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "rda.toml"
    path.write_text(
        f'[nodegroups.acq]\n\n[nodes.amp]\ntype = "BrainAmpSocket"\nnodegroup = "acq"\n'
        f"configure = {{ brainamp_port = {port}, timeout = 2.0 }}\n"
    )
    proc = lslacq("run", str(path), "--duration", "1", timeout=90)
    assert proc.returncode == 2
    assert "remote traceback" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert "node 'amp' (BrainAmpSocket): configure() failed: ConnectionError: cannot connect to the RDA server" in first
    verbose = lslacq("-v", "run", str(path), "--duration", "1", timeout=90)
    assert "--- remote traceback ---" in verbose.stderr


@pytest.mark.slow
def test_devices_list_json_prints_only_json_lines():
    proc = lslacq("devices", "list", "--json")
    assert proc.returncode == 0 and proc.stderr == ""
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows and all(row["kind"] in ("audio", "video", "note") for row in rows)
    for row in rows:
        if row["kind"] == "note":
            assert row["about"] in ("audio", "video") and row["message"]


@pytest.mark.slow
def test_ctrl_c_while_a_graph_starts_its_processes_prints_no_traceback(tmp_path):
    path = tmp_path / "graph.toml"
    path.write_text(
        'connections = ["dev -> conv"]\n\n[nodegroups.acq]\n\n[nodes.dev]\ntype = "NumpyDeviceBuffer"\n'
        'nodegroup = "acq"\nconfigure = { nb_channel = 2 }\n\n[nodes.conv]\ntype = "StreamConverter"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "lslacq.cli", "run", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        # the nodegroup's process exists and is still starting (importing numpy, pyzmq...)
        children = wait_until(
            lambda: psutil.Process(proc.pid).children(), timeout=30, interval=0.005, what="the nodegroup process"
        )
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode in (0, 130), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    wait_until(
        lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children),
        timeout=20,
        what="the nodegroup process gone",
    )


@pytest.mark.slow
def test_spawned_processes_are_out_of_reach_of_the_terminals_ctrl_c():
    from lslacq.core.rpc.spawner import ProcessSpawner

    spawner = ProcessSpawner(name="session-check")
    try:
        assert os.getsid(spawner.pid) != os.getsid(0)
    finally:
        spawner.stop()


@pytest.mark.slow
def test_ctrl_c_stops_the_demo_with_its_viewer_quietly():
    pytest.importorskip("pyqtgraph")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lslacq.cli",
            "demo",
            "--view",
            "--channels",
            "4",
            "--no-verify",
            "--name",
            "lslacq-test-ctrl-c",
            "--markers-name",
            "lslacq-test-ctrl-c-M",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = []
        while not any(line.startswith("[") for line in lines):  # a counter line: the window is up and running
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "interrupted" in out and "published" in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


def test_a_plugin_that_needs_a_missing_extra_is_listed_with_its_install_line(monkeypatch, capsys):
    import lslacq.cli as cli

    class FakeEntryPoint:
        name, value = "fancy", "fancy_plugin:add_parser"

        def load(self):
            def add_parser(subparsers):
                subparsers.add_parser("fancy", help="half-built before the import failed")
                raise ModuleNotFoundError("No module named 'pyxdf'", name="pyxdf")

            return add_parser

    monkeypatch.setattr(cli, "entry_points", lambda group: [FakeEntryPoint()])
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out, err = capsys.readouterr()
    assert re.search(r"fancy\s+\(not installed: pip install 'lslacq\[xdf\]'\)", out) and err == ""
    assert "half-built" not in out
    assert cli.main(["fancy", "--help", "x"]) == 1
    assert capsys.readouterr().err == "lslacq fancy needs pyxdf, from the 'xdf' extra: pip install 'lslacq[xdf]'\n"
