"""pyacq's ``pyacq/dsp/tests/test_trigger.py``, renamed to lslacq.

pyacq's triggers send int64 sample indexes; lslacq's send event records
unless configured with ``output_format='indexes'`` (docs/porting.md,
"triggers send int64 sample indexes"), which these tests use. pyacq runs each
case for 5 s in ``app.exec_()``; lslacq's poller is a plain thread, so the
test waits (same real-time signal) until the expected count arrived.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers import wait_until

from lslacq import NumpyDeviceBuffer, ThreadPollOutput
from lslacq.dsp.trigger import AnalogTrigger

NB_CHANNEL = 6
SAMPLE_RATE = 1000.0
CHUNKSIZE = 100

_length = int(SAMPLE_RATE * 20)
_t = np.arange(_length) / SAMPLE_RATE
BUFFER = np.random.default_rng().random((_length, NB_CHANNEL)) * 0.3
BUFFER[:, 0] = 0
for _i in range(1, 5):
    BUFFER[(_t > _i) & (_t < _i + 0.4), 0] = 2.0
    if _i % 3 == 0:
        # a rebounce every 3 triggers
        BUFFER[(_t > _i + 0.01) & (_t < _i + 0.015), 0] = 0.0
        BUFFER[(_t > _i + 0.02) & (_t < _i + 0.025), 0] = 0.0
BUFFER = BUFFER.astype("float32")


def setup_nodes():
    dev = NumpyDeviceBuffer()
    dev.configure(nb_channel=NB_CHANNEL, sample_interval=1.0 / SAMPLE_RATE, chunksize=CHUNKSIZE, buffer=BUFFER)
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata", dtype="float32")
    dev.initialize()
    trigger = AnalogTrigger()
    trigger.configure(output_format="indexes")
    trigger.input.connect(dev.output)
    trigger.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    trigger.initialize()
    trigger.params["threshold"] = 1.0
    trigger.params["front"] = "+"
    return dev, trigger


def check_trigger(debounce_time, debounce_mode, targeted_trigs):
    dev, trigger = setup_nodes()
    trigger.params["debounce_time"] = debounce_time
    trigger.params["debounce_mode"] = debounce_mode
    detected = []

    def on_new_trigger(pos, indexes):
        detected.extend(indexes)

    poller = ThreadPollOutput(trigger.output, return_data=True)
    poller.new_data.connect(on_new_trigger)
    poller.start()
    trigger.start()
    dev.start()
    try:
        # the last trigger is at 4.0 s (+ debounce); wait past 4.5 s of signal
        wait_until(lambda: dev.head >= 4600, 30, 0.05, "4600 samples sent")
        time.sleep(0.2)
    finally:
        dev.stop()
        trigger.stop()
        poller.close()
        trigger.close()
        dev.close()
    assert np.array_equal(detected, targeted_trigs), f"{detected} should be {targeted_trigs}"


@pytest.mark.slow
def test_AnalogTrigger_nodebounce():
    check_trigger(0.1, "no-debounce", [1001, 2001, 3001, 3015, 3025, 4001])


@pytest.mark.slow
def test_AnalogTrigger_after_stable():
    check_trigger(0.1, "after-stable", [1001, 2001, 3025, 4001])


@pytest.mark.slow
def test_AnalogTrigger_before_stable():
    check_trigger(0.1, "before-stable", [1001, 2001, 3001, 4001])
