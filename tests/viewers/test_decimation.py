"""ScopeBuffer: incremental decimation equals decimating the whole window at once."""

from __future__ import annotations

import numpy as np
import pytest

from lslacq.viewers.decimation import ScopeBuffer, decimate_block


def _feed_in_chunks(buf, data, sizes, start=0):
    pos = start
    k = 0
    while pos < start + len(data):
        n = sizes[k % len(sizes)]
        chunk = data[pos - start : pos - start + n]
        pos += len(chunk)
        buf.feed(pos, chunk)
        k += 1


@pytest.mark.parametrize("method", ["pure_decimate", "min_max", "mean"])
def test_incremental_equals_offline(method):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((5000, 3)).astype("float32")
    buf = ScopeBuffer(3, size=2000, decimate=10, method=method)
    _feed_in_chunks(buf, data, [7, 130, 1, 64])
    end, pts = buf.points()
    binsize = 20 if method == "min_max" else 10
    done = (5000 // binsize) * binsize
    expected = decimate_block(data[done - 2000 : done], 10, method)
    assert end == done // 10 and pts.shape == (200, 3)
    np.testing.assert_allclose(pts, expected, rtol=1e-6)


def test_min_max_keeps_a_single_sample_spike():
    data = np.zeros((10000, 1), "float32")
    data[4321, 0] = 50.0
    data[7777, 0] = -30.0
    buf = ScopeBuffer(1, size=10000, decimate=50, method="min_max")
    _feed_in_chunks(buf, data, [100])
    _, pts = buf.points()
    assert pts.max() == 50.0 and pts.min() == -30.0
    # pure decimation loses them: the reason min_max exists
    assert decimate_block(data, 50, "pure_decimate").max() == 0.0


def test_gap_and_late_start_are_nan_and_reconfigure_rebuilds():
    buf = ScopeBuffer(2, size=100, decimate=5, method="mean")
    buf.feed(23, np.ones((10, 2), "float32"))  # stream starts at 13: bins before are partly missing
    buf.feed(60, np.ones((10, 2), "float32") * 2)  # samples 23..49 missing
    end, pts = buf.points()
    assert end == 12
    valid = pts[~np.isnan(pts[:, 0]), 0]
    assert set(valid.tolist()) == {1.0, 2.0}
    assert np.isnan(pts[-12 + 2, 0])  # bin [10, 15) touches the missing start
    assert np.isnan(pts[-12 + 5, 0])  # bin [25, 30) is in the gap
    raw = buf.get_raw(13, 60)
    assert raw[0, 0] == 1.0 and np.isnan(raw[20, 0]) and raw[-1, 0] == 2.0
    buf.reconfigure(decimate=1, method="pure_decimate")
    end, pts = buf.points()
    assert end == 60 and pts[-1, 0] == 2.0 and pts[-47, 0] == 1.0 and np.isnan(pts[-48, 0])


def test_restart_of_the_sample_count_starts_over():
    buf = ScopeBuffer(1, size=50, decimate=1)
    buf.feed(40, np.ones((40, 1), "float32"))
    buf.feed(10, np.full((10, 1), 3.0, "float32"))  # the source restarted
    end, pts = buf.points()
    assert end == 10 and pts[-1, 0] == 3.0 and np.isnan(pts[-11, 0])


def test_bad_method_is_a_clear_error():
    with pytest.raises(ValueError, match="min_max"):
        ScopeBuffer(1, size=10, method="median")
