"""The manual-style script: a manager, a NodeGroup running a NumpyDeviceBuffer (16 ch), a QOscilloscope here.

The issue's report: with ``params['scale_mode'] = 'by_channel'`` set before start, the 16 channels were squeezed
into one thin band. Checked on the rendered pixels (``widget.grab()``): 16 bands, one below the other, each
holding its channel's trace with a visible oscillation, together filling the plot.
"""

from __future__ import annotations

import numpy as np
import pytest
from viewer_helpers import assert_readable, color_mask, render, wait_until

from lslacq.core import create_manager

N_CH, RATE = 16, 1000.0


@pytest.mark.slow
def test_manual_script_by_channel_set_before_start_draws_16_bands(qapp):
    from lslacq.viewers import QOscilloscope

    rng = np.random.default_rng(11)
    t = np.arange(10_000)[:, None] / RATE
    # DC offsets of +-50 mV (in uV) and oscillations of 5..20 uV: a gain per channel
    buffer = rng.uniform(-50_000, 50_000, N_CH) + (5 + np.arange(N_CH)) * np.sin(2 * np.pi * 7 * t)
    man = create_manager("rpc", auto_close_at_exit=False)
    viewer = None
    try:
        ng = man.create_nodegroup("acq")
        dev = ng.create_node("NumpyDeviceBuffer", name="dev")
        dev.configure(nb_channel=N_CH, sample_interval=1 / RATE, chunksize=50, buffer=buffer.astype("float32"))
        dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        dev.initialize()
        viewer = QOscilloscope()
        viewer.configure()
        viewer.input.connect(dev.output)
        viewer.initialize()
        viewer.resize(1000, 800)
        viewer.show()
        viewer.params["scale_mode"] = "by_channel"  # before start, as in the report
        viewer.start()
        dev.start()
        window = viewer.params["xsize"] * RATE
        wait_until(
            qapp,
            lambda: viewer._auto != "first" and viewer.counters()["samples_in"] >= window + 100,
            timeout=30,
            what="the first automatic scaling and a full window",
        )
        image = render(qapp, viewer)
        measured = assert_readable(viewer, image, min_swing=0.25, scale_bar=False)  # a gain each: no common bar
        assert measured["bands"] == N_CH and measured["label_boxes"] == N_CH
        gains = np.array(viewer.by_channel_params.values("gain"))
        # larger oscillations, smaller gains (rounded to 1-2-5 steps): each fills its band
        assert np.all(np.diff(gains) <= 0) and gains[0] > 2 * gains[-1], gains
        # from the pixels alone: each channel's trace sits one band below the previous one, the 16 spread over
        # the plot's height (one thin band would put them all within a few rows)
        left, top, right, bottom = (int(round(v)) for v in measured["plot"])
        centres = []
        for _, rgb, _, _ in viewer.frame_geometry()["bands"]:
            rows = np.nonzero(color_mask(image, rgb, tol=8)[top:bottom, left + 1 : right - 1])[0]
            centres.append(np.median(rows))
        spacing = np.diff(centres)
        band_px = (bottom - top) / N_CH
        assert np.all(spacing > 0.8 * band_px) and np.all(spacing < 1.2 * band_px), (spacing, band_px)
        assert centres[-1] - centres[0] > 0.85 * (bottom - top) * (N_CH - 1) / N_CH
    finally:
        if viewer is not None:
            viewer.close()
        man.close()
