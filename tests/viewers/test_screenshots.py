"""docs/make_screenshots.py renders the oscilloscope screenshots offscreen as small PNGs."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "docs" / "make_screenshots.py"


@pytest.mark.slow
def test_oscilloscope_screenshots(tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run([sys.executable, str(SCRIPT), "qoscilloscope", "qtriggeredoscilloscope", "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    for name in ("qoscilloscope", "qtriggeredoscilloscope"):
        path = tmp_path / f"{name}.png"
        assert path.stat().st_size < 150_000
        image = np.asarray(PIL.open(path).convert("RGB"))
        assert image.shape == (450, 800, 3)
        assert (image.max(axis=2) > 120).mean() > 0.02  # traces drawn, not an empty frame
