"""pyacq's ``pyacq/viewers/test/test_qtoscilloscope.py``, renamed to lslacq."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyqtgraph")

from pyacq_viewer_checks import assert_rendered, run_until

from lslacq import create_manager
from lslacq.viewers._qt import mkQApp
from lslacq.viewers.qoscilloscope import QOscilloscope

NB_CHANNEL = 32
SAMPLE_RATE = 10000.0
CHUNKSIZE = 100


@pytest.mark.slow
def test_qoscilloscope():
    man = create_manager(auto_close_at_exit=False)
    viewer = None
    try:
        ng = man.create_nodegroup()
        app = mkQApp()
        length = int(SAMPLE_RATE * 20)
        t = np.arange(length) / SAMPLE_RATE
        buffer = np.random.default_rng().random((length, NB_CHANNEL)) * 0.3
        buffer += np.sin(2 * np.pi * 1.2 * t)[:, None] * 0.5
        buffer = buffer.astype("float32")
        dev = ng.create_node("NumpyDeviceBuffer")
        dev.configure(nb_channel=NB_CHANNEL, sample_interval=1.0 / SAMPLE_RATE, chunksize=CHUNKSIZE, buffer=buffer)
        dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        dev.initialize()
        viewer = QOscilloscope()
        viewer.configure(with_user_dialog=True)
        viewer.input.connect(dev.output)
        viewer.initialize()
        viewer.resize(500, 400)
        viewer.show()
        viewer.params["decimation_method"] = "min_max"
        dev.start()
        viewer.start()
        assert run_until(app, lambda: viewer.counters()["samples_in"] >= 5000 and viewer.frames > 2)
        assert_rendered(viewer)
        viewer.stop()
        dev.stop()
        dev.close()
    finally:
        if viewer is not None:
            viewer.close()
        man.close()
