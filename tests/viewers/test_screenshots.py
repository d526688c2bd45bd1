"""docs/make_screenshots.py renders the oscilloscope screenshots offscreen as small PNGs."""

from __future__ import annotations

import numpy as np
import pytest
from viewer_helpers import make_screenshots


@pytest.mark.slow
def test_oscilloscope_screenshots(tmp_path):
    for image in make_screenshots(tmp_path, "qoscilloscope", "qtriggeredoscilloscope").values():
        assert (image.max(axis=2) > 120).mean() > 0.02  # traces drawn, not an empty frame


@pytest.mark.slow
def test_multiplot_screenshot_has_one_coloured_trace_per_plot_each_fitted_to_its_plot(tmp_path):
    image = make_screenshots(tmp_path, "qoscilloscopemultiplot")["qoscilloscopemultiplot"]
    plots = image[:425, 60:]  # above the time axis, right of the y axes
    colours = []
    for band in np.array_split(plots, 4, axis=0):  # the four stacked plots
        trace = band.max(axis=2) - band.min(axis=2) > 100  # the trace's saturated colour (axes are grey)
        rows = np.flatnonzero(trace.any(axis=1))
        columns = [np.ptp(np.flatnonzero(column)) for column in trace.T if column.any()]
        # fitted to its plot: the trace spans most of the plot's height (not a flat line, as in a range fitted
        # to the 50x channel), yet each pixel column is a short run (not a clipped one: a range 50x too small)
        assert len(rows) > 0.5 * len(band) and 5 < np.median(columns) < 0.4 * len(band)
        colours.append(band[trace].mean(axis=0))
    for i in range(4):  # each channel in its own colour
        for j in range(i):
            assert np.abs(colours[i] - colours[j]).max() > 60
