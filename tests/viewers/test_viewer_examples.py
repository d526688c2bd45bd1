"""The pyacq manual's viewer examples 6.3, 6.5 and 6.7, ported, run headless as real scripts."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def _run(script, *args):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=180, env=env
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


@pytest.mark.slow
def test_webcam_viewer_shows_the_test_pattern():
    pytest.importorskip("av")
    out = _run("webcam_viewer.py", "--duration", "2")
    match = re.search(r"frames received: (\d+), drawn: (\d+), skipped by the display: (\d+), frame size 320x240", out)
    assert match, out
    received, drawn, _skipped = (int(g) for g in match.groups())
    assert drawn >= 1 and received >= drawn  # frames went through and reached the screen


@pytest.mark.slow
def test_audio_timefreq_finds_the_whistle(tmp_path):
    from viewer_helpers import check_example_frame

    out = _run("audio_timefreq.py", "--duration", "4", "--screenshot", str(tmp_path / "tf.png"))
    match = re.search(r"maps drawn: (\d+), frequencies 50-4550 Hz, strongest frequency: 1550 Hz", out)
    assert match and int(match.group(1)) >= 1, out
    ranges = check_example_frame(tmp_path / "tf.png", out)  # the axes show the configured range, a colour bar
    assert ranges["frequency"] == pytest.approx([-200, 4800]) and ranges["colorbar"] == [0, 2500]
    assert ranges["time"][0] == pytest.approx(-10, abs=0.01)


@pytest.mark.slow
def test_audio_oscilloscope_local_receives_every_sample(tmp_path):
    from viewer_helpers import check_example_frame

    out = _run("audio_oscilloscope_local.py", "--duration", "1.5", "--screenshot", str(tmp_path / "scope.png"))
    match = re.search(r"samples received: (\d+), lost: 0, frames drawn: (\d+)", out)
    assert match and int(match.group(1)) >= 1024 and int(match.group(2)) >= 1, out
    geometry = check_example_frame(tmp_path / "scope.png", out)  # trace, name gutter, time axis, scale bar
    assert not geometry["banded"]  # the manual's gain of 0.001, set before start, is honoured


@pytest.mark.slow
def test_multi_video_viewer_shows_both_test_patterns_side_by_side(tmp_path):
    pytest.importorskip("av")
    from pyqtgraph.Qt import QtGui

    from lslacq.viewers._qt import qimage_to_array

    shot = tmp_path / "grid.png"
    out = _run("multi_video_viewer.py", "--duration", "3", "--screenshot", str(shot))
    sizes = {}
    for name, received, drawn, size in re.findall(
        r"(video\d): frames received: (\d+), drawn: (\d+), frame size (\S+)", out
    ):
        assert int(drawn) >= 1 and int(received) >= int(drawn), out
        sizes[name] = size
    assert sizes == {"video0": "320x240", "video1": "160x120"}, out
    rgba = qimage_to_array(QtGui.QImage(str(shot)))
    half = rgba.shape[1] // 2
    for cell in (rgba[:, :half], rgba[:, half:]):  # each video's cell shows its pattern's saturated colours
        rgb = cell[..., :3].astype(int)
        saturated = rgb[rgb.max(axis=-1) - rgb.min(axis=-1) > 100]
        assert len(np.unique(saturated // 64, axis=0)) >= 4, "a cell shows no test pattern"
