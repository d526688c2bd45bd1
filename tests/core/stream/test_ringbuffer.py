"""RingBuffer: pyacq's semantics (manual 5.1.2/5.1.3), its slicing, and the mirrored layout."""

import gc
import itertools

import numpy as np
import pytest

from lslacq.core.stream import RingBuffer
from lslacq.core.stream.sharedmem import PAGE_SIZE, can_mirror

LAYOUTS = [  # (double, axisorder)
    (True, None),
    (False, None),
    (True, (1, 0)),
    (False, (1, 0)),
]

needs_mirror = pytest.mark.skipif(not can_mirror(), reason="mirrored mappings need Linux")


def _chunks(total, sizes, nch=3):
    data = np.arange(total * nch, dtype="float32").reshape(total, nch)
    i = 0
    k = 0
    while i < total:
        n = min(sizes[k % len(sizes)], total - i)
        yield data[i : i + n], i + n
        i += n
        k += 1


def _history(ring, written):
    """The window ``[first_index, index)`` as a plain array: fill before sample 0."""
    first, last = ring.first_index(), ring.index()
    pad = max(0, -first)
    fill = np.full((pad,) + written.shape[1:], ring.fill, dtype=written.dtype)
    return np.concatenate([fill, written[max(first, 0) : last]])


def _assert_same(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)  # NaNs compare equal here


@pytest.mark.parametrize(("double", "axisorder"), LAYOUTS)
def test_history_matches_what_was_written(double, axisorder):
    ring = RingBuffer((100, 3), "float32", double=double, axisorder=axisorder)
    full = np.arange(1000 * 3, dtype="float32").reshape(1000, 3)
    for chunk, index in _chunks(1000, [7, 33, 50, 1, 99]):
        ring.new_chunk(chunk, index)
        first = max(0, ring.first_index())
        assert ring.first_index() == index - 100
        got = ring.get_data(first, index)
        np.testing.assert_array_equal(got, full[first:index])
        parts = ring.get_data(first, index, join=False)
        np.testing.assert_array_equal(np.concatenate(parts), full[first:index])
    assert ring.index() == 1000


def test_double_mode_returns_views_without_copies():
    ring = RingBuffer((10, 2), "int32", double=True)
    for k in range(7):
        ring.new_chunk(np.full((3, 2), k, "int32"))
    view = ring.get_data(ring.index() - 10, ring.index())
    assert np.shares_memory(view, ring.buffer)
    copy = ring.get_data(ring.index() - 10, ring.index(), copy=True)
    assert not np.shares_memory(copy, ring.buffer)


def test_axisorder_changes_memory_layout_not_logical_shape():
    ring = RingBuffer((50, 4), "float64", double=False, axisorder=(1, 0))
    assert ring.buffer.shape == (50, 4)
    assert ring.buffer.T.flags.c_contiguous  # channel-major in memory
    ring.new_chunk(np.ones((5, 4)))
    assert ring.get_data(0, 5).shape == (5, 4)


def test_out_of_range_requests_say_what_is_available():
    ring = RingBuffer((10, 1), "float32")
    ring.new_chunk(np.zeros((10, 1), "float32"))
    ring.new_chunk(np.zeros((10, 1), "float32"))
    ring.new_chunk(np.zeros((5, 1), "float32"))
    with pytest.raises(IndexError, match=r"\[15, 25\) are available.*older than the buffer covers"):
        ring.get_data(5, 20)
    with pytest.raises(IndexError, match="not been written yet"):
        ring.get_data(20, 30)


def test_gap_is_filled_and_backwards_index_rejected():
    ring = RingBuffer((20, 1), "float32", fill=-1)
    ring.new_chunk(np.ones((2, 1), "float32"), index=2)
    ring.new_chunk(np.ones((2, 1), "float32"), index=10)
    np.testing.assert_array_equal(ring.get_data(0, 10)[:, 0], [1, 1, -1, -1, -1, -1, -1, -1, 1, 1])
    with pytest.raises(ValueError, match="indices must increase"):
        ring.new_chunk(np.ones((2, 1), "float32"), index=9)


def test_gap_longer_than_the_ring_leaves_only_fill_and_the_chunk():
    for double in (True, False):
        ring = RingBuffer((10, 1), "int16", double=double, fill=-1)
        ring.new_chunk(np.arange(10, dtype="int16")[:, None])
        ring.new_chunk(np.full((3, 1), 7, "int16"), index=ring.index() + 40)
        np.testing.assert_array_equal(ring[:][:, 0], [-1] * 7 + [7] * 3)


def test_structured_dtype():
    dtype = np.dtype([("index", "<i8"), ("type", "<i4")])
    ring = RingBuffer((8,), dtype)
    events = np.zeros(30, dtype)
    events["index"] = np.arange(30)
    for k in range(0, 30, 6):
        ring.new_chunk(events[k : k + 6])
    np.testing.assert_array_equal(ring[22:30]["index"], np.arange(22, 30))


def test_wrong_frame_shape_is_rejected():
    ring = RingBuffer((8, 2), "float32")
    with pytest.raises(ValueError, match="does not fit"):
        ring.new_chunk(np.zeros((3, 3), "float32"))


def test_pyacq_chunk_longer_than_the_ring_raises_value_error():
    """pyacq: a chunk that cannot fit is an error, not silently truncated."""
    ring = RingBuffer((10, 2), "float32")
    with pytest.raises(ValueError, match="longer than the buffer"):
        ring.new_chunk(np.zeros((11, 2), "float32"))
    assert ring.index() == 0


def test_pyacq_chunk_of_another_dtype_raises_type_error():
    """pyacq: a chunk of another dtype is refused, not cast."""
    ring = RingBuffer((10, 2), "float32")
    with pytest.raises(TypeError, match="dtype float64.*astype"):
        ring.new_chunk(np.zeros((3, 2), "float64"))
    with pytest.raises(TypeError):
        RingBuffer((10,), "uint8").new_chunk(np.zeros(3, "uint64"))
    assert ring.index() == 0


@pytest.mark.parametrize(("double", "axisorder"), LAYOUTS)
def test_manual_5_1_2_unwritten_part_of_the_window_reads_as_fill(double, axisorder):
    """pyacq: the ring covers [index - size, index); samples not written yet are ``fill``."""
    ring = RingBuffer((10, 2), "float32", double=double, axisorder=axisorder)
    assert ring.first_index() == -10
    assert np.isnan(ring[-10:]).all() and ring[:].shape == (10, 2)
    with pytest.raises(IndexError):
        ring[-11]
    with pytest.raises(IndexError):
        ring[1]  # not written yet
    ring.new_chunk(np.ones((4, 2), "float32"))
    whole = ring[:]
    assert whole.shape == (10, 2)
    assert np.isnan(whole[:6]).all() and (whole[6:] == 1).all()
    _assert_same(ring[0:], ring[-4:])
    got = ring.get_data(-3, 2)
    assert np.isnan(got[:3]).all() and (got[3:] == 1).all()
    ints = RingBuffer((5,), "int32", double=double)
    ints.new_chunk(np.array([7, 8], "int32"))
    np.testing.assert_array_equal(ints[:], [0, 0, 0, 7, 8])


def test_pyacq_negative_step_slice_bug():
    """A ring of 10 with 125 frames written: ``buf[i+5::-3]`` is frames 120, 117 (it gave 124, 121)."""
    for double in (True, False):
        ring = RingBuffer((10,), "int64", double=double)
        for k in range(0, 125, 5):
            ring.new_chunk(np.arange(k, k + 5))
        i = ring.first_index()
        np.testing.assert_array_equal(ring[i + 5 :: -3], [120, 117])
        np.testing.assert_array_equal(ring[: i + 7 : -1], [124, 123])
        np.testing.assert_array_equal(ring[::-4], [124, 120, 116])


def _check_all_slices(ring, history):
    """Every slice of the ring equals the same slice of ``history`` (the window, oldest first).

    Indices are the ring's (absolute, or negative from the end); each maps to a
    window position, and the slice of the window with those positions is the
    reference. ``None`` is the same on both sides.
    """
    first, last, size = ring.first_index(), ring.index(), ring.size
    absolute = list(range(first, last + 1))
    negative = list(range(-size, 0))
    bounds = [None] + absolute + negative
    rng = np.random.default_rng(1234)
    for step in (None, 1, 2, 3, 7, 11, -1, -2, -3, -7, -11):
        s = 1 if step is None else step
        for start, stop in itertools.product(bounds, bounds):
            if rng.random() > 0.25 and step not in (None, -1):  # keep it quick: sample the rest
                continue

            def ref_pos(v, is_stop, s=s):
                if v is None:
                    return None
                p = (last + v if v < 0 else v) - first
                return None if (is_stop and s < 0 and p == -1) else p

            p0, p1 = ref_pos(start, False), ref_pos(stop, True)
            if p0 is not None and s < 0 and p0 == size:
                with pytest.raises(IndexError):
                    ring[start:stop:step]
                continue
            expected = history[slice(p0, p1, step)]
            _assert_same(ring[start:stop:step], expected)
        # with extra axes too
        _assert_same(ring[::step, 1], history[::step, 1])
        _assert_same(ring[::step, ::-1], history[::step, ::-1])
    for k in absolute[:-1] + negative:
        _assert_same(ring[k], history[(last + k if k < 0 else k) - first])
    too_old = [first - 1] if first >= 1 else []  # negative numbers count from the end
    for bad in too_old + [last, -size - 1]:
        with pytest.raises(IndexError):
            ring[bad]
    for bad in too_old + [-size - 1]:
        with pytest.raises(IndexError):
            ring[bad:]
    with pytest.raises(IndexError):
        ring[: last + 1]


@pytest.mark.slow
@pytest.mark.parametrize(("double", "axisorder"), LAYOUTS)
def test_slicing_matches_numpy_on_the_whole_history(double, axisorder):
    """Property: any ``ring[a:b:c]`` is the same slice of a numpy array of the history (every step and sign)."""
    size = 13
    written = np.arange(60 * 2, dtype="float64").reshape(60, 2)
    rng = np.random.default_rng(7)
    ring = RingBuffer((size, 2), "float64", double=double, axisorder=axisorder)
    n_written = 0
    checkpoints = {0, 1, 5, 12, 13, 14, 26, 40, 59, 60}
    _check_all_slices(ring, _history(ring, written))
    while n_written < 60:
        n = int(min(rng.integers(1, size + 1), 60 - n_written))
        ring.new_chunk(written[n_written : n_written + n])
        n_written += n
        if n_written in checkpoints or rng.random() < 0.3:
            _check_all_slices(ring, _history(ring, written[:n_written]))


def test_reset_index_forgets_the_history():
    ring = RingBuffer((6,), "int32", fill=-1)
    ring.new_chunk(np.arange(5, dtype="int32"))
    epoch = ring.epoch()
    ring.reset_index()
    assert ring.index() == 0 and ring.epoch() == epoch + 1
    np.testing.assert_array_equal(ring[:], [-1] * 6)


def test_float_rings_mark_missing_samples_with_nan():
    ring = RingBuffer((10, 1), "float32")
    ring.new_chunk(np.ones((2, 1), "float32"), index=5)
    assert np.isnan(ring.get_data(0, 3)).all()
    assert RingBuffer((4,), "int16").get_data(0, 0).dtype == np.int16


# -- the mirrored layout (double=True without writing twice) --------------------


@needs_mirror
def test_mirrored_ring_writes_each_sample_once_and_reads_contiguous_views():
    ring = RingBuffer((1000, 8), "float32", double=True, shmem=True)
    try:
        assert ring.mirrored and ring.period >= 1000 and (ring.period * 32) % PAGE_SIZE == 0
        # the memory holds one copy of the ring, not two
        assert ring.shm.nbytes == PAGE_SIZE + ring.period * 32
        full = np.arange(5000 * 8, dtype="float32").reshape(5000, 8)
        for k in range(0, 5000, 333):
            ring.new_chunk(full[k : k + 333])
            if ring.index() < 1000:
                continue
            window = ring.get_data(ring.index() - 1000, ring.index())
            assert window.flags.c_contiguous and np.shares_memory(window, ring.buffer)
            np.testing.assert_array_equal(window, full[ring.index() - 1000 : ring.index()])
        # the two halves of the mapping are one memory: a write shows in both
        ring.buffer[3, 0] = -5
        assert ring.buffer[3 + ring.period, 0] == -5
    finally:
        ring.close()


@needs_mirror
def test_mirrored_shared_ring_is_seen_by_a_reader_and_layout_mismatch_is_clear():
    writer = RingBuffer((300, 5, 7), "uint8", double=True, shmem=True, axisorder=(0, 2, 1))
    try:
        assert writer.mirrored
        reader = RingBuffer((300, 5, 7), "uint8", double=True, shmem=writer.shm.to_dict(), axisorder=(0, 2, 1))
        data = (np.arange(250 * 35) % 251).astype("uint8").reshape(250, 5, 7)
        writer.new_chunk(data, index=1005)
        writer.new_chunk(data[:100])
        assert reader.index() == writer.index() == 1105
        _assert_same(reader[:], writer[:])
        np.testing.assert_array_equal(reader[-100:], data[:100])
        with pytest.raises(ValueError, match="laid out as a mirrored ring"):
            RingBuffer((300, 5, 7), "uint8", double=False, shmem=writer.shm.to_dict(), axisorder=(0, 2, 1))
        reader.shm.close()
    finally:
        writer.close()


@needs_mirror
def test_odd_frame_sizes_round_the_period_up_or_fall_back_to_copies():
    small = RingBuffer((10, 5, 7), "uint8")  # 35-byte frames: 4096 frames make whole pages
    assert small.mirrored and small.period == 4096 and small.size == 10
    assert small[:].shape == (10, 5, 7)
    huge_odd = RingBuffer((3, 300_001), "uint8")  # rounding would need 4096 frames of 300 kB
    assert not huge_odd.mirrored and huge_odd.period == 3
    huge_odd.new_chunk(np.ones((2, 300_001), "uint8"))
    assert huge_odd[-2:].sum() == 600_002
    channel_major = RingBuffer((64, 4), "float32", axisorder=(1, 0))
    assert not channel_major.mirrored  # time is not the outer axis in memory


@pytest.mark.slow
@needs_mirror
def test_mirrored_mappings_are_released_with_the_ring():
    def mappings():
        with open("/proc/self/maps") as maps:
            return sum("lslacq-ring" in line for line in maps)

    gc.collect()
    before = mappings()
    ring = RingBuffer((1024, 4), "float32")
    assert mappings() == before + 2  # the same pages, twice
    view = ring[-10:]
    del ring
    gc.collect()
    assert mappings() == before + 2  # a view keeps the memory alive
    del view
    gc.collect()
    assert mappings() == before


@needs_mirror
def test_a_forked_child_writes_its_own_copy_of_a_local_ring():
    """Local rings are process-local memory, as np.empty is, although their two views are one shared memory."""
    import os
    import warnings

    ring = RingBuffer((1024, 4), "float32")
    ring.new_chunk(np.ones((10, 4), "float32"))
    view = ring[-10:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork in a threaded process (3.12+)
        pid = os.fork()
    if pid == 0:  # child: its copy holds the parent's data, mirrored, and its writes stay here
        ok = bool((ring[-10:] == 1).all())
        ring.new_chunk(np.full((1024, 4), 7, "float32"))
        ok = ok and ring.buffer[0, 0] == 7 and ring.buffer[ring.period, 0] == 7 and (view == 7).all()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert ring.index() == 10 and (ring[-10:] == 1).all() and (view == 1).all()
    assert np.isnan(ring.buffer[20:1000]).all()


@pytest.mark.parametrize("double", [True, False])
def test_pyacq_shared_ring_opened_by_shm_id(double):
    """pyacq: RingBuffer(..., shmem=True) and a second RingBuffer(..., shmem=first.shm_id) see the same data."""
    first = RingBuffer((10, 5, 7), "uint8", double=double, shmem=True, axisorder=(0, 2, 1))
    try:
        second = RingBuffer((10, 5, 7), "uint8", double=double, shmem=first.shm_id, axisorder=(0, 2, 1))
        first.new_chunk(np.arange(350).astype("uint8").reshape(10, 5, 7), index=1005)
        assert second.index() == first.index() == 1005
        _assert_same(second[:], first[:])
        assert RingBuffer((4,), "int8").shm_id is None
        second.shm.close()
    finally:
        first.close()
