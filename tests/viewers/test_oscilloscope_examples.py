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
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=120, env=env
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def _numbers(line: str) -> dict:
    return {k.strip(): int(v) for k, v in re.findall(r"([a-z ]+): (\d+)", line)}


@pytest.mark.slow
def test_6_4_audio_oscilloscope_remote(tmp_path):
    from viewer_helpers import check_example_frame

    stdout = _run("audio_oscilloscope_remote.py", "--duration", "2", "--screenshot", str(tmp_path / "scope.png"))
    out = _numbers(stdout.splitlines()[-1])
    assert out["samples received"] > 20000 and out["lost"] == 0 and out["frames drawn"] >= 3
    geometry = check_example_frame(tmp_path / "scope.png", stdout)  # trace, name gutter, time axis, scale bar
    assert [band[0] for band in geometry["bands"]] == ["Signal0"]


@pytest.mark.slow
def test_6_6_audio_triggered_oscilloscope(tmp_path):
    import numpy as np
    from PIL import Image
    from viewer_helpers import check_example_frame

    stdout = _run("audio_triggered_oscilloscope.py", "--duration", "3", "--screenshot", str(tmp_path / "trig.png"))
    out = _numbers(stdout.splitlines()[-1])
    assert out["triggers"] >= 2 and out["sweeps stacked"] >= 2 and out["frames drawn"] >= 3
    geometry = check_example_frame(tmp_path / "trig.png", stdout)
    assert geometry["labels"] == 1 and geometry["scale_bar"]  # its name in the gutter, a scale bar
    image = np.asarray(Image.open(tmp_path / "trig.png").convert("RGB")).astype(int)
    assert ((image.max(axis=2) - image.min(axis=2)) > 100).sum() > 2000  # the sweeps, in their colour


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["local-local", "remote-local", "remote-remote"])
def test_6_1_local_and_remote_nodes(mode):
    pytest.importorskip("av", reason="WebCamAV needs PyAV (the video extra)")
    line = [
        x
        for x in _run("local_and_remote_nodes.py", "--mode", mode, "--duration", "2").splitlines()
        if x.startswith(mode)
    ][-1]
    device_pid, viewer_pid, this_pid = (int(p) for p in re.findall(r"(?:process|this one:) (\d+)", line))
    assert (device_pid == this_pid) == (mode == "local-local")
    assert (viewer_pid == this_pid) == (mode != "remote-remote")
    assert (device_pid == viewer_pid) == (mode != "remote-local")
    received, drawn = (int(n) for n in re.search(r"frames received (\d+), drawn (\d+)", line).groups())
    assert received >= 10 and drawn >= 5
