"""Helpers for pyacq's viewer tests.

pyacq shows a viewer for N seconds in ``app.exec_()`` and asserts nothing; these run the event loop until the viewer
received data and drew, then check the offscreen rendering is not blank.
"""

from __future__ import annotations

import numpy as np
from helpers import wait_until


def run_until(app, predicate, timeout=30.0):
    """Run the Qt event loop until ``predicate()`` holds (returned); fail after ``timeout`` s."""
    return wait_until(predicate, timeout, what="the viewer to receive and draw", each=app.processEvents)


def assert_rendered(widget, min_colors=3):
    """The widget's offscreen grab has content (more than a background and a frame)."""
    from lslacq.viewers._qt import qimage_to_array

    image = qimage_to_array(widget.grab().toImage())
    assert image.shape[0] > 0 and image.shape[1] > 0
    colors = np.unique(image.reshape(-1, 4), axis=0)
    assert len(colors) >= min_colors, f"{widget!r} looks blank ({len(colors)} colours)"
    return image
