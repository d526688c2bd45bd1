"""Helpers of the viewer tests."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

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
    run = subprocess.run(
        [sys.executable, str(SCREENSHOT_SCRIPT), *names, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
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
    import helpers

    helpers.wait_until(predicate, timeout, 0.005, what, each=qapp.processEvents)


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

    return np.flatnonzero(mask[:, max(0, column - halfwidth) : column + halfwidth + 1].any(axis=1))


def plot_rect(viewer, image, viewbox=None) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) pixel bounds of ``viewer``'s plot area in ``image``."""
    viewbox = viewer.viewBox if viewbox is None else viewbox
    (x0, x1), (y0, y1) = viewbox.viewRange()
    left, top = to_pixel(viewer, x0, y1, image, viewbox)
    right, bottom = to_pixel(viewer, x1, y0, image, viewbox)
    return left, top, right, bottom


def item_rect(viewer, item, rect, image) -> tuple[float, float, float, float]:
    """Pixel (left, top, right, bottom) in ``image`` of ``rect`` given in ``item``'s coordinates."""
    scene = item.mapRectToScene(rect)
    view = viewer.graphicsview
    top_left = view.mapTo(viewer, view.mapFromScene(scene.topLeft()))
    bottom_right = view.mapTo(viewer, view.mapFromScene(scene.bottomRight()))
    ratio = image.shape[1] / viewer.width()
    return top_left.x() * ratio, top_left.y() * ratio, bottom_right.x() * ratio, bottom_right.y() * ratio


def assert_readable(
    viewer, image, min_swing: float = 0.2, tol: int = 8, scale_bar: bool = True, geometry: dict | None = None
) -> dict:
    """Check the default look of a QOscilloscope frame ``image`` (its ``grab_array()``); return what was measured.

    Every shown channel is drawn in its own band (at least 97 % of its trace's pixels, in its exact colour,
    inside its band) with a visible oscillation (the trace's 5th-95th percentile rows span at least
    ``min_swing`` of the band); every name box of the gutter lies left of the plot; the time axis and (with
    ``scale_bar``) the scale bar are drawn. ``geometry`` is the viewer's ``frame_geometry()`` (asked for when
    ``viewer`` is local; pass it for a viewer in another process, ``viewer`` then unused).
    """
    import numpy as np

    geo = viewer.frame_geometry() if geometry is None else geometry
    assert geo["banded"], "the channels were not laid out in bands"
    left, top, right, bottom = (int(round(v)) for v in geo["plot"])
    n = len(geo["bands"])
    band_px = (bottom - top) / n
    swings = []
    for name, rgb, band_top, band_bottom in geo["bands"]:
        mask = color_mask(image, rgb, tol=tol)[:, left + 1 : right - 1]
        rows = np.nonzero(mask)[0]
        assert rows.size > 0.5 * (right - left), (name, "no trace")
        inside = ((rows >= band_top - 1) & (rows <= band_bottom + 1)).mean()
        assert inside >= 0.97, (name, inside, band_top, band_bottom, rows.min(), rows.max())
        lo, hi = np.percentile(rows, [5, 95])
        swings.append((hi - lo) / band_px)
        assert (hi - lo) >= min_swing * band_px, (name, hi - lo, band_px)
    assert geo["labels"], "no channel names"
    for box in geo["labels"]:
        assert box[2] <= left, ("a name box reaches into the plot", box, left)
    assert geo["time_axis"]
    below = image[bottom + 4 : min(image.shape[0], bottom + 40), left:right, :3]
    assert (below.min(axis=2) > 150).sum() > 30, "no time axis labels under the plot"
    measured = {
        "bands": n,
        "band_px": band_px,
        "swings": swings,
        "label_boxes": len(geo["labels"]),
        "scale": geo["scale_bar"],
        "plot": (left, top, right, bottom),
        "markers": geo["markers"],
    }
    if not scale_bar:  # by_channel: a gain per channel, no common bar
        return measured
    assert geo["scale_bar"], "no scale bar"
    margin = image[top:bottom, right + 2 : min(image.shape[1], right + 50), :3]
    assert (margin.min(axis=2) > 150).sum() > 20, "the scale bar is not drawn"
    return measured


def check_example_frame(png, out: str) -> dict:
    """The screenshot ``png`` of an example run with ``--screenshot`` and the geometry it printed in ``out``.

    For an oscilloscope: its channel's colour drawn inside the plot, oscillating visibly within its band, each
    name box left of the plot, the time axis and a scale bar. Returns the geometry.
    """
    import json

    import numpy as np
    from PIL import Image

    line = [x for x in out.splitlines() if x.startswith("frame geometry: ")][-1]
    geometry = json.loads(line.split(": ", 1)[1])
    image = np.asarray(Image.open(png).convert("RGB")).astype(int)
    if "plot" in geometry:
        left, top, right, bottom = (int(round(v)) for v in geometry["plot"])
        for name, rgb, *band in geometry["bands"]:
            mask = color_mask(image, rgb, tol=10)
            assert mask[top:bottom, left + 1 : right - 1].sum() > right - left, (name, "no trace in the plot")
            # the trace oscillates visibly, inside its band (the whole plot when the channels are not banded)
            band_top, band_bottom = (int(round(v)) for v in band[:2]) if None not in band[:2] else (top, bottom)
            rows = np.nonzero(mask[top:bottom, left + 1 : right - 1].any(axis=1))[0] + top
            assert rows.max() - rows.min() >= 0.1 * (band_bottom - band_top), (name, "a flat trace", rows)
            assert band_top - 2 <= rows.min() and rows.max() <= band_bottom + 2, (name, "out of its band")
        assert geometry["labels"] and all(box[2] <= left for box in geometry["labels"])
        assert geometry["time_axis"] and geometry["scale_bar"]
        assert (image[bottom + 4 : bottom + 40, left:right].min(axis=2) > 150).sum() > 30  # the time axis labels
    return geometry
