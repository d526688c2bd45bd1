"""The pyacq manual's oscilloscope examples 6.1, 6.4 and 6.6, ported, run headless with --duration."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def _run(script, *args):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                         timeout=120, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def _numbers(line: str) -> dict:
    return {k.strip(): int(v) for k, v in re.findall(r"([a-z ]+): (\d+)", line)}


@pytest.mark.slow
def test_6_4_audio_oscilloscope_remote():
    out = _numbers(_run("audio_oscilloscope_remote.py", "--duration", "2").splitlines()[-1])
    assert out["samples received"] > 20000 and out["lost"] == 0 and out["frames drawn"] >= 3


@pytest.mark.slow
def test_6_6_audio_triggered_oscilloscope():
    out = _numbers(_run("audio_triggered_oscilloscope.py", "--duration", "3").splitlines()[-1])
    assert out["triggers"] >= 2 and out["sweeps stacked"] >= 2 and out["frames drawn"] >= 3


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["local-local", "remote-local", "remote-remote"])
def test_6_1_local_and_remote_nodes(mode):
    pytest.importorskip("av", reason="WebCamAV needs PyAV (the video extra)")
    line = [x for x in _run("local_and_remote_nodes.py", "--mode", mode, "--duration", "2").splitlines()
            if x.startswith(mode)][-1]
    device_pid, viewer_pid, this_pid = (int(p) for p in re.findall(r"(?:process|this one:) (\d+)", line))
    assert (device_pid == this_pid) == (mode == "local-local")
    assert (viewer_pid == this_pid) == (mode != "remote-remote")
    assert (device_pid == viewer_pid) == (mode != "remote-local")
    received, drawn = (int(n) for n in re.search(r"frames received (\d+), drawn (\d+)", line).groups())
    assert received >= 10 and drawn >= 5
