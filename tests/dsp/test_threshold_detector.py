"""ThresholdDetector and extract_bit: known crossings, debounce modes, chunk boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from lslacq.dsp.detect import ThresholdDetector, extract_bit


def _detect(det, sig, sizes, offset=0):
    found, pos = [], 0
    for s in sizes:
        found.extend(det.process(offset + pos + s, sig[pos : pos + s]).tolist())
        pos += s
    assert pos == len(sig)
    return found


def _all_splits(n):
    """Chunkings that put a boundary at every position, plus single samples and one chunk."""
    yield [n]
    yield [1] * n
    for cut in range(1, n):
        yield [cut, n - cut]


def _pulses(n, starts_stops, high=1.0):
    sig = np.zeros(n)
    for a, b in starts_stops:
        sig[a:b] = high
    return sig


def test_no_debounce_rising_and_falling_at_every_chunk_boundary():
    sig = _pulses(40, [(5, 9), (20, 21), (30, 35)])
    for sizes in _all_splits(len(sig)):
        assert _detect(ThresholdDetector(0.5, "+"), sig, sizes) == [5, 20, 30], sizes
        assert _detect(ThresholdDetector(0.5, "-"), sig, sizes) == [9, 21, 35], sizes


def test_absolute_indexes_with_stream_offset_and_crossing_on_exact_threshold():
    sig = np.array([0.0, 0.5, 0.5, 1.0, 0.5, 0.0])
    # x[i-1] <= thr < x[i]: 0.5 is not above 0.5
    assert _detect(ThresholdDetector(0.5, "+"), sig, [2, 4], offset=1000) == [1003]
    assert _detect(ThresholdDetector(0.5, "-"), sig, [3, 3], offset=1000) == [1005]  # 0.5 is not below 0.5


def test_first_sample_of_stream_is_not_a_crossing():
    assert _detect(ThresholdDetector(0.5, "+"), np.ones(10), [3, 7]) == []


# a bouncing contact: a burst of short pulses, then a stable high level
BOUNCE = _pulses(60, [(10, 12), (13, 14), (16, 40), (45, 46)])  # 45 is a 1-sample glitch


def test_after_stable_keeps_last_crossing_of_a_burst():
    for sizes in _all_splits(len(BOUNCE)):
        det = ThresholdDetector(0.5, "+", "after-stable", debounce=5)
        assert _detect(det, BOUNCE, sizes) == [16], sizes


def test_before_stable_keeps_first_crossing_of_a_burst():
    for sizes in _all_splits(len(BOUNCE)):
        det = ThresholdDetector(0.5, "+", "before-stable", debounce=5)
        # 10: first of the burst; 13, 16: too soon after; 45: low for 5 samples before -> kept
        assert _detect(det, BOUNCE, sizes) == [10, 45], sizes


def test_no_debounce_sees_every_bounce():
    assert _detect(ThresholdDetector(0.5, "+"), BOUNCE, [60]) == [10, 13, 16, 45]


def test_falling_front_debounce_is_the_mirror_image():
    inverted = 1.0 - BOUNCE
    assert _detect(ThresholdDetector(0.5, "-", "after-stable", 5), inverted, [7] * 8 + [4]) == [16]
    assert _detect(ThresholdDetector(0.5, "-", "before-stable", 5), inverted, [7] * 8 + [4]) == [10, 45]


def test_debounce_zero_equals_no_debounce():
    for mode in ("after-stable", "before-stable"):
        assert _detect(ThresholdDetector(0.5, "+", mode, 0), BOUNCE, [9] * 6 + [6]) == [10, 13, 16, 45]


def test_after_stable_reports_only_when_the_stable_period_has_arrived():
    det = ThresholdDetector(0.5, "+", "after-stable", debounce=5)
    sig = _pulses(30, [(10, 30)])
    assert det.process(12, sig[:12]).tolist() == []  # crossing at 10 seen, not yet stable
    assert det.process(14, sig[12:14]).tolist() == []  # 10..13 above: 4 samples
    assert det.process(15, sig[14:15]).tolist() == [10]  # 10..14 above: 5 samples
    assert det.process(30, sig[15:30]).tolist() == []


def test_sine_crossings_match_analytic_positions():
    sr = 1000.0
    n = 5000
    t = np.arange(n) / sr
    sig = np.sin(2 * np.pi * 3.0 * t + 0.1)
    expected_up = np.flatnonzero((sig[:-1] <= 0.2) & (sig[1:] > 0.2)) + 1
    rng = np.random.default_rng(0)
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(1, 200)))
    sizes[-1] -= sum(sizes) - n
    got = _detect(ThresholdDetector(0.2, "+", "after-stable", 10), sig, sizes)
    assert got == expected_up.tolist()
    assert len(got) == 15


def test_params_change_between_chunks_applies_from_next_chunk():
    sig = _pulses(40, [(5, 9), (25, 30)], high=2.0)
    det = ThresholdDetector(0.5, "+")
    assert det.process(20, sig[:20]).tolist() == [5]
    det.threshold = 3.0
    assert det.process(40, sig[20:]).tolist() == []
    det.threshold = 0.5
    det.front = "-"
    assert det.process(50, np.concatenate([[2.0] * 3, [0.0] * 7])).tolist() == [43]


def test_gap_in_stream_restarts_detection():
    det = ThresholdDetector(0.5, "+")
    det.process(10, np.zeros(10))
    # next chunk does not start at 10: the old last sample must not pair with the new first one
    assert det.process(110, np.ones(10)).tolist() == []


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="front='up'"):
        ThresholdDetector(0, "up").process(1, np.zeros(1))
    with pytest.raises(ValueError, match="debounce_mode='sometimes'"):
        ThresholdDetector(0, "+", "sometimes").process(1, np.zeros(1))
    with pytest.raises(ValueError, match="debounce=-1"):
        ThresholdDetector(0, "+", "after-stable", -1).process(1, np.zeros(1))


def test_extract_bit_across_columns_and_signed_types():
    data = np.array([[0b0000_0001, 0b1000_0000], [0b0000_0010, 0]], dtype=np.uint8)
    assert extract_bit(data, 0).tolist() == [1, 0]
    assert extract_bit(data, 1).tolist() == [0, 1]
    assert extract_bit(data, 15).tolist() == [1, 0]
    signed = np.array([[-1], [0]], dtype=np.int16)
    assert extract_bit(signed, 15).tolist() == [1, 0]
    assert extract_bit(np.array([True, False]), 0).tolist() == [1, 0]
    with pytest.raises(ValueError, match="bit 16 does not exist"):
        extract_bit(data, 16)
    with pytest.raises(TypeError, match="integer dtype"):
        extract_bit(np.zeros((3, 1)), 0)
