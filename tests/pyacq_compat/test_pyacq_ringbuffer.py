"""pyacq's ``pyacq/core/stream/tests/test_ringbuffer.py``, renamed to lslacq.

Each test checks the same behaviour as the pyacq test of the same name.
"""

from __future__ import annotations

import numpy as np
import pytest

from lslacq.core.stream import RingBuffer


def _assert_is_fill(data, fill):
    if np.isnan(fill):
        assert np.all(np.isnan(data))
    else:
        assert np.all(data == fill)


def _assert_array_eq(a, b):
    ma, mb = np.isnan(a), np.isnan(b)
    assert a.shape == b.shape
    assert np.all(ma == mb)
    assert np.all(a[~ma] == b[~mb])


def _rings():
    return [
        (RingBuffer(shape=(10, 5, 7), dtype=np.ubyte, double=False), 0),
        (RingBuffer(shape=(10, 5, 7), dtype=np.ubyte, double=True), 0),
        (RingBuffer(shape=(10, 5, 7), dtype=np.float64, double=True), np.nan),
        (RingBuffer(shape=(10, 5, 7), dtype=np.ubyte, double=True, axisorder=(1, 2, 0)), 0),
        (RingBuffer(shape=(10, 5, 7), dtype="float32", double=False, axisorder=(1, 2, 0)), np.nan),
    ]


@pytest.mark.parametrize("case", range(5))
def test_ringbuffer(case):
    buf, fill = _rings()[case]
    _assert_is_fill(buf[-10:], fill)
    with pytest.raises(IndexError):
        buf[-11]
    with pytest.raises(IndexError):
        buf[1]
    with pytest.raises(ValueError, match="longer than the buffer"):
        buf.new_chunk(np.zeros((20, 5, 7), dtype=buf.dtype))
    with pytest.raises(ValueError, match="does not fit frames"):
        buf.new_chunk(np.zeros((10, 5, 8), dtype=buf.dtype))
    with pytest.raises(TypeError):
        buf.new_chunk(np.zeros((10, 5, 7), dtype="uint"))

    # a chunk: data and boundaries update
    d = np.ones((5, 5, 7), dtype=buf.dtype)
    buf.new_chunk(d)
    assert buf[1].shape == (5, 7)
    assert buf[:].shape == (10, 5, 7)
    assert buf[:, 2, 1:3].shape == (10, 2)
    assert np.all(buf[-5:] == 1)
    assert np.all(buf[0:] == buf[-5:])
    assert buf[-5:].shape == d.shape
    assert buf[-5:].dtype == d.dtype
    _assert_is_fill(buf[-10:-5], fill)
    order = np.argsort(buf[:].strides)[::-1]
    assert np.all(order == buf.axisorder)

    # another chunk
    buf.new_chunk(d[:3] * 2)
    assert buf[:].shape == (10, 5, 7)
    assert np.all(buf[-3:] == 2)
    assert np.all(buf[5:] == buf[-3:])
    assert np.all(buf[-8:-3] == 1)
    assert np.all(buf[-8:-3] == buf[0:5])
    _assert_is_fill(buf[-10:-8], fill)

    # a chunk across the ring break
    buf.new_chunk(d * 3)
    assert buf[:].shape == (10, 5, 7)
    with pytest.raises(IndexError):
        buf[-11]
    with pytest.raises(IndexError):
        buf[0]
    assert np.all(buf[-10:-8] == 1)
    assert np.all(buf[-8:-5] == 2)
    assert np.all(buf[-5:] == 3)
    assert np.all(buf[3:5] == 1)
    assert np.all(buf[5:8] == 2)
    assert np.all(buf[8:] == 3)
    order = np.argsort(buf[:].strides)[::-1]
    assert np.all(order == buf.axisorder)

    # a chunk after skipped data
    buf.new_chunk(d * 4, index=buf.index() + 7)
    assert buf[:].shape == (10, 5, 7)
    assert np.all(buf[-5:] == 4)
    _assert_is_fill(buf[-7:-5], fill)
    assert np.all(buf[-10:-7] == 3)
    _assert_array_eq(buf[::-1], buf[:][::-1])

    buf.new_chunk(d * 5, index=buf.index() + 15)
    assert buf[:].shape == (10, 5, 7)
    assert np.all(buf[-5:] == 5)
    _assert_is_fill(buf[-10:-5], fill)

    # extra indices, negative steps
    i = buf.first_index()
    _assert_array_eq(buf[::-1], buf[:][::-1])
    _assert_array_eq(buf[::-2], buf[:][::-2])
    _assert_array_eq(buf[i + 5 :: -3], buf[:][5::-3])
    _assert_array_eq(buf[: i + 7 : -1], buf[:][:7:-1])
    _assert_array_eq(buf[: i + 7 : -1, 3, ::-2], buf[:][:7:-1, 3, ::-2])
    _assert_array_eq(buf[i + 2, 3, ::-2], buf[:][2, 3, ::-2])

    # copy / no copy
    buf.new_chunk(np.arange(350).astype(buf.dtype).reshape(10, 5, 7), index=1005)
    a = buf[-4:]
    b = buf[-4:]
    c = buf[-8:]
    d = buf[-8:]
    _assert_array_eq(a, b)
    _assert_array_eq(c, d)
    a[:] = (np.random.default_rng().random(size=(4, 5, 7)) * 100).astype(buf.dtype)
    _assert_array_eq(a, b)
    c[:] = (np.random.default_rng().random(size=(8, 5, 7)) * 100).astype(buf.dtype)
    if buf.double:
        _assert_array_eq(c, d)
    else:
        assert not np.all(c == d)

    # get_data
    _assert_array_eq(buf[:], buf.get_data(buf.first_index(), buf.index()))
    a, b = buf.get_data(buf.first_index(), buf.index(), join=False)
    assert a.shape[0] + b.shape[0] == buf.shape[0]
    if a.shape[0] > 0:
        _assert_array_eq(buf[:][: a.shape[0]], a)
    if b.shape[0] > 0:
        _assert_array_eq(buf[-b.shape[0] :], b)


def test_ringbuffer_shm():
    buf1 = RingBuffer(shape=(10, 5, 7), dtype=np.ubyte, double=True, shmem=True, axisorder=(0, 2, 1))
    buf2 = RingBuffer(shape=(10, 5, 7), dtype=np.ubyte, double=True, shmem=buf1.shm_id, axisorder=(0, 2, 1))
    try:
        buf1.new_chunk(np.arange(350).astype(buf1.dtype).reshape(10, 5, 7), index=1005)
        assert buf2.index() == buf1.index()
        assert np.all(buf1[:] == buf2[:])
    finally:
        for buf in (buf2, buf1):
            close = getattr(buf, "close", None)
            if close is not None:
                close()
