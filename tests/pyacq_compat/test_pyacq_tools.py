"""pyacq's ``pyacq/core/tests/test_tools.py``, renamed to lslacq.

pyacq's sender is a QThread and the test runs ``app.exec_()`` until it ends;
lslacq's ThreadPollInput is a plain thread (docs/porting.md, first row), so
the sender here is a plain thread too and no event loop is needed. pyacq's
``StreamSplitter(nb_channel=...)`` is lslacq's ``ChannelSplitter`` (one output
per channel by default), and its pre-1.0 sharedarray options
(``sharedarray_shape``, ``ring_buffer_method``, ``timeaxis``) are the 1.0
names ``buffer_size``/``double``/``axisorder``.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from helpers import wait_until

from lslacq.core.stream import InputStream, OutputStream
from lslacq.core.tools import ChannelSplitter, StreamConverter, ThreadPollInput

NB_CHANNEL = 16
CHUNKSIZE = 1024
N_CHUNKS = 10
STREAM_SPEC = {
    "protocol": "tcp",
    "interface": "127.0.0.1",
    "port": "*",
    "transfermode": "plaindata",
    "streamtype": "analogsignal",
    "dtype": "float32",
    "shape": (-1, NB_CHANNEL),
    "compression": "",
    "scale": None,
    "offset": None,
    "units": "",
}


class ThreadSender(threading.Thread):
    def __init__(self, output_stream):
        super().__init__(daemon=True)
        self.output_stream = output_stream

    def run(self):
        index = 0
        for _ in range(N_CHUNKS):
            index += CHUNKSIZE
            arr = np.random.default_rng().random((CHUNKSIZE, NB_CHANNEL)).astype("float32")
            self.output_stream.send(arr, index=index)
            time.sleep(0.05)


def _wait(predicate, timeout=20.0):
    return wait_until(predicate, timeout, what="the poller's chunks")


@pytest.mark.slow
def test_ThreadPollInput():
    outstream = OutputStream()
    outstream.configure(**STREAM_SPEC)
    instream = InputStream()
    instream.connect(outstream)
    sender = ThreadSender(outstream)
    poller = ThreadPollInput(input_stream=instream)
    positions = []

    def on_new_data(pos, arr):
        assert arr.shape == (CHUNKSIZE, NB_CHANNEL)
        positions.append(pos)

    poller.new_data.connect(on_new_data)
    poller.start()
    sender.start()
    try:
        sender.join(30)
        assert _wait(lambda: len(positions) == N_CHUNKS)
    finally:
        poller.stop()
        poller.wait(10)
        instream.close()
        outstream.close()
    assert positions == [CHUNKSIZE * (i + 1) for i in range(N_CHUNKS)]


@pytest.mark.slow
def test_streamconverter():
    outstream = OutputStream()
    outstream.configure(**STREAM_SPEC)
    sender = ThreadSender(outstream)
    stream_spec2 = {
        "protocol": "tcp",
        "interface": "127.0.0.1",
        "port": "*",
        "transfermode": "sharedmem",
        "streamtype": "analogsignal",
        "dtype": "float32",
        "shape": (-1, NB_CHANNEL),
        "compression": "",
        "scale": None,
        "offset": None,
        "units": "",
        "buffer_size": CHUNKSIZE * 20,
        "double": True,
        "axisorder": (1, 0),
    }
    conv = StreamConverter()
    conv.configure()
    conv.input.connect(outstream)
    conv.output.configure(**stream_spec2)
    conv.initialize()
    instream = InputStream()
    instream.connect(conv.output)
    positions = []

    def on_new_data(pos, arr):
        assert arr is None  # sharedmem: only the index travels
        positions.append(pos)

    poller = ThreadPollInput(input_stream=instream, return_data=False)
    poller.new_data.connect(on_new_data)
    poller.start()
    conv.start()
    sender.start()
    try:
        sender.join(30)
        assert _wait(lambda: len(positions) == N_CHUNKS)
        # the converted data is in the shared ring, channel-major as configured
        data = instream[CHUNKSIZE * (N_CHUNKS - 2) : CHUNKSIZE * N_CHUNKS]
        assert data.shape == (2 * CHUNKSIZE, NB_CHANNEL)
    finally:
        poller.stop()
        poller.wait(10)
        conv.stop()
        conv.close()
        instream.close()
        outstream.close()
    assert positions == [CHUNKSIZE * (i + 1) for i in range(N_CHUNKS)]


@pytest.mark.slow
def test_stream_splitter():
    outstream = OutputStream()
    outstream.configure(**STREAM_SPEC)
    sender = ThreadSender(outstream)
    shapes, instreams, pollers = [], [], []
    lock = threading.Lock()

    def on_new_data(pos, arr):
        with lock:
            shapes.append(arr.shape)

    splitter = ChannelSplitter()
    splitter.configure()
    splitter.input.connect(outstream)
    assert len(splitter.outputs) == NB_CHANNEL
    for output in splitter.outputs.values():
        output.configure(shape=(-1, 1))
        instream = InputStream()
        instream.connect(output)
        poller = ThreadPollInput(input_stream=instream)
        poller.new_data.connect(on_new_data)
        instreams.append(instream)
        pollers.append(poller)
    splitter.initialize()
    for poller in pollers:
        poller.start()
    splitter.start()
    sender.start()
    try:
        sender.join(30)
        assert _wait(lambda: len(shapes) == N_CHUNKS * NB_CHANNEL)
        assert set(shapes) == {(CHUNKSIZE, 1)}
    finally:
        splitter.stop()
        for poller in pollers:
            poller.stop()
            poller.wait(10)
        splitter.close()
        for instream in instreams:
            instream.close()
        outstream.close()
