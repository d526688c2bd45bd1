import numpy as np
import pytest

from lslacq.core.stream import RingBuffer


def _chunks(total, sizes, nch=3):
    data = np.arange(total * nch, dtype="float32").reshape(total, nch)
    i = 0
    k = 0
    while i < total:
        n = min(sizes[k % len(sizes)], total - i)
        yield data[i:i + n], i + n
        i += n
        k += 1


@pytest.mark.parametrize("double", [True, False])
@pytest.mark.parametrize("axisorder", [None, (1, 0)])
def test_history_matches_what_was_written(double, axisorder):
    ring = RingBuffer((100, 3), "float32", double=double, axisorder=axisorder)
    full = np.arange(1000 * 3, dtype="float32").reshape(1000, 3)
    for chunk, index in _chunks(1000, [7, 33, 50, 1, 99]):
        ring.new_chunk(chunk, index)
        first = ring.first_index()
        assert first == max(0, index - 100)
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
    ring.new_chunk(np.zeros((25, 1), "float32"))
    with pytest.raises(IndexError, match=r"\[15, 25\) are available.*overwritten"):
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


def test_structured_dtype_and_chunk_larger_than_buffer():
    dtype = np.dtype([("index", "<i8"), ("type", "<i4")])
    ring = RingBuffer((8,), dtype)
    events = np.zeros(30, dtype)
    events["index"] = np.arange(30)
    ring.new_chunk(events)
    np.testing.assert_array_equal(ring[22:30]["index"], np.arange(22, 30))


def test_wrong_frame_shape_is_rejected():
    ring = RingBuffer((8, 2), "float32")
    with pytest.raises(ValueError, match="does not fit"):
        ring.new_chunk(np.zeros((3, 3), "float32"))


def test_pyacq_style_indexing_negative_step_and_channels():
    ring = RingBuffer((50, 3), "float64")
    data = np.arange(120 * 3, dtype="float64").reshape(120, 3)
    ring.new_chunk(data)
    np.testing.assert_array_equal(ring[-10:], data[-10:])
    np.testing.assert_array_equal(ring[-1], data[-1])
    np.testing.assert_array_equal(ring[100:110:2], data[100:110:2])
    np.testing.assert_array_equal(ring[-20:, 1], data[-20:, 1])
    np.testing.assert_array_equal(ring[115, 2], data[115, 2])
    with pytest.raises(TypeError, match="int or a slice"):
        ring["a"]


def test_float_rings_mark_missing_samples_with_nan():
    ring = RingBuffer((10, 1), "float32")
    ring.new_chunk(np.ones((2, 1), "float32"), index=5)
    assert np.isnan(ring.get_data(0, 3)).all()
    assert RingBuffer((4,), "int16").get_data(0, 0).dtype == np.int16
