"""The pyacq manual's viewer examples 6.3, 6.5 and 6.7, ported, run headless as real scripts."""

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
                         timeout=180, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


@pytest.mark.slow
def test_webcam_viewer_shows_the_test_pattern():
    pytest.importorskip("av")
    out = _run("webcam_viewer.py", "--duration", "2")
    match = re.search(r"frames received: (\d+), drawn: (\d+), skipped by the display: (\d+), frame size 320x240",
                      out)
    assert match, out
    received, drawn, _skipped = (int(g) for g in match.groups())
    assert drawn >= 1 and received >= drawn  # frames went through and reached the screen


@pytest.mark.slow
def test_audio_timefreq_finds_the_whistle():
    out = _run("audio_timefreq.py", "--duration", "4")
    match = re.search(r"maps drawn: (\d+), frequencies 50-4550 Hz, strongest frequency: 1550 Hz", out)
    assert match and int(match.group(1)) >= 1, out


@pytest.mark.slow
def test_audio_oscilloscope_local_receives_every_sample():
    out = _run("audio_oscilloscope_local.py", "--duration", "1.5")
    match = re.search(r"samples received: (\d+), lost: 0, frames drawn: (\d+)", out)
    assert match and int(match.group(1)) >= 1024 and int(match.group(2)) >= 1, out

