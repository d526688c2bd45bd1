"""SosFilterEngine and design_sos: streamed filtering equals offline scipy."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.signal

from lslacq.dsp.sos import SosFilterEngine, design_sos, validate_sos


def _random_chunks(n_total, rng, max_chunk=300):
    sizes = []
    while sum(sizes) < n_total:
        sizes.append(int(rng.integers(1, max_chunk)))
    sizes[-1] -= sum(sizes) - n_total
    return [s for s in sizes if s > 0]


def _stream(engine, signal, sizes):
    out, pos = [], 0
    for s in sizes:
        out.append(engine.process(signal[pos : pos + s]))
        pos += s
    return np.concatenate(out, axis=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streamed_equals_whole_signal(dtype):
    rng = np.random.default_rng(1)
    sr = 1000.0
    sig = rng.standard_normal((5000, 8)).astype(dtype)
    sos = design_sos("bandpass", [5, 40], sr, order=4)
    engine = SosFilterEngine(sos, 8, dtype=dtype)
    streamed = _stream(engine, sig, _random_chunks(len(sig), rng))
    offline = scipy.signal.sosfilt(sos, sig, axis=0)
    assert streamed.dtype == dtype
    assert streamed.shape == sig.shape
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(streamed, offline.astype(dtype), rtol=0, atol=tol * np.abs(offline).max())


def test_single_sample_chunks_and_empty_chunk():
    sig = np.random.default_rng(2).standard_normal((200, 3))
    sos = design_sos("lowpass", 10, 250.0, order=6)
    engine = SosFilterEngine(sos, 3, dtype=np.float64)
    assert engine.process(sig[:0]).shape == (0, 3)
    streamed = _stream(engine, sig, [1] * 200)
    np.testing.assert_allclose(streamed, scipy.signal.sosfilt(sos, sig, axis=0), atol=1e-12)


def test_per_channel_coefficients_match_per_channel_scipy():
    rng = np.random.default_rng(3)
    sr = 500.0
    sig = rng.standard_normal((3000, 4))
    lp = design_sos("lowpass", 20, sr, order=4)
    hp = design_sos("highpass", 5, sr, order=4)
    coefs = np.stack([lp, hp, lp, hp])
    engine = SosFilterEngine(coefs, 4, dtype=np.float64)
    streamed = _stream(engine, sig, _random_chunks(len(sig), rng))
    for ch in range(4):
        expected = scipy.signal.sosfilt(coefs[ch], sig[:, ch])
        np.testing.assert_allclose(streamed[:, ch], expected, atol=1e-12)


def test_identical_per_channel_coefficients_take_single_group():
    sos = design_sos("lowpass", 20, 500.0)
    engine = SosFilterEngine(np.stack([sos] * 3), 3)
    assert len(engine._groups) == 1


def test_coefficient_change_has_no_nan_and_no_step_on_constant_signal():
    sr = 1000.0
    level = 3.0
    sig = np.full((4000, 2), level)
    lp1 = design_sos("lowpass", 30, sr, order=4)
    lp2 = design_sos("lowpass", 10, sr, order=8)  # different number of sections
    engine = SosFilterEngine(lp1, 2, dtype=np.float64)
    first = _stream(engine, sig[:2000], [100] * 20)
    engine.set_coefficients(lp2)
    second = _stream(engine, sig[2000:], [100] * 20)
    assert engine.zi.shape == (lp2.shape[0], 2, 2)
    assert np.all(np.isfinite(second))
    # lowpass of a constant: after settling, the swap must not disturb the output
    np.testing.assert_allclose(first[-1], level, rtol=1e-6)
    np.testing.assert_allclose(second, level, rtol=1e-9)


def test_coefficient_change_on_noisy_signal_stays_finite_and_bounded():
    rng = np.random.default_rng(4)
    sr = 1000.0
    sig = rng.standard_normal((6000, 16))
    engine = SosFilterEngine(design_sos("bandpass", [1, 100], sr), 16)
    out = []
    for k, chunk in enumerate(np.array_split(sig, 60)):
        if k % 10 == 5:
            engine.set_coefficients(design_sos("lowpass", 5 + 10 * (k // 10), sr, order=2 + k // 10))
        out.append(engine.process(chunk))
    out = np.concatenate(out)
    assert np.all(np.isfinite(out))
    assert np.abs(out).max() < 10 * np.abs(sig).max()


def test_nan_input_does_not_poison_the_stream(caplog):
    sos = design_sos("lowpass", 10, 100.0)
    engine = SosFilterEngine(sos, 1, dtype=np.float64)
    engine.process(np.ones((50, 1)))
    bad = np.ones((10, 1))
    bad[3] = np.nan
    with caplog.at_level(logging.WARNING, logger="lslacq.dsp.sos"):
        engine.process(bad)
    assert engine.n_state_resets == 1
    assert "non-finite" in caplog.text
    after = engine.process(np.ones((100, 1)))
    assert np.all(np.isfinite(after))
    np.testing.assert_allclose(after, 1.0, rtol=1e-9)


def test_invalid_coefficients_are_rejected_with_clear_messages():
    with pytest.raises(ValueError, match=r"shape \(n_sections, 6\)"):
        validate_sos(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="NaN or inf"):
        validate_sos([[1, 0, 0, 1, np.nan, 0]])
    with pytest.raises(ValueError, match="a0"):
        validate_sos([[1, 0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="unstable"):
        validate_sos([[1, 0, 0, 1, -2.5, 1.2]])
    with pytest.raises(ValueError, match="3 channel filters but the stream has 2"):
        validate_sos(np.zeros((3, 1, 6)) + [1, 0, 0, 1, 0, 0], n_channels=2)
    with pytest.raises(ValueError, match="is None"):
        validate_sos(None)
    engine = SosFilterEngine(design_sos("lowpass", 10, 100.0), 2)
    with pytest.raises(ValueError, match="unstable"):
        engine.set_coefficients([[1, 0, 0, 1, 0, 1.5]])
    with pytest.raises(ValueError, match=r"shape \(n_samples, 2\)"):
        engine.process(np.zeros((10, 3)))


def test_a0_is_normalised():
    sos = design_sos("lowpass", 10, 100.0)
    scaled = sos * 2.0
    np.testing.assert_allclose(validate_sos(scaled), sos)


@pytest.mark.parametrize(
    ("kind", "freqs"),
    [("lowpass", 40.0), ("highpass", 20.0), ("bandpass", [8.0, 12.0]), ("bandstop", [45.0, 55.0]), ("notch", 50.0)],
)
def test_design_sos_frequency_response(kind, freqs):
    sr = 500.0
    sos = design_sos(kind, freqs, sr, order=4)
    assert sos.ndim == 2 and sos.shape[1] == 6
    w, h = scipy.signal.sosfreqz(sos, worN=[2.0, 10.0, 50.0, 150.0], fs=sr)
    gain = dict(zip([2, 10, 50, 150], np.abs(h), strict=True))
    if kind == "lowpass":
        assert gain[2] > 0.99 and gain[150] < 0.01
    elif kind == "highpass":
        assert gain[150] > 0.99 and gain[2] < 0.01
    elif kind == "bandpass":
        assert gain[10] > 0.9 and gain[2] < 0.01 and gain[150] < 0.01
    else:
        assert gain[50] < 0.01 and gain[10] > 0.99


def test_design_sos_bad_arguments():
    with pytest.raises(ValueError, match="kind='band'"):
        design_sos("band", [1, 2], 100.0)
    with pytest.raises(ValueError, match="Nyquist"):
        design_sos("lowpass", 60, 100.0)
    with pytest.raises(ValueError, match="needs 2 frequency"):
        design_sos("bandpass", 10, 100.0)
    with pytest.raises(ValueError, match="increasing"):
        design_sos("bandpass", [20, 10], 100.0)
    with pytest.raises(ValueError, match="needs rp"):
        design_sos("lowpass", 10, 100.0, ftype="cheby1")
    with pytest.raises(ValueError, match="order"):
        design_sos("lowpass", 10, 100.0, order=0)
