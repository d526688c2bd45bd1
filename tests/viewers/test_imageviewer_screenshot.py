"""docs/make_screenshots.py renders the ImageViewer grid: each video in its cell, row by row."""

from __future__ import annotations

import numpy as np
import pytest
from viewer_helpers import make_screenshots


@pytest.mark.slow
def test_imageviewer_grid_screenshot(tmp_path):
    image = make_screenshots(tmp_path, "imageviewer_grid", max_bytes=100_000)["imageviewer_grid"]
    top, bottom = image[:225], image[225:]
    left, right = slice(0, 400), slice(400, 800)

    def share(part, rgb):
        return (np.abs(part - np.asarray(rgb)).max(axis=2) <= 20).mean()

    # video2 (bottom left) is RGB quadrants: red, green, blue and white, a quarter of its frame each
    assert all(share(bottom[:, left], c) > 0.08 for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    # video1 (top right) and video3 (bottom right) are grey: no saturated colour there
    for part in (top[:, right], bottom[:, right]):
        assert (part.max(axis=2) - part.min(axis=2) > 40).mean() < 0.01
        # and they show their frames: dark and bright grey below the status line
        assert (part[25:, :, 0] < 60).mean() > 0.1 and (part[25:, :, 0] > 200).mean() > 0.01
    # video0 (top left) holds the colour bars: magenta only there
    assert share(top[:, left], (255, 0, 255)) > 0.02 and share(bottom, (255, 0, 255)) == 0
