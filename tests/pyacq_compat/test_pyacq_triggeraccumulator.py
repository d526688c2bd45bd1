"""pyacq's ``pyacq/dsp/tests/test_triggeraccumulator.py``, renamed to lslacq.

pyacq runs 6 s in ``app.exec_()``; here the test waits for the same
real-time signal to pass its last trigger (4.0 s plus the 0.5 s right sweep).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import wait_until

from lslacq import NumpyDeviceBuffer
from lslacq.dsp.trigger import AnalogTrigger
from lslacq.dsp.triggeraccumulator import TriggerAccumulator

NB_CHANNEL = 2
SAMPLE_RATE = 1000.0
CHUNKSIZE = 100

_length = int(SAMPLE_RATE * 20)
_t = np.arange(_length) / SAMPLE_RATE
BUFFER = np.random.default_rng().random((_length, NB_CHANNEL)) * 0.3
BUFFER[:, 0] = 0
for _i in range(1, 5):
    BUFFER[(_t > _i) & (_t < _i + 0.4), 0] = 2.0
    if _i % 3 == 0:
        BUFFER[(_t > _i + 0.01) & (_t < _i + 0.015), 0] = 0.0
        BUFFER[(_t > _i + 0.02) & (_t < _i + 0.025), 0] = 0.0
BUFFER = BUFFER.astype("float32")


@pytest.mark.slow
def test_TriggerAccumulator():
    dev = NumpyDeviceBuffer()
    dev.configure(nb_channel=NB_CHANNEL, sample_interval=1.0 / SAMPLE_RATE, chunksize=CHUNKSIZE, buffer=BUFFER)
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata", dtype="float32")
    dev.initialize()

    trigger = AnalogTrigger()
    trigger.configure()
    trigger.input.connect(dev.output)
    trigger.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    trigger.initialize()
    trigger.params["threshold"] = 1.0
    trigger.params["debounce_mode"] = "no-debounce"
    trigger.params["front"] = "+"
    trigger.params["debounce_time"] = 0.1

    triggeraccumulator = TriggerAccumulator()
    triggeraccumulator.configure(max_stack_size=5)
    triggeraccumulator.inputs["signals"].connect(dev.output)
    triggeraccumulator.inputs["events"].connect(trigger.output)
    triggeraccumulator.initialize()
    triggeraccumulator.params["stack_size"] = 3
    triggeraccumulator.params["left_sweep"] = -0.2
    triggeraccumulator.params["right_sweep"] = 0.5

    dev.start()
    trigger.start()
    triggeraccumulator.start()
    try:
        wait_until(lambda: triggeraccumulator.total_trig >= 6, 30, 0.05, "6 triggers")
        wait_until(lambda: dev.head >= 5000, 30, 0.05, "the device's end")  # nothing more after the last trigger
    finally:
        dev.stop()
        trigger.stop()
        triggeraccumulator.stop()
        for node in (triggeraccumulator, trigger, dev):
            node.close()
    assert triggeraccumulator.total_trig == 6
