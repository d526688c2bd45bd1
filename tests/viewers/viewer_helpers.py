"""Helpers of the viewer tests."""

from __future__ import annotations

import time


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
