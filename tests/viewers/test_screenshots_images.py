"""docs/make_screenshots.py renders the QTimeFreq, ImageViewer and QDigitalOscilloscope screenshots."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "docs" / "make_screenshots.py"
SHOTS = ("qtimefreq", "imageviewer", "imageviewer_grid", "qdigitaloscilloscope")


@pytest.mark.slow
def test_image_viewer_screenshots(tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run([sys.executable, str(SCRIPT), *SHOTS, "--out", str(tmp_path)], capture_output=True,
                         text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    images = {}
    for name in SHOTS:
        path = tmp_path / f"{name}.png"
        assert path.stat().st_size < 150_000
        images[name] = np.asarray(PIL.open(path).convert("RGB")).astype(int)
        assert images[name].shape == (450, 800, 3)
    # the chirp's ridge and the alpha bursts: bright yellow-green viridis pixels in both plots
    bright = (images["qtimefreq"][..., 1] > 180) & (images["qtimefreq"][..., 0] > 120)
    assert bright[:, :400].mean() > 0.01 and bright[:, 400:].mean() > 0.002
    # the colour bars: pure red and pure blue are there
    bars = images["imageviewer"]
    assert ((bars[..., 0] > 240) & (bars[..., 1] < 15) & (bars[..., 2] < 15)).mean() > 0.03
    assert ((bars[..., 2] > 240) & (bars[..., 0] < 15) & (bars[..., 1] < 15)).mean() > 0.03
    # the grid: colour bars | grey checkerboard, over RGB quadrants | grey disc (cells below 25-pixel status lines)
    grid = images["imageviewer_grid"]
    cells = [grid[25:225, :400], grid[25:225, 400:], grid[250:, :400], grid[250:, 400:]]
    saturation = [cell.max(axis=2) - cell.min(axis=2) for cell in cells]
    assert (saturation[0] > 200).mean() > 0.2 and (saturation[2] > 200).mean() > 0.2  # the two RGB videos
    assert saturation[1].max() < 30 and saturation[3].max() < 30  # the two grey ones
    for cell in (cells[1], cells[3]):  # dark and bright grey in each
        assert (cell[..., 0] < 60).mean() > 0.1 and (cell[..., 0] > 200).mean() > 0.01
    quadrants = cells[2]
    for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)):
        assert (np.abs(quadrants - colour).max(axis=2) < 20).mean() > 0.1
    # eight rows of traces
    assert (images["qdigitaloscilloscope"].max(axis=2) > 120).mean() > 0.01
