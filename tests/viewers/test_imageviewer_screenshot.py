"""docs/make_screenshots.py renders the ImageViewer grid: each video in its cell, row by row."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "docs" / "make_screenshots.py"


@pytest.mark.slow
def test_imageviewer_grid_screenshot(tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run([sys.executable, str(SCRIPT), "imageviewer_grid", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    path = tmp_path / "imageviewer_grid.png"
    assert path.stat().st_size < 100_000
    image = np.asarray(PIL.open(path).convert("RGB")).astype(int)
    assert image.shape == (450, 800, 3)
    top, bottom = image[:225], image[225:]
    left, right = slice(0, 400), slice(400, 800)

    def share(part, rgb):
        return (np.abs(part - np.asarray(rgb)).max(axis=2) <= 20).mean()

    # video2 (bottom left) is RGB quadrants: red, green, blue and white, a quarter of its frame each
    assert all(share(bottom[:, left], c) > 0.08 for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    # video1 (top right) and video3 (bottom right) are grey: no saturated colour there
    for part in (top[:, right], bottom[:, right]):
        assert (part.max(axis=2) - part.min(axis=2) > 40).mean() < 0.01
    # video0 (top left) holds the colour bars: magenta only there
    assert share(top[:, left], (255, 0, 255)) > 0.02 and share(bottom, (255, 0, 255)) == 0
