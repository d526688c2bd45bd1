"""SampleClock: exact spacing, drift following on the lower envelope, immune to stalls."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pylsl")

from lslacq_lsl.clock import SampleClock, get_clock, register_clock, unregister_clock  # noqa: E402


def _simulate(clock, true_rate, seconds, chunk=10, stall_at=None, seed=0):
    """Feed chunks arriving at the true rate plus 0-3 ms delivery jitter; return max |timestamp error|."""
    rng = np.random.default_rng(seed)
    t0 = 1000.0
    worst = 0.0
    n_chunks = int(seconds * true_rate / chunk)
    for c in range(n_chunks):
        stop = (c + 1) * chunk
        true_t = t0 + (stop - 1) / true_rate
        now = true_t + rng.uniform(0, 0.003)
        if stall_at is not None and stall_at <= true_t - t0 < stall_at + 0.3:
            now = t0 + stall_at + 0.3 + rng.uniform(0, 0.003)  # delivered in a burst after a 300 ms stall
        if not clock.anchored:
            clock.anchor(stop - 1, now)
        clock.observe(stop, now=now)
        worst = max(worst, abs(float(clock.time_of(stop - 1)) - true_t))
    return worst


def test_timestamps_are_exactly_one_period_apart():
    clock = SampleClock(250.0)
    clock.anchor(99, time=10.0)
    ts = clock.timestamps(100, 110)
    np.testing.assert_allclose(np.diff(ts), 1 / 250.0, rtol=0, atol=1e-12)
    assert ts[0] == pytest.approx(10.0 + 1 / 250.0)
    assert clock.time_of(99) == 10.0


@pytest.mark.slow
def test_a_source_100_ppm_fast_is_followed_within_max_drift():
    clock = SampleClock(1000.0, max_drift=0.02, window=10.0)
    worst = _simulate(clock, true_rate=1000.1, seconds=900)
    assert clock.n_corrections >= 3  # 100 ppm over 900 s = 90 ms of drift
    assert worst < 0.02 + 0.003 + 0.002


@pytest.mark.slow
def test_without_correction_the_drift_accumulates():
    clock = SampleClock(1000.0, max_drift=None)
    worst = _simulate(clock, true_rate=1000.1, seconds=900)
    assert clock.n_corrections == 0 and worst > 0.08


def test_a_pipeline_stall_does_not_move_the_time_axis():
    clock = SampleClock(1000.0, max_drift=0.02, window=5.0)
    worst = _simulate(clock, true_rate=1000.0, seconds=120, stall_at=30.0)
    assert clock.n_corrections == 0 and worst < 0.004


def test_registry_and_bad_arguments():
    clock = SampleClock(100.0)
    register_clock("k", clock)
    assert get_clock("k") is clock
    unregister_clock("k", SampleClock(100.0))  # another clock: left in place
    assert get_clock("k") is clock
    unregister_clock("k", clock)
    assert get_clock("k") is None
    with pytest.raises(ValueError, match="sample_rate"):
        SampleClock(0)
    with pytest.raises(ValueError, match="max_drift"):
        SampleClock(100.0, max_drift=0)
    with pytest.raises(RuntimeError, match="not anchored"):
        SampleClock(100.0).time_of(3)
