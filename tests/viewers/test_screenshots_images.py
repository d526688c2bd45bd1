"""docs/make_screenshots.py renders the QTimeFreq, ImageViewer and QDigitalOscilloscope screenshots."""

from __future__ import annotations

import pytest
from viewer_helpers import make_screenshots

SHOTS = ("qtimefreq", "imageviewer", "qdigitaloscilloscope")


@pytest.mark.slow
def test_image_viewer_screenshots(tmp_path):
    images = make_screenshots(tmp_path, *SHOTS)
    # the chirp's ridge and the alpha bursts: bright yellow-green viridis pixels in both plots
    bright = (images["qtimefreq"][..., 1] > 180) & (images["qtimefreq"][..., 0] > 120)
    assert bright[:, :400].mean() > 0.01 and bright[:, 400:].mean() > 0.002
    # the colour bars: pure red and pure blue are there
    bars = images["imageviewer"]
    assert ((bars[..., 0] > 240) & (bars[..., 1] < 15) & (bars[..., 2] < 15)).mean() > 0.03
    assert ((bars[..., 2] > 240) & (bars[..., 0] < 15) & (bars[..., 1] < 15)).mean() > 0.03
    # eight rows of traces
    assert (images["qdigitaloscilloscope"].max(axis=2) > 120).mean() > 0.01
