"""pyacq's ``pyacq/core/stream/tests/test_sharedarray.py``, renamed to lslacq."""

from __future__ import annotations

import numpy as np
import pytest

from lslacq.core.stream.sharedarray import SharedArray, SharedMem


def test_sharedmem():
    with SharedMem(nbytes=10) as shm1:
        arr1 = shm1.to_numpy(offset=2, shape=8, dtype="ubyte")
        assert arr1.flags["WRITEABLE"]
        with SharedMem(nbytes=10, shm_id=shm1.shm_id) as shm2:
            arr2 = shm2.to_numpy(offset=2, shape=8, dtype="ubyte")
            # pyacq: an opened SharedMem is read-only (not arr2.flags['WRITEABLE']).
            # lslacq's readers write their position into the stream's shared
            # memory, so it stays writable (docs/porting.md, "SharedMem opened
            # by shm_id"); what pyacq's check protects, the data, is shared:
            arr1[:] = np.arange(8)
            assert np.all(arr2 == np.arange(8))


def test_sharedarray():
    sa = SharedArray(shape=(10), dtype="int32")
    np_a = sa.to_numpy()
    np_a[:] = np.arange(10)
    sa2 = SharedArray(**sa.to_dict())
    np_a2 = sa2.to_numpy()
    assert np_a is not np_a2
    assert np.all(np_a == np_a2)


@pytest.mark.slow
def test_sharedarray_multiprocess():
    from lslacq.core.rpc import ProcessSpawner

    sa = SharedArray(shape=(10), dtype="int32")
    np_a = sa.to_numpy()
    np_a[:] = np.arange(10)
    proc = ProcessSpawner()
    try:
        sa_mod = proc.client._import("lslacq.core.stream.sharedarray")
        sa2 = sa_mod.SharedArray(**sa.to_dict())
        np_a2 = sa2.to_numpy(_return_type="value")
    finally:
        proc.stop()
    assert np.all(np_a == np_a2)
