"""Helpers of the viewer tests."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

SCREENSHOT_SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "docs" / "make_screenshots.py"


def make_screenshots(out: pathlib.Path, *names: str, max_bytes: int = 150_000) -> dict[str, np.ndarray]:
    """Run docs/make_screenshots.py offscreen for ``names`` into ``out``; return each PNG as int RGB.

    Checks that the script succeeded and that each PNG is 800x450 and
    smaller than ``max_bytes`` (the docs keep small screenshots).
    """
    pil_image = pytest.importorskip("PIL.Image")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run([sys.executable, str(SCREENSHOT_SCRIPT), *names, "--out", str(out)], capture_output=True,
                         text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    images = {}
    for name in names:
        path = out / f"{name}.png"
        assert path.stat().st_size < max_bytes
        images[name] = np.asarray(pil_image.open(path).convert("RGB")).astype(int)
        assert images[name].shape == (450, 800, 3)
    return images


def wait_until(qapp, predicate, timeout: float = 20.0, what: str = "condition") -> None:
    """Process Qt events until ``predicate()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        qapp.processEvents()
        time.sleep(0.005)


def render(qapp, viewer):
    """Lay ``viewer`` out completely (the first grab may resize it), draw a frame and return its ``grab_array()``."""
    qapp.processEvents()
    viewer.grab()
    qapp.processEvents()
    viewer.refresh()
    return viewer.grab_array()


def to_pixel(viewer, x: float, y: float, image=None, viewbox=None) -> tuple[int, int]:
    """Pixel (column, row) of the data point (x, y) of ``viewer``'s plot in ``image`` (a ``grab_array()``).

    ``grab()`` renders at the screen's device pixel ratio (not always 1 offscreen), hence ``image``;
    ``viewbox`` is the plot's (default ``viewer.viewBox``).
    """
    from lslacq.viewers._qt import QtCore

    viewbox = viewer.viewBox if viewbox is None else viewbox
    scene = viewbox.mapViewToScene(QtCore.QPointF(float(x), float(y)))
    point = viewer.graphicsview.mapTo(viewer, viewer.graphicsview.mapFromScene(scene))
    ratio = 1.0 if image is None else image.shape[1] / viewer.width()
    return int(round(point.x() * ratio)), int(round(point.y() * ratio))


def color_mask(image, rgb, tol: int = 60):
    """Boolean (rows, columns) mask of the pixels of ``image`` (RGBA array) close to colour ``rgb``."""
    import numpy as np

    diff = np.abs(image[..., :3].astype(int) - np.asarray(rgb, dtype=int)[None, None, :])
    return diff.max(axis=2) <= tol


def rows_of(mask, column: int, halfwidth: int = 1):
    """Rows where ``mask`` is set around ``column``."""
    import numpy as np

    return np.flatnonzero(mask[:, max(0, column - halfwidth):column + halfwidth + 1].any(axis=1))
