"""pyacq's ``pyacq/core/stream/tests/test_stream.py``, renamed to lslacq."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from lslacq.core.stream import InputStream, OutputStream

PROTOCOLS = ["tcp", "inproc", "ipc"]
if sys.platform.startswith("win"):
    PROTOCOLS.remove("ipc")


def _compression_methods():
    from lslacq.core.stream import compression_methods

    return compression_methods


def check_stream(chunksize=1024, chan_shape=(16,), **kwds):
    chunk_shape = (chunksize,) + chan_shape
    stream_spec = {
        "protocol": "tcp",
        "interface": "127.0.0.1",
        "port": "*",
        "transfermode": "plaindata",
        "streamtype": "analogsignal",
        "dtype": "float32",
        "shape": chunk_shape,
        "compression": "",
        "scale": None,
        "offset": None,
        "units": "",
    }
    stream_spec.update(kwds)
    outstream = OutputStream()
    outstream.configure(**stream_spec)
    instream = InputStream()
    try:
        instream.connect(outstream)
        for i in range(5):
            if i == 1:
                # non-aligned data (a transposed view)
                cs = (chunk_shape[1], chunk_shape[0]) + chunk_shape[2:]
                arr = np.random.default_rng().random(cs).transpose(1, 0).astype(stream_spec["dtype"])
            else:
                arr = np.random.default_rng().random(chunk_shape).astype(stream_spec["dtype"])
            outstream.send(arr)
            index, arr2 = instream.recv(return_data=True, timeout=10)
            assert index == outstream.last_index
            assert np.all((arr - arr2) == 0.0)
    finally:
        instream.close()
        outstream.close()


@pytest.mark.slow
def test_stream_plaindata():
    for protocol in PROTOCOLS:
        for compression in _compression_methods():
            check_stream(transfermode="plaindata", protocol=protocol, compression=compression)


def test_stream_sharedmem():
    chunksize = 128
    for protocol in PROTOCOLS:
        check_stream(
            chunksize=chunksize,
            chan_shape=(16,),
            buffer_size=chunksize * 10,
            transfermode="sharedmem",
            protocol=protocol,
            dtype="float32",
        )


def check_stream_ringbuffer(**kwds):
    stream_spec = {
        "protocol": "tcp",
        "interface": "127.0.0.1",
        "port": "*",
        "transfermode": "plaindata",
        "streamtype": "analogsignal",
        "dtype": "float32",
        "shape": (-1, 16),
        "compression": "",
        "scale": None,
        "offset": None,
        "units": "",
        "axisorder": None,
        "double": True,
    }
    stream_spec.update(kwds)
    outstream = OutputStream()
    outstream.configure(**stream_spec)
    instream = InputStream()
    try:
        instream.connect(outstream)
        instream.set_buffer(
            stream_spec["buffer_size"], axisorder=stream_spec["axisorder"], double=stream_spec["double"]
        )
        # pyacq also asserts the private ``instream._own_buffer is False`` for
        # sharedmem (the reader reuses the shared ring): internals, not checked.
        data = np.random.default_rng().normal(size=(4096, 16)).astype("float32")
        for i in range(16):
            outstream.send(data[i * 256 : (i + 1) * 256])
            instream.recv(timeout=10)
        data2 = instream[0:4096]
        assert np.all(data2 == data)
        if outstream.params["axisorder"] is not None:
            assert np.all(np.argsort(data2.strides)[::-1] == outstream.params["axisorder"])
    finally:
        instream.close()
        outstream.close()


def check_stream_struct_dtype(**kwds):
    dtype_struct = [("datetime", "datetime64[ms]"), ("message", "S32")]
    stream_spec = {
        "protocol": "tcp",
        "interface": "127.0.0.1",
        "port": "*",
        "transfermode": "plaindata",
        "streamtype": "analogsignal",
        "dtype": dtype_struct,
        "shape": (-1,),
        "compression": "",
        "scale": None,
        "offset": None,
        "units": "",
        "axisorder": None,
        "double": True,
    }
    stream_spec.update(kwds)
    outstream = OutputStream()
    outstream.configure(**stream_spec)
    instream = InputStream()
    try:
        instream.connect(outstream)
        instream.set_buffer(
            stream_spec["buffer_size"], axisorder=stream_spec["axisorder"], double=stream_spec["double"]
        )
        data = np.zeros(50, dtype=dtype_struct)
        for i in range(10):
            outstream.send(data[i * 5 : (i + 1) * 5])
            instream.recv(timeout=10)
        data2 = instream[0:50]
        assert np.all(data2 == data)
    finally:
        instream.close()
        outstream.close()


def test_plaindata_ringbuffer():
    check_stream_ringbuffer(transfermode="plaindata", buffer_size=4096)
    check_stream_struct_dtype(transfermode="plaindata", buffer_size=4096)


def test_sharedmem_ringbuffer():
    check_stream_ringbuffer(transfermode="sharedmem", buffer_size=4096)
    check_stream_ringbuffer(transfermode="sharedmem", buffer_size=4096, axisorder=(1, 0))
    check_stream_struct_dtype(transfermode="sharedmem", buffer_size=4096)
