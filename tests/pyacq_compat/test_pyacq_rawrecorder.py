"""pyacq's ``pyacq/rec/tests/test_rawrecorder.py``, renamed to lslacq.

pyacq records for 2 s in ``app.exec_()`` and checks nothing; here the
recording runs until every device sent data, and the files are read back
(``lslacq.rec.read_recording``): dtype, channels, samples and annotations.
pyacq writes into ``./test_rec``; here into a temporary directory.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers import wait_until

from lslacq import create_manager
from lslacq.rec import RawRecorder, read_recording


@pytest.mark.slow
def test_RawRecorder(tmp_path):
    man = create_manager(auto_close_at_exit=False)
    rec = None
    try:
        ng0 = man.create_nodegroup()
        sample_rates = [100.0, 1000.0, 10000.0]
        nb_channels = [16, 32, 1]
        dtypes = ["float32", "int16", "float64"]
        chunksizes = [25, 250, 2000]
        devices, buffers = [], []
        for i in range(3):
            sample_rate, nb_channel = sample_rates[i], nb_channels[i]
            chunksize, dtype = chunksizes[i], dtypes[i]
            length = int(sample_rate * 3)
            length = length - length % chunksize
            t = np.arange(length) / sample_rate
            buffer = np.random.default_rng().random((length, nb_channel)) * 0.3
            buffer += np.sin(2 * np.pi * 1.2 * t)[:, None] * 0.5
            buffer = buffer.astype(dtype)
            dev = ng0.create_node("NumpyDeviceBuffer", name=f"dev{i}")
            dev.configure(nb_channel=nb_channel, sample_interval=1.0 / sample_rate, chunksize=chunksize, buffer=buffer)
            dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
            dev.initialize()
            devices.append(dev)
            buffers.append(buffer)

        dirname = tmp_path / "test_rec"
        rec = RawRecorder()
        rec.configure(streams=[dev.output for dev in devices], autoconnect=True, dirname=dirname)
        rec.initialize()
        rec.add_annotations(yep="abc", yop=12.5, yip=1)
        rec.start()
        for dev in devices:
            dev.start()
        wait_until(
            lambda: all(dev.head >= 2 * cs for dev, cs in zip(devices, chunksizes, strict=True)),
            20,
            0.05,
            "two chunks from every device",
        )
        for dev in devices:
            dev.stop()
        time.sleep(0.3)  # the last chunks reach the recorder
        rec.stop()
        rec.close()
        rec = None
        for dev in devices:
            dev.close()
    finally:
        if rec is not None:
            rec.close()
        man.close()

    with read_recording(dirname) as recording:
        assert recording.annotations["yep"] == "abc"
        assert recording.annotations["yop"] == 12.5 and recording.annotations["yip"] == 1
        assert len(recording.streams) == 3
        for stream, buffer, dtype, nb_channel in zip(
            recording.streams.values(), buffers, dtypes, nb_channels, strict=True
        ):
            assert stream.dtype == np.dtype(dtype)
            assert stream.nb_channel == nb_channel
            n = len(stream)
            assert n > 0
            np.testing.assert_array_equal(np.asarray(stream.data)[:n], buffer[:n])
