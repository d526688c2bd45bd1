"""EpochStacker: epochs cut at the right samples, waiting for samples, ring order, late events."""

from __future__ import annotations

import numpy as np
import pytest

from lslacq.dsp.epochs import EpochStacker
from lslacq.dsp.events import make_events

SR = 100.0


def _ramp(n, n_channels=2):
    """Sample i of channel c has value i + 10000 * c: every sample is identifiable."""
    return (np.arange(n)[:, None] + 10000 * np.arange(n_channels)[None, :]).astype(np.float64)


def _expected(t, l1, l2, n_channels=2):
    return _ramp(t + l2, n_channels)[t + l1 : t + l2].T


def test_epoch_waits_for_right_sweep_then_is_exact():
    calls = []
    st = EpochStacker(2, SR, np.float64, left_sweep=-0.1, right_sweep=0.2, stack_size=3, callback=calls.append)
    sig = _ramp(1000)
    st.feed(100, sig[:100])
    assert st.add_events([90]) == 0  # needs samples up to 110
    assert st.pending == [90]
    assert st.feed(105, sig[100:105]) == 0
    assert st.total_trig == 0
    assert st.feed(110, sig[105:110]) == 1
    assert st.pending == [] and st.total_trig == 1 and calls == [1]
    np.testing.assert_array_equal(st.stack[0], _expected(90, -10, 20))
    assert st.t_vect[0] == pytest.approx(-0.1) and len(st.t_vect) == 30


def test_event_before_its_signal_and_after_it():
    st = EpochStacker(2, SR, np.float64, left_sweep=-0.05, right_sweep=0.05, stack_size=4)
    sig = _ramp(1000)
    st.add_events(make_events([20, 300], type="analog"))  # the future
    st.feed(200, sig[:200])
    assert st.total_trig == 1 and st.pending == [300]
    assert st.add_events([150]) == 1  # the past, still buffered: cut immediately
    st.feed(400, sig[200:400])
    assert st.total_trig == 3
    np.testing.assert_array_equal(st.epochs(), np.stack([_expected(t, -5, 5) for t in (20, 150, 300)]))


def test_stack_is_a_ring_buffer_and_epochs_are_chronological():
    st = EpochStacker(1, SR, np.float64, left_sweep=0.0, right_sweep=0.03, stack_size=3)
    st.feed(600, _ramp(600, 1))  # the default buffer holds 5 s = 500 samples
    for t in (100, 200, 300, 400, 500):
        st.add_events([t])
    assert st.total_trig == 5 and st.stack_pos == 2
    np.testing.assert_array_equal(st.epochs()[:, 0, 0], [300, 400, 500])
    # raw ring layout as pyacq: newest at (total_trig - 1) % stack_size
    assert st.stack[(st.total_trig - 1) % 3, 0, 0] == 500


def test_too_old_or_before_stream_start_is_dropped_and_counted(caplog):
    st = EpochStacker(1, SR, np.float64, left_sweep=-0.5, right_sweep=0.5, stack_size=2, buffer_size=200)
    sig = _ramp(5000, 1)
    st.feed(1000, sig[:1000])
    st.add_events([20])  # starts at -30: before the stream
    st.add_events([500])  # starts at 450 but the buffer holds 800..999
    assert st.n_dropped == 2 and st.total_trig == 0
    assert "increase buffer_size" in caplog.text
    st.add_events([900])
    assert st.total_trig == 1


def test_multi_chunk_epoch_and_buffer_wraparound():
    st = EpochStacker(2, SR, np.float32, left_sweep=-0.2, right_sweep=0.3, stack_size=50, buffer_size=120)
    sig = _ramp(5000)
    triggers = list(range(300, 4500, 97))
    st.add_events(triggers)
    rng = np.random.default_rng(0)
    pos = 0
    while pos < 5000:
        n = int(min(rng.integers(1, 40), 5000 - pos))
        st.feed(pos + n, sig[pos : pos + n])
        pos += n
    assert st.total_trig == len(triggers) and st.n_dropped == 0
    np.testing.assert_array_equal(st.epochs(), np.stack([_expected(t, -20, 30) for t in triggers]).astype(np.float32))


def test_configure_window_recreates_the_stack_and_validates():
    st = EpochStacker(2, SR, left_sweep=-1, right_sweep=1, stack_size=2)
    st.feed(500, _ramp(500))
    st.add_events([100])
    assert st.total_trig == 1
    st.configure_window(-0.1, 0.4, 5)
    assert st.stack.shape == (5, 2, 50) and st.total_trig == 0
    st.add_events([300])  # signal history survives the change
    assert st.total_trig == 1
    with pytest.raises(ValueError, match="right_sweep"):
        st.configure_window(0.5, 0.5, 2)
    with pytest.raises(ValueError, match="stack_size"):
        st.configure_window(0, 1, 0)


def test_reset_stack_forgets_pending():
    st = EpochStacker(1, SR, left_sweep=0, right_sweep=0.1, stack_size=2)
    st.add_events([50])
    st.reset_stack()
    st.feed(200, _ramp(200, 1))
    assert st.total_trig == 0 and st.pending == []


def test_gap_clears_history():
    st = EpochStacker(1, SR, np.float64, left_sweep=-0.1, right_sweep=0.1, stack_size=2)
    st.feed(100, _ramp(100, 1))
    st.feed(600, _ramp(600, 1)[500:600])  # 400 samples lost
    st.add_events([90, 550])
    assert st.n_dropped == 1 and st.total_trig == 1
    np.testing.assert_array_equal(st.stack[0, 0], np.arange(540, 560))


def test_plain_int_and_event_records_are_accepted():
    st = EpochStacker(1, SR, left_sweep=0, right_sweep=0.01, stack_size=4)
    st.feed(100, _ramp(100, 1))
    st.add_events(np.array([10], dtype=np.int64))
    st.add_events(make_events([20]))
    assert st.total_trig == 2
    with pytest.raises(TypeError, match="integer sample indexes"):
        st.add_events(np.array([1.5]))
