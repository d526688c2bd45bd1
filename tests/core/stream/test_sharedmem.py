import multiprocessing as mp
import os

import numpy as np
import pytest
import stream_peers

from lslacq.core.stream import SharedMem

SPAWN = mp.get_context("spawn")


def test_two_views_of_one_buffer_share_memory():
    with SharedMem(4096) as owner:
        peer = SharedMem(**owner.to_dict())
        a = owner.to_numpy(0, "float64", (512,))
        b = peer.to_numpy(0, "float64", (512,))
        a[:] = np.arange(512)
        np.testing.assert_array_equal(b, np.arange(512))
        strided = peer.to_numpy(0, "float64", (256,), strides=(16,))
        np.testing.assert_array_equal(strided, np.arange(0, 512, 2))
        peer.close()


@pytest.mark.slow
def test_unrelated_process_reads_it_and_it_is_gone_when_owner_is_killed():
    queue, hold = SPAWN.Queue(), SPAWN.Event()
    proc = SPAWN.Process(target=stream_peers.own_shared_memory, args=(1 << 20, queue, hold))
    proc.start()
    try:
        desc, pid = queue.get(timeout=60)
        peer = SharedMem(**desc)
        assert int(peer.to_numpy(0, "uint8", (1 << 20,)).sum()) == 7 << 20
        peer.close()
    finally:
        proc.kill()
        proc.join(30)
    # the owner died without closing: the memory has no name anywhere, so nothing can leak
    with pytest.raises(FileNotFoundError, match="exited or closed"):
        SharedMem(**desc)


def _lslacq_mappings() -> int:
    with open("/proc/self/maps") as maps:
        return sum("memfd:lslacq" in line for line in maps)


def test_memory_is_unmapped_once_closed_and_its_arrays_are_gone():
    before = _lslacq_mappings()
    shm = SharedMem(1 << 16)
    array = shm.to_numpy(0, "float32", (100,))
    assert _lslacq_mappings() == before + 1
    shm.close()
    array[:] = 1  # still mapped: the array keeps it alive
    del array
    import gc

    gc.collect()
    assert _lslacq_mappings() == before


def test_closed_owner_is_not_confused_with_a_reused_descriptor():
    owner = SharedMem(1024)
    desc = owner.to_dict()
    owner.close()
    fd = os.open(os.devnull, os.O_RDONLY)  # may reuse the number
    try:
        with pytest.raises((FileNotFoundError, ValueError, PermissionError)):
            SharedMem(**desc)
    finally:
        os.close(fd)


def test_bad_sizes():
    with pytest.raises(ValueError, match="positive"):
        SharedMem(0)
    with SharedMem(16) as owner:
        with pytest.raises(ValueError, match="fewer than"):
            SharedMem(1 << 20, shm_id=owner.shm_id, inode=owner.inode)
