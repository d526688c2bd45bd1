"""docs/make_screenshots.py renders the QTimeFreq, ImageViewer and QDigitalOscilloscope screenshots."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "docs" / "make_screenshots.py"
SHOTS = ("qtimefreq", "imageviewer", "qdigitaloscilloscope")


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
    # eight rows of traces
    assert (images["qdigitaloscilloscope"].max(axis=2) > 120).mean() > 0.01
