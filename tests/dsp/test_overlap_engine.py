"""OverlapFiltfiltEngine: windows, delay, index alignment and error vs offline sosfiltfilt."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from lslacq.dsp.overlap import OverlapFiltfiltEngine, overlap_filtfilt_error
from lslacq.dsp.sos import design_sos

SR = 1000.0


def _run(engine, sig, sizes):
    outs, pos = [], 0
    first_end = None
    for s in sizes:
        res = engine.process(pos + s, sig[pos : pos + s])
        pos += s
        if res is not None:
            end, data = res
            if first_end is None:
                first_end = end - len(data)
            outs.append((end, data))
    return outs


def _test_signal(n, n_channels=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    base = np.sin(2 * np.pi * 10 * t)[:, None] + 0.5 * np.sin(2 * np.pi * 3 * t + 1)[:, None]
    return base + 0.3 * rng.standard_normal((n, n_channels))


@pytest.mark.parametrize(("chunksize", "overlapsize"), [(1000, 300), (400, 300), (256, 512)])
def test_release_windows_delay_and_alignment(chunksize, overlapsize):
    """Each full block releases [pos - chunksize - overlapsize, pos - overlapsize)."""
    n = 20 * chunksize
    sig = _test_signal(n)
    sos = design_sos("bandpass", [2, 30], SR, order=2)
    engine = OverlapFiltfiltEngine(sos, chunksize, overlapsize, 2, dtype=np.float64)
    outs = _run(engine, sig, [chunksize] * 20)
    ends = [end for end, _ in outs]
    # once the stream is long enough every block releases exactly chunksize samples, delayed by overlapsize
    steady = [(end, data) for end, data in outs if end - len(data) > 0]
    for end, data in steady:
        assert len(data) == chunksize
        assert (end + overlapsize) % chunksize == 0
    assert ends[-1] == n - overlapsize
    # releases tile the output without gap or overlap, starting at absolute index 0
    starts = [end - len(d) for end, d in outs]
    assert starts[0] == 0
    assert all(s == e for s, e in zip(starts[1:], ends[:-1], strict=True))


@pytest.mark.parametrize(("chunksize", "overlapsize"), [(1000, 300), (400, 300), (256, 512)])
def test_error_against_offline_sosfiltfilt_away_from_edges(chunksize, overlapsize):
    n = 30000
    sig = _test_signal(n)
    sos = design_sos("bandpass", [2, 30], SR, order=2)
    engine = OverlapFiltfiltEngine(sos, chunksize, overlapsize, 2, dtype=np.float64)
    outs = _run(engine, sig, [chunksize] * (n // chunksize))
    online = np.concatenate([d for _, d in outs])
    offline = scipy.signal.sosfiltfilt(sos, sig, axis=0)
    margin = 3000
    sel = slice(margin, len(online) - margin)
    err = np.sqrt(np.mean((online[sel] - offline[sel]) ** 2)) / np.sqrt(np.mean(offline[sel] ** 2))
    assert err < 0.02, err  # docs/dsp.md documents 0.2-1.5 % for these settings
    # and it is really zero-phase: the 10 Hz component is not delayed (a causal filter would be)
    causal = scipy.signal.sosfilt(sos, sig, axis=0)
    causal_err = np.sqrt(np.mean((causal[sel] - offline[sel]) ** 2)) / np.sqrt(np.mean(offline[sel] ** 2))
    assert causal_err > 20 * err


def test_longer_overlap_reduces_error():
    sos = design_sos("highpass", 1.0, SR, order=2)
    errors = [overlap_filtfilt_error(sos, 500, ov, n_samples=40000) for ov in (50, 500, 2000)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.01


def test_input_chunks_of_any_size_are_regrouped():
    n = 8000
    sig = _test_signal(n, seed=1)
    sos = design_sos("lowpass", 40, SR, order=4)
    ref = np.concatenate([d for _, d in _run(OverlapFiltfiltEngine(sos, 500, 200, 2, np.float64), sig, [500] * 16)])
    rng = np.random.default_rng(5)
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(1, 700)))
    sizes[-1] -= sum(sizes) - n
    got = np.concatenate([d for _, d in _run(OverlapFiltfiltEngine(sos, 500, 200, 2, np.float64), sig, sizes)])
    np.testing.assert_allclose(got, ref, atol=1e-12)


def test_gap_restarts_the_filter_at_the_new_position():
    sos = design_sos("lowpass", 40, SR, order=2)
    engine = OverlapFiltfiltEngine(sos, 100, 50, 1, dtype=np.float64)
    for k in range(5):
        engine.process(100 * (k + 1), np.ones((100, 1)))
    res = engine.process(10_000, np.ones((100, 1)))  # 9400 samples lost
    assert res is not None
    end, data = res
    assert end == 10_000 - 50 and end - len(data) == 9900
    np.testing.assert_allclose(data, 1.0, rtol=1e-3)  # steady-state forward start: no step transient


def test_per_channel_coefficients_and_online_change():
    n = 6000
    sig = _test_signal(n, n_channels=2, seed=2)
    lp = design_sos("lowpass", 5, SR, order=2)
    hp = design_sos("highpass", 20, SR, order=2)
    engine = OverlapFiltfiltEngine(np.stack([lp, hp]), 1000, 1000, 2, dtype=np.float64)
    online = np.concatenate([d for _, d in _run(engine, sig, [1000] * 6)])
    off0 = scipy.signal.sosfiltfilt(lp, sig[:, 0])
    off1 = scipy.signal.sosfiltfilt(hp, sig[:, 1])
    sel = slice(1500, len(online) - 500)
    assert np.sqrt(np.mean((online[sel, 0] - off0[sel]) ** 2)) < 0.02 * np.sqrt(np.mean(off0[sel] ** 2))
    assert np.sqrt(np.mean((online[sel, 1] - off1[sel]) ** 2)) < 0.02 * np.sqrt(np.mean(off1[sel] ** 2))
    engine.set_coefficients(lp)
    res = engine.process(n + 1000, sig[:1000])
    assert res is not None and np.all(np.isfinite(res[1]))


def test_bad_arguments():
    sos = design_sos("lowpass", 40, SR)
    with pytest.raises(ValueError, match="chunksize must be an int >= 1"):
        OverlapFiltfiltEngine(sos, 0, 10, 1)
    with pytest.raises(ValueError, match="overlapsize must be an int >= 0"):
        OverlapFiltfiltEngine(sos, 10, -1, 1)
    engine = OverlapFiltfiltEngine(sos, 10, 5, 2)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 2\)"):
        engine.process(10, np.zeros((10, 1)))


@pytest.mark.slow
def test_suggest_overlapsize_meets_the_target_and_is_not_oversized():
    from lslacq.dsp import suggest_overlapsize

    sos = design_sos("bandpass", [1, 40], SR, order=4)
    overlap = suggest_overlapsize(sos, 500, max_error=1e-3)
    assert overlap_filtfilt_error(sos, 500, overlap, seed=7) < 1e-3  # on other noise than the search used
    assert overlap_filtfilt_error(sos, 500, overlap // 2, seed=7) > 1e-3
    assert suggest_overlapsize(sos, 500, max_error=1e-5) > overlap
    with pytest.raises(ValueError, match="no overlapsize up to 100 samples"):
        suggest_overlapsize(sos, 500, max_error=1e-3, max_overlapsize=100)
