"""A slow viewer skips frames, not samples: a lossless reader on the same output receives everything."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from viewer_helpers import wait_until

from lslacq.core.stream import InputStream
from lslacq.devices.numpy_device import NumpyDeviceBuffer
from lslacq.errors import StreamTimeoutError
from lslacq.viewers import QOscilloscope


class SlowOscilloscope(QOscilloscope):
    """Takes 150 ms to draw each frame (a heavy plot on a slow machine)."""

    def _refresh(self):
        time.sleep(0.15)
        super()._refresh()


@pytest.mark.slow
def test_slow_viewer_never_slows_the_source_or_a_lossless_reader(qapp):
    dev = NumpyDeviceBuffer(name="dev")
    dev.configure(nb_channel=4, sample_interval=0.0005, chunksize=20)  # 2 kHz, a chunk every 10 ms
    dev.output.configure(protocol="tcp", transfermode="plaindata")
    dev.initialize()

    viewer = SlowOscilloscope(name="slow")
    viewer.configure(with_user_dialog=False)
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.params.update(xsize=0.05, refresh_interval=5)  # a 100-sample window: most samples are never shown

    reader = InputStream(name="lossless")
    reader.connect(dev.output)
    received, indexes, stop = [], [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                index, data = reader.recv(timeout=100)
            except StreamTimeoutError:
                continue
            received.append(np.array(data))
            indexes.append(index)

    thread = threading.Thread(target=read, name="lossless-reader")
    thread.start()
    try:
        viewer.show()
        viewer.start()
        dev.start()
        wait_until(qapp, lambda: viewer.frames >= 6, timeout=30, what="six slow frames")
        dev.stop()
        sent = dev.head
        wait_until(
            qapp,
            lambda: bool(indexes) and indexes[-1] == sent and viewer.counters()["last_index"] == sent,
            timeout=20,
            what="both readers to reach the device's last sample",
        )
        viewer.stop()
    finally:
        stop.set()
        thread.join(10)
        viewer.close()
        reader.close()
        dev.close()
    # the lossless reader got every sample, in order, with the device's content
    data = np.concatenate(received)
    assert len(data) == sent and reader.lost_samples == 0
    np.testing.assert_array_equal(data, np.concatenate([dev.buffer] * (sent // len(dev.buffer) + 1))[:sent])
    # the viewer drained its input completely too, and counted what it could not show
    counters = viewer.counters()
    assert counters["samples_in"] == sent and counters["lost_samples"] == 0
    assert counters["skipped_samples"] > 0
    assert counters["frames"] * 100 < sent  # far fewer frames than windows' worth of data
