"""pyacq's ``pyacq/viewers/test/test_qtriggeredoscilloscope.py``, renamed to lslacq.

pyacq's signal is channel-major with ``timeaxis=1`` and a 'sharedarray'
stream (its pre-1.0 options); here the same signal, time-major, on a
sharedmem stream with a channel-major ring (``axisorder=(1, 0)``).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyqtgraph")

from pyacq_viewer_checks import assert_rendered, run_until

from lslacq.devices import NumpyDeviceBuffer
from lslacq.viewers._qt import mkQApp
from lslacq.viewers.qoscilloscope import QOscilloscope
from lslacq.viewers.qtriggeredoscilloscope import QTriggeredOscilloscope

NB_CHANNEL = 6
SAMPLE_RATE = 1000.0
CHUNKSIZE = 100

_length = int(SAMPLE_RATE * 20)
_t = np.arange(_length) / SAMPLE_RATE
BUFFER = np.random.default_rng().random((_length, NB_CHANNEL)) * 0.3
BUFFER[:, 0] = 0
for _i in range(1, 20):
    BUFFER[(_t > _i) & (_t < _i + 0.4), 0] = 2.0
    if _i % 3 == 0:
        BUFFER[(_t > _i + 0.01) & (_t < _i + 0.015), 0] = 0.0
        BUFFER[(_t > _i + 0.02) & (_t < _i + 0.025), 0] = 0.0
BUFFER = BUFFER.astype("float32")


@pytest.mark.slow
def test_QTriggeredOscilloscope():
    app = mkQApp()
    dev = NumpyDeviceBuffer()
    dev.configure(nb_channel=NB_CHANNEL, sample_interval=1.0 / SAMPLE_RATE, chunksize=CHUNKSIZE, buffer=BUFFER)
    dev.output.configure(
        protocol="tcp",
        interface="127.0.0.1",
        transfermode="sharedmem",
        buffer_size=2048 * 50,
        double=True,
        axisorder=(1, 0),
        dtype="float32",
    )
    dev.initialize()
    viewer = QTriggeredOscilloscope()
    viewer.configure(with_user_dialog=True)
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.show()
    viewer.trigger.params["threshold"] = 1.0
    viewer.trigger.params["debounce_mode"] = "after-stable"
    viewer.trigger.params["front"] = "+"
    viewer.trigger.params["debounce_time"] = 0.1
    viewer.triggeraccumulator.params["stack_size"] = 3
    viewer.triggeraccumulator.params["left_sweep"] = -0.2
    viewer.triggeraccumulator.params["right_sweep"] = 0.5
    viewer2 = QOscilloscope()
    viewer2.configure(with_user_dialog=True)
    viewer2.input.connect(dev.output)
    viewer2.initialize()
    viewer2.show()
    dev.start()
    viewer.start()
    viewer2.start()
    try:
        # the first trigger is at 1.0 s, its sweep ends 0.5 s later
        assert run_until(app, lambda: viewer.counters()["triggers"] >= 1 and viewer2.frames > 2)
        drawn = viewer.frames
        assert run_until(app, lambda: viewer.frames >= drawn + 2)  # a refresh after the epoch
        assert viewer.triggeraccumulator.total_trig >= 1
        assert_rendered(viewer)
        assert_rendered(viewer2)
    finally:
        viewer.stop()
        viewer2.stop()
        dev.stop()
        viewer.close()
        viewer2.close()
        dev.close()
