"""Morlet wavelet scalogram of a sliding window: the engine of QTimeFreq and TimeFreqWorker (no Qt).

The transform is pyacq's (same wavelet, scales and ``normalisation``
weighting, so ``clim`` values carry over), computed differently:

- the wavelet spectra are Gaussians known in closed form; each frequency
  keeps only the FFT bins where its Gaussian is not negligible, so the
  product with the signal's spectrum costs a few bins per frequency;
- decimation to the display rate is exact: the band-limited product is
  folded into ``M = N / decimation`` bins before the inverse FFT (the
  inverse FFT is then ``decimation`` times shorter, and no anti-alias
  filter is needed);
- the convolution is linear, not circular: the window is zero-padded and
  read with enough history on its left, so neither edge wraps onto the
  other (pyacq's display shows the oldest data bleeding into the newest
  columns).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MorletEngine", "TimeFreqParams", "morlet_frequencies"]

# The wavelet's Gaussian is negligible beyond these many standard deviations:
# in time (history read on the left, zero padding on the right) ...
_TIME_SUPPORT = 5.0
# ... and in frequency (bins kept per frequency).
_FREQ_SUPPORT = 6.0


@dataclass(frozen=True)
class TimeFreqParams:
    """The ``timefreq`` parameters of QTimeFreq (pyacq's names and defaults).

    Attributes
    ----------
    f_start, f_stop, deltafreq : float
        Frequencies ``np.arange(f_start, f_stop, deltafreq)`` in Hz.
    f0 : float
        Cycles of the wavelet per standard deviation unit (its shape: larger
        is sharper in frequency, blurrier in time).
    normalisation : float
        Each scale ``s`` is weighted by ``s ** -(1 + normalisation)``; 0 gives
        the same amplitude to sines of equal amplitude at any frequency.
    """

    f_start: float = 3.0
    f_stop: float = 90.0
    deltafreq: float = 3.0
    f0: float = 2.5
    normalisation: float = 0.0

    def checked(self, sample_rate: float) -> TimeFreqParams:
        """Return these parameters as floats, or raise ValueError naming the bad one and the fix."""
        values = {}
        for key in ("f_start", "f_stop", "deltafreq", "f0", "normalisation"):
            value = getattr(self, key)
            try:
                values[key] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"timefreq: {key}={value!r} is not a number") from None
            if not math.isfinite(values[key]):
                raise ValueError(f"timefreq: {key}={value!r} must be finite")
        for key in ("f_start", "deltafreq", "f0"):
            if values[key] <= 0:
                raise ValueError(f"timefreq: {key}={values[key]} must be > 0")
        nyquist = sample_rate / 2.0
        if values["f_stop"] <= values["f_start"]:
            raise ValueError(f"timefreq: f_stop={values['f_stop']} must be above f_start={values['f_start']}")
        if values["f_stop"] > nyquist:
            raise ValueError(
                f"timefreq: f_stop={values['f_stop']} Hz is above the Nyquist frequency "
                f"({nyquist:g} Hz at sample_rate={sample_rate:g}); lower f_stop"
            )
        return TimeFreqParams(**values)


def morlet_frequencies(f_start: float, f_stop: float, deltafreq: float) -> np.ndarray:
    """Return the analysed frequencies: ``np.arange(f_start, f_stop, deltafreq)`` (pyacq's rule)."""
    return np.arange(f_start, f_stop, deltafreq, dtype=float)


@functools.lru_cache(maxsize=256)
def _fast_len(n: int) -> int:
    """Return the smallest ``2^a 3^b 5^c 7^d 11^e >= n``, what ``scipy.fft.next_fast_len(n)`` returns.

    Computed here (a few thousand integer products, cached) so that building
    an engine neither imports scipy.fft (0.5 s) nor calls into it per group.
    """
    n = max(1, int(n))
    best = 1 << (n - 1).bit_length()
    p11 = 1
    while p11 < best:
        p7 = p11
        while p7 < best:
            p5 = p7
            while p5 < best:
                p3 = p5
                while p3 < best:
                    candidate = p3 << (-(-n // p3) - 1).bit_length()  # p3 * the smallest 2^k with p3 2^k >= n
                    best = min(best, candidate)
                    p3 *= 3
                p5 *= 5
            p7 *= 7
        p11 *= 11
    return best


class MorletEngine:
    """Morlet scalogram of the last ``xsize`` seconds of one channel.

    Parameters
    ----------
    sample_rate : float
        Sample rate of the signal (Hz).
    xsize : float
        Seconds displayed.
    timefreq : TimeFreqParams or dict, optional
        The wavelet parameters (pyacq's ``timefreq`` group).
    display_rate : float, optional
        Columns per second wanted at least; default ``4 * f_stop`` (as pyacq).
        The signal is decimated by the largest integer that keeps both this
        rate and every wavelet's band.

    Attributes
    ----------
    freqs : ndarray
        Analysed frequencies (Hz), the rows of a map.
    decimation : int
        Input samples per map column.
    sub_sample_rate : float
        Columns per second (``sample_rate / decimation``).
    plot_length : int
        Columns per map (``xsize`` seconds).
    window_size : int
        Input samples one map needs: ``xsize`` plus the history the longest
        wavelet reaches (a multiple of ``decimation``).
    times : ndarray
        Time of each column relative to the head (seconds, the last is
        ``-decimation / sample_rate``).

    Examples
    --------
    >>> engine = MorletEngine(1000.0, xsize=5.0, timefreq={"f_start": 5, "f_stop": 60, "deltafreq": 1})
    >>> sig = np.random.randn(engine.window_size)
    >>> engine.compute(sig).shape == (engine.plot_length, engine.freqs.size)
    True
    """

    def __init__(
        self,
        sample_rate: float,
        xsize: float,
        timefreq: TimeFreqParams | dict | None = None,
        display_rate: float | None = None,
    ):
        try:
            sample_rate = float(sample_rate)
            xsize = float(xsize)
        except (TypeError, ValueError):
            raise ValueError(f"MorletEngine: sample_rate={sample_rate!r} and xsize={xsize!r} must be numbers") from None
        if not sample_rate > 0 or not math.isfinite(sample_rate):
            raise ValueError(f"MorletEngine: sample_rate={sample_rate} must be a positive number")
        if not xsize > 0 or not math.isfinite(xsize):
            raise ValueError(f"MorletEngine: xsize={xsize} must be a positive number of seconds")
        if timefreq is None:
            timefreq = TimeFreqParams()
        elif not isinstance(timefreq, TimeFreqParams):
            unknown = sorted(set(timefreq) - set(TimeFreqParams.__dataclass_fields__))
            if unknown:
                raise ValueError(
                    f"MorletEngine: unknown timefreq parameters {unknown}; accepted: "
                    f"{sorted(TimeFreqParams.__dataclass_fields__)}"
                )
            timefreq = TimeFreqParams(**timefreq)
        self.params = p = timefreq.checked(sample_rate)
        self.sample_rate = sample_rate
        self.xsize = xsize
        self.freqs = morlet_frequencies(p.f_start, p.f_stop, p.deltafreq)
        if self.freqs.size == 0:  # pragma: no cover - f_stop > f_start guarantees one
            raise ValueError("timefreq: no frequency in [f_start, f_stop)")
        # wavelet scales in input samples, and their spread in time (samples) and frequency (cycles/sample)
        scales = p.f0 / self.freqs * sample_rate
        self._scales = scales
        sigma_nu = 1.0 / (2 * np.pi * scales)
        band = 2 * _FREQ_SUPPORT * float(sigma_nu.max())  # widest band, cycles/sample (highest frequency)

        wanted_rate = 4.0 * p.f_stop if display_rate is None else float(display_rate)
        if not wanted_rate > 0:
            raise ValueError(f"MorletEngine: display_rate={display_rate!r} must be positive")
        # folding needs each band narrower than the decimated spectrum (1 / decimation cycles/sample)
        decimation = int(min(sample_rate // wanted_rate, math.floor(1.0 / band) if band > 0 else sample_rate))
        self.decimation = q = max(1, decimation)
        self.sub_sample_rate = sample_rate / q

        self.plot_length = max(1, int(math.ceil(xsize * sample_rate / q)))
        n_display = self.plot_length * q
        self.times = (np.arange(self.plot_length) * q - n_display) / sample_rate
        weight = scales ** -(1.0 + p.normalisation) * scales * np.sqrt(2 * np.pi) / q  # 1/q: exact decimation
        # frequencies are computed in groups whose longest wavelet reaches at most twice as far as their
        # shortest: each group reads and transforms only the history its own wavelets need
        self._groups: list[_FrequencyGroup] = []
        order = np.argsort(-scales)
        start = 0
        while start < order.size:
            stop = start + 1
            while stop < order.size and scales[order[stop]] * 2 > scales[order[start]]:
                stop += 1
            rows = order[start:stop]
            self._groups.append(
                _FrequencyGroup(rows, scales[rows], self.freqs[rows] / sample_rate, weight[rows], q, n_display)
            )
            start = stop
        self.margin = max(g.margin for g in self._groups)
        self.window_size = self.margin + n_display

    def __repr__(self) -> str:
        return (
            f"<MorletEngine {self.freqs.size} freqs {self.freqs[0]:g}-{self.freqs[-1]:g} Hz, "
            f"{self.plot_length} columns at {self.sub_sample_rate:g} Hz, window {self.window_size} samples>"
        )

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of a map: ``(plot_length, n_freqs)`` (time, frequency)."""
        return self.plot_length, int(self.freqs.size)

    def align_head(self, head: int) -> int:
        """Round ``head`` down to a multiple of ``decimation`` (so columns keep their absolute times)."""
        return int(head) - int(head) % self.decimation

    def compute(self, sig: np.ndarray, workers: int = 1) -> np.ndarray:
        """Return the amplitude map of the last ``window_size`` samples of ``sig``.

        Parameters
        ----------
        sig : ndarray
            1-D signal, most recent sample last; at least ``window_size``
            samples (a shorter one is padded with zeros on the left: its
            oldest columns show nothing). NaN (never-written samples) count
            as 0.
        workers : int
            Threads of the FFTs (scipy.fft).

        Returns
        -------
        ndarray
            ``(plot_length, n_freqs)`` float32 amplitudes, time on axis 0:
            column ``i`` is centred on input sample ``len(sig) - xsize_samples
            + i * decimation``.
        """
        from scipy import fft

        sig = np.asarray(sig)
        if sig.ndim != 1:
            raise ValueError(f"MorletEngine.compute expects a 1-D signal, got shape {sig.shape}")
        x = np.zeros(self.window_size, dtype=np.float32)
        tail = sig[-self.window_size :]
        x[self.window_size - tail.size :] = tail
        np.nan_to_num(x, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        out = np.empty((self.freqs.size, self.plot_length), dtype=np.float32)
        for group in self._groups:
            out[group.rows] = group.compute(x[self.window_size - group.window_size :], workers, fft)
        return out.T


class _FrequencyGroup:
    """Frequencies transformed together: one FFT of the window they need, one short inverse FFT each.

    For each frequency: the bins (signed) of the window's spectrum where its
    wavelet's Gaussian matters, their destination ``k mod M`` in the folded
    spectrum, and the Gaussian's values there.
    """

    def __init__(
        self, rows: np.ndarray, scales: np.ndarray, nu0: np.ndarray, weight: np.ndarray, q: int, n_display: int
    ):
        self.rows = rows
        self.plot_length = n_display // q
        reach = int(math.ceil(_TIME_SUPPORT * float(scales.max())))  # half-length of the longest wavelet
        self.margin = int(math.ceil(reach / q)) * q
        self.window_size = self.margin + n_display
        self.sub_fft_size = m = _fast_len(int(math.ceil((self.window_size + reach) / q)))
        self.fft_size = n = m * q
        self.first_column = self.margin // q
        dst_all, src_all, values = [], [], []
        for j, (s, center) in enumerate(zip(scales, nu0, strict=True)):
            sigma = 1.0 / (2 * np.pi * s)
            k_lo = int(math.ceil((center - _FREQ_SUPPORT * sigma) * n))
            k_hi = int(math.floor((center + _FREQ_SUPPORT * sigma) * n))
            k = np.arange(max(k_lo, -(n // 2) + 1), min(k_hi, n // 2) + 1)[:m]  # at most M bins: no collision
            src_all.append(k)
            dst_all.append(j * m + k % m)
            values.append(weight[j] * np.exp(-2 * np.pi**2 * s**2 * (k / n - center) ** 2))
        src = np.concatenate(src_all)
        self._flat_dst = np.concatenate(dst_all).astype(np.intp)
        self._src = np.abs(src).astype(np.intp)
        self._conj = np.flatnonzero(src < 0)  # negative frequencies of a real signal: conjugate bins
        self._bank = np.concatenate(values).astype(np.float32)
        self._folded = np.zeros((rows.size, m), dtype=np.complex64)

    def compute(self, x: np.ndarray, workers: int, fft) -> np.ndarray:
        spectrum = fft.rfft(x, n=self.fft_size, workers=workers)
        picked = spectrum[self._src]
        if self._conj.size:
            picked[self._conj] = np.conj(picked[self._conj])
        folded = self._folded
        folded.fill(0)
        folded.reshape(-1)[self._flat_dst] = picked * self._bank
        out = fft.ifft(folded, axis=1, workers=workers, overwrite_x=False)
        return np.abs(out[:, self.first_column : self.first_column + self.plot_length])
