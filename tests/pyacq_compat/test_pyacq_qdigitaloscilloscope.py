"""pyacq's ``pyacq/viewers/test/test_qdigitaloscilloscope.py``, renamed to lslacq."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyqtgraph")

from pyacq_viewer_checks import assert_rendered, run_until

from lslacq.devices import NumpyDeviceBuffer
from lslacq.viewers._qt import mkQApp
from lslacq.viewers.qdigitaloscilloscope import QDigitalOscilloscope

SAMPLE_RATE = 10000.0
CHUNKSIZE = int(SAMPLE_RATE // 100)


@pytest.mark.slow
def test_QDigitalOscilloscope():
    app = mkQApp()
    length = int(SAMPLE_RATE * 200)
    buffer = np.zeros((length, 3), dtype="uint8")
    nb_channel = buffer.shape[1] * 8
    for i in range(nb_channel):
        b = i // 8
        mask = 1 << i % 8
        cycle_size = int((i + 1) * SAMPLE_RATE / 2)
        period = np.concatenate(
            [np.zeros(cycle_size, dtype="uint8"), np.ones(cycle_size, dtype="uint8")] * int(1 + length / cycle_size / 2)
        )[:length]
        buffer[:, b] += period * mask
    channel_info = [{"name": f"di{c}"} for c in range(nb_channel)]
    dev = NumpyDeviceBuffer()
    dev.configure(nb_channel=buffer.shape[1], sample_interval=1.0 / SAMPLE_RATE, chunksize=CHUNKSIZE, buffer=buffer)
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    # pyacq's "hack for channel names"
    dev.output.params["channel_info"] = channel_info
    dev.initialize()
    viewer = QDigitalOscilloscope()
    viewer.configure(with_user_dialog=True)
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.resize(500, 400)
    viewer.show()
    dev.start()
    viewer.start()
    try:
        assert run_until(app, lambda: viewer.counters()["samples_in"] >= 2000 and viewer.frames > 2)
        assert_rendered(viewer)
    finally:
        viewer.stop()
        dev.stop()
        viewer.close()
        dev.close()
