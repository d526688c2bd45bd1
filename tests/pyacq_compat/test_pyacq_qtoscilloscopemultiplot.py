"""pyacq's ``pyacq/viewers/test/test_qtoscilloscopemultiplot.py``, renamed to lslacq."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyqtgraph")

from pyacq_viewer_checks import assert_rendered, run_until

from lslacq import create_manager
from lslacq.viewers._qt import mkQApp
from lslacq.viewers.qoscilloscopemultiplot import QOscilloscopeMultiPlot

NB_CHANNEL = 5
SAMPLE_RATE = 1000.0
CHUNKSIZE = 100


def lauch_qoscilloscopemultiplot(transfermode, axisorder):
    man = create_manager(auto_close_at_exit=False)
    viewer = None
    try:
        ng = man.create_nodegroup()
        app = mkQApp()
        length = int(SAMPLE_RATE * 20)
        t = np.arange(length) / SAMPLE_RATE
        rng = np.random.default_rng(0)
        buffer = rng.random((length, NB_CHANNEL)) * 0.3
        buffer += np.sin(2 * np.pi * 1.2 * t)[:, None] * 0.5
        buffer += rng.standard_normal(NB_CHANNEL)[None, :] * 50  # an offset per channel
        buffer[:, -1] = 0
        buffer = buffer.astype("float32")
        dev = ng.create_node("NumpyDeviceBuffer")
        dev.configure(nb_channel=NB_CHANNEL, sample_interval=1.0 / SAMPLE_RATE, chunksize=CHUNKSIZE, buffer=buffer)
        if transfermode == "plaindata":
            dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        elif transfermode == "sharedmem":
            dev.output.configure(
                protocol="tcp",
                interface="127.0.0.1",
                transfermode="sharedmem",
                buffer_size=int(SAMPLE_RATE * 62.0),
                axisorder=axisorder,
                double=True,
            )
        dev.initialize()
        viewer = QOscilloscopeMultiPlot()
        viewer.configure(with_user_dialog=True)
        viewer.input.connect(dev.output)
        viewer.initialize()
        viewer.resize(500, 600)
        viewer.show()
        viewer.params["decimation_method"] = "min_max"
        dev.start()
        viewer.start()
        assert run_until(app, lambda: viewer.counters()["samples_in"] >= 1000 and viewer.frames > 2)
        viewer.auto_scale()  # pyacq's controller: each plot's y range fits its channel
        for c in range(NB_CHANNEL - 1):
            lo, hi = viewer.by_channel_params[c, "ylim_min"], viewer.by_channel_params[c, "ylim_max"]
            assert lo < buffer[:1000, c].mean() < hi and hi - lo < 5
        assert_rendered(viewer)
        viewer.stop()
        dev.stop()
        dev.close()
    finally:
        if viewer is not None:
            viewer.close()
        man.close()


@pytest.mark.slow
def test_qoscilloscopemultiplot1():
    lauch_qoscilloscopemultiplot(transfermode="sharedmem", axisorder=[0, 1])
