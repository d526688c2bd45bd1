"""The two checks pyacq's ``test_sosfilter.py`` and ``test_overlapfiltfilt.py`` share.

``do_filtertest``: a filter between a NumpyDeviceBuffer and two QOscilloscopes.
pyacq shows them for 3 s and asserts nothing; here the event loop runs until
both viewers received data and drew, then the rendered widgets are checked
(offscreen ``grab()``: not blank).

``compare_online_offline``: the filter runs in a nodegroup; its output is
compared with ``scipy.signal.sosfilt`` of the same signal. pyacq reads the
filter's private shared ring (``filter.output.sender._numpyarr``); here a
``ThreadPollOutput`` collects the output chunks (public API).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.signal
from helpers import wait_until

from lslacq import NumpyDeviceBuffer, ThreadPollOutput, create_manager

NB_CHANNEL = 4
SAMPLE_RATE = 1000.0
CHUNKSIZE = 500

_length = int(SAMPLE_RATE * 20)
_times = np.arange(_length) / SAMPLE_RATE
_rng = np.random.default_rng(0)
BUFFER = _rng.random((_length, NB_CHANNEL)) * 0.3
_f1, _f2, _speed = 20.0, 60.0, 0.05
_freqs = (np.sin(np.pi * 2 * _speed * _times) + 1) / 2 * (_f2 - _f1) + _f1
_phases = np.cumsum(_freqs / SAMPLE_RATE) * 2 * np.pi
_ampl = np.abs(np.sin(np.pi * 2 * _speed * 8 * _times)) * 0.8
BUFFER += (np.sin(_phases) * _ampl)[:, None]
BUFFER = BUFFER.astype("float32")

# pyacq's 'sharedarray' spec (sharedarray_shape=(nb_channel, 2048*50), double ring, channel-major)
STREAM_SPEC = {
    "protocol": "tcp",
    "interface": "127.0.0.1",
    "transfermode": "sharedmem",
    "buffer_size": 2048 * 50,
    "double": True,
    "axisorder": (1, 0),
    "dtype": "float32",
}


def _coefficients(f1, f2):
    return scipy.signal.iirfilter(
        7, [f1 / SAMPLE_RATE * 2, f2 / SAMPLE_RATE * 2], btype="bandpass", ftype="butter", output="sos"
    )


def do_filtertest(FilterClass, engine):
    from lslacq.viewers import QOscilloscope
    from lslacq.viewers._qt import mkQApp, qimage_to_array

    app = mkQApp()
    dev = NumpyDeviceBuffer()
    dev.configure(nb_channel=NB_CHANNEL, sample_interval=1.0 / SAMPLE_RATE, chunksize=CHUNKSIZE, buffer=BUFFER)
    dev.output.configure(**STREAM_SPEC)
    dev.initialize()
    filt = FilterClass()
    filt.configure(coefficients=_coefficients(40.0, 60.0), engine=engine, chunksize=CHUNKSIZE)
    filt.input.connect(dev.output)
    filt.output.configure(**STREAM_SPEC)
    filt.initialize()
    viewers = []
    for source in (filt.output, dev.output):
        viewer = QOscilloscope()
        viewer.configure(with_user_dialog=True)
        viewer.input.connect(source)
        viewer.initialize()
        viewer.resize(400, 300)
        viewer.show()
        viewers.append(viewer)
    for viewer in viewers:
        viewer.start()
    filt.start()
    dev.start()
    try:
        wait_until(
            lambda: all(v.counters()["samples_in"] >= 2 * CHUNKSIZE and v.frames > 2 for v in viewers),
            20,
            what="the viewers to draw",
            each=app.processEvents,
        )
        for viewer in viewers:
            assert viewer.counters()["samples_in"] >= 2 * CHUNKSIZE
            assert viewer.frames > 2
            image = qimage_to_array(viewer.grab().toImage())
            assert image.shape[0] > 0 and len(np.unique(image.reshape(-1, 4), axis=0)) > 2  # traces drawn
    finally:
        dev.stop()
        filt.stop()
        for viewer in viewers:
            viewer.stop()
            viewer.close()
        filt.close()
        dev.close()


def compare_online_offline(FilterClass, engine, offline):
    man = create_manager(auto_close_at_exit=False)
    try:
        ng = man.create_nodegroup()
        dev = ng.create_node("NumpyDeviceBuffer")
        dev.configure(nb_channel=NB_CHANNEL, sample_interval=1.0 / SAMPLE_RATE, chunksize=CHUNKSIZE, buffer=BUFFER)
        dev.output.configure(**STREAM_SPEC)
        dev.initialize()
        coefficients = _coefficients(_f1, _f2)
        filt = ng.create_node(FilterClass.__name__)
        filt.configure(coefficients=coefficients, engine=engine, chunksize=CHUNKSIZE)
        filt.input.connect(dev.output)
        filt.output.configure(**STREAM_SPEC)
        filt.initialize()
        chunks = []
        poller = ThreadPollOutput(filt.output, return_data=True)
        poller.new_data.connect(lambda pos, data: chunks.append((pos, np.array(data))))
        poller.start()
        filt.start()
        dev.start()
        try:
            wait_until(lambda: sum(len(c) for _, c in chunks) >= 4 * CHUNKSIZE, 30, 0.05, "4 filtered chunks")
            dev.stop()
            time.sleep(0.1)
            filt.stop()
        finally:
            poller.close()
        head = chunks[-1][0]
        output_arr = np.concatenate([c for _, c in chunks])
        assert output_arr.shape[0] == head >= 4 * CHUNKSIZE
        offline_arr = offline(coefficients.astype("float32"), BUFFER[:head].astype("float32"))
        residual = np.abs(
            (output_arr.astype("float64") - offline_arr.astype("float64"))
            / np.mean(np.abs(offline_arr.astype("float64")))
        )
        assert np.max(residual) < 5e-5, "online differs from offline"
    finally:
        man.close()


def sosfilt(coefficients, signal):
    return scipy.signal.sosfilt(coefficients, signal, axis=0, zi=None)


def opencl_available():
    try:
        from lslacq.dsp.opencl import require_opencl

        require_opencl()
    except ImportError:
        return False
    return True
