"""The command line: python -m lslacq_dareplane (as the control room launches it) and lslacq dareplane logserver."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys

import pytest
from conftest import PEERS, DpClient
from helpers import wait_until

from lslacq_dareplane.log_forwarding import JsonSocketHandler

GRAPH = str(PEERS / "simple_graph.py")


def spawn(args, **kwargs):
    return subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


def first_line(proc, prefix: str) -> str:
    line = proc.stdout.readline()
    if not line.startswith(prefix):
        proc.kill()
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"expected {prefix!r}, got {line!r}; stderr: {err}")
    return line


@pytest.mark.slow
def test_module_launch_with_config_options_and_sigterm():
    proc = spawn(
        [
            "-m",
            "lslacq_dareplane",
            GRAPH,
            "--port=0",
            "--ip=127.0.0.1",
            "--loglevel=10",
            "--log_server=none",
            "--rate=250",
            "--label=run-1",
        ]
    )
    try:
        line = first_line(proc, "module 'simple_graph' serving graph")
        port = int(line.rsplit(":", 1)[1])
        with DpClient(port) as c:
            assert c.banner == b"Connected to simple_graph\n"
            c.send(b"START;STATUS;")
            st = json.loads(c.recv_until(b"\n"))
            assert st["config"] == {"rate": 250, "label": "run-1"} and st["state"] == "running"
        proc.send_signal(signal.SIGTERM)  # how the control room ends modules
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


@pytest.mark.slow
def test_module_launch_errors_are_clear():
    proc = spawn(["-m", "lslacq_dareplane", GRAPH + ":nope", "--port=0"])
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "has no callable 'nope'" in err
    proc = spawn(["-m", "lslacq_dareplane", GRAPH, "--port=0", "--bogus=1", "--build-now"])
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "bad configuration" in err and "bogus" in err
    proc = spawn(["-m", "lslacq_dareplane", "--port=0"])
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "say which graph" in err


LOGSERVER = (
    "import argparse, sys\n"
    "from lslacq_dareplane.cli import add_parser\n"
    "p = argparse.ArgumentParser(); add_parser(p.add_subparsers())\n"
    "a = p.parse_args(['dareplane', 'logserver', '--port', '0', '--logfile', sys.argv[1]])\n"
    "sys.exit(a.func(a))\n"
)


@pytest.mark.slow
def test_logserver_command(tmp_path):
    logfile = tmp_path / "control_room.log"
    proc = spawn(["-c", LOGSERVER, str(logfile)])
    handler = None
    try:
        line = first_line(proc, "log server listening on 127.0.0.1:")
        port = int(line.split(":")[1].split(",")[0])
        handler = JsonSocketHandler("127.0.0.1", port)
        logger = logging.getLogger("cli_test_module")
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.info("forwarded to the log server")
        wait_until(
            lambda: "forwarded to the log server" in (logfile.read_text() if logfile.exists() else ""),
            timeout=30,
            interval=0.05,
            what="the record in the log file",
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert " - cli_test_module - INFO - forwarded to the log server" in logfile.read_text()
    finally:
        if handler is not None:
            logging.getLogger("cli_test_module").removeHandler(handler)
            handler.close()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_dareplane_command_is_registered():
    from lslacq.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["dareplane", "serve", GRAPH, "--port", "0"])
    assert args.graph == GRAPH and args.port == 0 and callable(args.func)
    args = parser.parse_args(["dareplane", "logserver"])
    assert args.port == 9020 and args.host == "127.0.0.1"
