"""Forward-backward (zero-phase) SOS filtering over sliding, overlapping windows.

:class:`OverlapFiltfiltEngine` implements the scheme of pyacq's OverlapFiltfilt
(manual section 5.5.2) without Node or threads:

* the input is cut into consecutive blocks of exactly ``chunksize`` samples
  (input chunks of any length are regrouped internally);
* the forward pass runs continuously over the stream (its state is carried
  from block to block, so it equals an offline forward pass);
* when the block ending at absolute index ``pos`` is complete, the backward
  pass runs over the last ``chunksize + overlapsize`` forward-filtered
  samples, from ``pos`` back to ``pos - chunksize - overlapsize``, and the
  samples ``[pos - chunksize - overlapsize, pos - overlapsize)`` are released.
  The last ``overlapsize`` samples of the window absorb the start-up transient
  of the backward pass and are recomputed in the next window.

So each window overlaps the next one by ``overlapsize`` samples; with
``overlapsize < chunksize/2`` the windows only overlap at their ends, with
``overlapsize > chunksize/2`` every sample lies in two windows ("fully
overlapping", no central part). The output is delayed by ``overlapsize``
samples; output sample ``i`` is the filtered input sample ``i`` (absolute
indexes are kept).

The forward pass starts from the filter's steady state for the first sample of
the stream (as offline ``filtfilt`` does); the backward pass starts from a zero
state at each window end (pyacq's choice, and the most accurate one across
filter types in our measurements). The error against offline ``scipy.signal.sosfiltfilt`` comes from truncating the
backward pass at the window end: it is the part of the backward impulse response
that has not decayed within ``overlapsize`` samples; :func:`overlap_filtfilt_error`
measures it for given settings.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from .sos import channel_groups, steady_state, validate_sos

__all__ = ["OverlapFiltfiltEngine", "overlap_filtfilt_error", "suggest_overlapsize"]


class OverlapFiltfiltEngine:
    """Zero-phase filtering of a stream by overlapping windows.

    Parameters
    ----------
    coefficients : array_like
        ``(n_sections, 6)`` or ``(n_channels, n_sections, 6)``.
    chunksize : int
        Step between windows (and size of every released chunk), in samples.
    overlapsize : int
        Extra samples at the end of each window; also the output delay.
    n_channels : int
        Channels of every chunk (chunks are ``(n_samples, n_channels)``).
    dtype : numpy dtype
        dtype of the returned chunks (default float32).
    backend : callable, optional
        Replaces scipy's sosfilt (see :class:`~lslacq.dsp.sos.SosFilterEngine`).
    """

    def __init__(self, coefficients, chunksize: int, overlapsize: int, n_channels: int, dtype=np.float32, backend=None):
        checks = (("chunksize", chunksize, 1), ("overlapsize", overlapsize, 0), ("n_channels", n_channels, 1))
        for name, value, low in checks:
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise ValueError(f"OverlapFiltfiltEngine: {name} must be an int >= {low}, got {value!r}")
        self.chunksize = int(chunksize)
        self.overlapsize = int(overlapsize)
        self.n_channels = int(n_channels)
        self.dtype = np.dtype(dtype)
        self.backend = backend
        self._window = self.chunksize + self.overlapsize
        self.set_coefficients(coefficients)
        self.reset()

    @property
    def coefficients(self) -> np.ndarray:
        """The second-order sections in use, ``(n_sections, 6)`` or ``(n_channels, n_sections, 6)``."""
        return self._sos

    def set_coefficients(self, coefficients) -> None:
        """Replace the filter.

        The forward state restarts from the steady state of the last input sample; windows already partly
        filtered with the old filter are released as they are.
        """
        self._sos = validate_sos(coefficients, self.n_channels)
        self._groups = channel_groups(self._sos, self.n_channels)
        self._unit_zi = np.zeros((self._sos.shape[-2], 2, self.n_channels))
        for chans, sos in self._groups:
            self._unit_zi[:, :, chans] = steady_state(sos, np.ones(self.n_channels)[chans])
        if getattr(self, "_pending", None) is not None and self._last_input is not None:
            self._zi_fwd = self._unit_zi * self._last_input[None, None, :]
        elif getattr(self, "_zi_fwd", None) is not None:
            self._zi_fwd = None  # not started yet: initialise on the first sample

    def reset(self) -> None:
        """Forget the stream (next chunk starts a new stream)."""
        self._pending = np.empty((0, self.n_channels))  # input not yet forward filtered
        self._fwd = np.empty((0, self.n_channels))  # last <= window forward-filtered samples
        self._zi_fwd = None
        self._last_input = None
        self._end = None  # absolute index after the last input sample
        self._next_out = None  # absolute index of the next sample to release

    def _sosfilt(self, x: np.ndarray, zi: np.ndarray):
        if self.backend is not None:
            return self.backend(self._sos, x, zi)
        if len(self._groups) == 1:
            return scipy.signal.sosfilt(self._groups[0][1], x, axis=0, zi=zi)
        y = np.empty(x.shape, dtype=np.float64)
        zo = np.empty_like(zi)
        for chans, sos in self._groups:
            y[:, chans], zo[:, :, chans] = scipy.signal.sosfilt(sos, x[:, chans], axis=0, zi=zi[:, :, chans])
        return y, zo

    def _backward(self, rev: np.ndarray) -> np.ndarray:
        # zero initial state, as pyacq: measured to be the most accurate choice across
        # low/high/band-pass filters (a steady-state start helps low-pass filters but
        # hurts anything with a high-pass edge)
        return self._sosfilt(rev, np.zeros_like(self._unit_zi))[0]

    def process(self, end_index: int, chunk: np.ndarray) -> tuple[int, np.ndarray] | None:
        """Feed one input chunk and return what can be released.

        Parameters
        ----------
        end_index : int
            Absolute index after the chunk's last sample (pyacq's stream
            ``index`` convention: total samples sent so far).
        chunk : ndarray, shape (n_samples, n_channels)

        Returns
        -------
        (int, ndarray) or None
            ``(out_end_index, filtered)`` where ``filtered`` covers absolute
            samples ``[out_end_index - len(filtered), out_end_index)``, or None
            when no block was completed. A gap in ``end_index`` (lost samples)
            restarts the filter at the new position.
        """
        x = np.asarray(chunk)
        if x.ndim != 2 or x.shape[1] != self.n_channels:
            raise ValueError(
                f"OverlapFiltfiltEngine: chunk must have shape (n_samples, {self.n_channels}), got {x.shape}"
            )
        end_index = int(end_index)
        start = end_index - x.shape[0]
        if self._end is not None and start != self._end:
            self.reset()
        if self._end is None:
            self._next_out = start
            self._block_start = start
        self._end = end_index
        if x.shape[0] == 0:
            return None
        if self._zi_fwd is None:
            self._zi_fwd = self._unit_zi * x[0].astype(np.float64)[None, None, :]
        self._pending = np.concatenate([self._pending, x], axis=0) if self._pending.size else x.astype(np.float64)
        self._last_input = np.array(x[-1], dtype=np.float64)

        outputs = []
        while self._pending.shape[0] >= self.chunksize:
            block, self._pending = self._pending[: self.chunksize], self._pending[self.chunksize :]
            fwd, self._zi_fwd = self._sosfilt(block, self._zi_fwd)
            self._fwd = np.concatenate([self._fwd, fwd], axis=0)[-self._window :]
            pos = self._block_start + self.chunksize
            self._block_start = pos
            # backward pass over the window, from its newest sample
            back = self._backward(self._fwd[::-1])[::-1]
            win_start = pos - self._fwd.shape[0]
            release_stop = pos - self.overlapsize
            release_start = max(self._next_out, win_start)
            if release_stop > release_start:
                outputs.append(back[release_start - win_start : release_stop - win_start])
                self._next_out = release_stop
        if not outputs:
            return None
        out = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=0)
        return self._next_out, out.astype(self.dtype, copy=False)


def overlap_filtfilt_error(
    coefficients,
    chunksize: int,
    overlapsize: int,
    n_samples: int | None = None,
    signal: np.ndarray | None = None,
    seed: int = 0,
) -> float:
    """Relative RMS error of OverlapFiltfilt against offline ``sosfiltfilt``.

    Runs :class:`OverlapFiltfiltEngine` on ``signal`` (default: white noise)
    and compares it with ``scipy.signal.sosfiltfilt`` on the whole signal,
    away from both edges (the first and last ``chunksize + overlapsize``
    samples, where the offline filter itself depends on its padding).

    Parameters
    ----------
    coefficients : array_like, shape (n_sections, 6)
    chunksize, overlapsize : int
    n_samples : int, optional
        Length of the generated white noise (default ``40 * (chunksize + overlapsize)``).
    signal : ndarray, shape (n_samples,) or (n_samples, n_channels), optional
        Use this signal instead of white noise.
    seed : int
        Seed of the white noise.

    Returns
    -------
    float
        ``rms(online - offline) / rms(offline)`` over the compared samples.
    """
    sos = validate_sos(coefficients)
    if sos.ndim != 2:
        raise ValueError("overlap_filtfilt_error: pass one filter of shape (n_sections, 6)")
    if signal is None:
        n = n_samples or 40 * (chunksize + overlapsize)
        signal = np.random.default_rng(seed).standard_normal((n, 1))
    sig = np.asarray(signal, dtype=np.float64)
    if sig.ndim == 1:
        sig = sig[:, None]
    margin = chunksize + overlapsize
    if sig.shape[0] < 3 * margin:
        raise ValueError(f"overlap_filtfilt_error: the signal needs at least {3 * margin} samples, got {sig.shape[0]}")
    engine = OverlapFiltfiltEngine(sos, chunksize, overlapsize, sig.shape[1], dtype=np.float64)
    end, online = engine.process(sig.shape[0], sig)
    offline = scipy.signal.sosfiltfilt(sos, sig, axis=0)
    stop = min(end, sig.shape[0] - margin)
    sel = slice(margin, stop)
    ref = offline[sel]
    diff = online[sel] - ref  # online starts at absolute index 0
    return float(np.sqrt(np.mean(diff**2)) / np.sqrt(np.mean(ref**2)))


def suggest_overlapsize(coefficients, chunksize: int, max_error: float = 1e-3, max_overlapsize: int = 1 << 18) -> int:
    """Smallest ``overlapsize`` (roughly) that keeps OverlapFiltfilt's error below ``max_error``.

    Starts below the length after which the filter's impulse response keeps less
    than ``max_error`` of its RMS (the part the truncated backward pass loses),
    then checks it with :func:`overlap_filtfilt_error` on white noise and
    grows it by 25 % steps until the measured error is small enough.

    Parameters
    ----------
    coefficients : array_like, shape (n_sections, 6)
    chunksize : int
        The chunksize you will use.
    max_error : float
        Target relative RMS error against offline ``sosfiltfilt``.
    max_overlapsize : int
        Give up above this many samples.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If no overlapsize up to ``max_overlapsize`` reaches ``max_error``
        (use a gentler filter, or a longer overlap limit).
    """
    sos = validate_sos(coefficients)
    if sos.ndim != 2:
        raise ValueError("suggest_overlapsize: pass one filter of shape (n_sections, 6)")
    if not 0 < max_error < 1:
        raise ValueError(f"suggest_overlapsize: max_error must be in (0, 1), got {max_error}")
    n = 1024
    while True:  # impulse response long enough for its tail to fall below max_error
        impulse = np.zeros(n)
        impulse[0] = 1.0
        h = scipy.signal.sosfilt(sos, impulse)
        tail = np.sqrt(np.cumsum((h**2)[::-1])[::-1] / np.sum(h**2))
        below = np.flatnonzero(tail < max_error)
        if below.size or n >= max_overlapsize:
            break
        n *= 4
    overlap = int(below[0]) if below.size else max_overlapsize
    overlap = max(overlap // 4, 1)  # the measured error is usually several times below the tail
    while overlap <= max_overlapsize:
        if overlap_filtfilt_error(sos, chunksize, overlap, n_samples=20 * (chunksize + overlap)) <= max_error:
            return overlap
        overlap = int(overlap * 1.25) + 1
    raise ValueError(
        f"suggest_overlapsize: no overlapsize up to {max_overlapsize} samples keeps the error below "
        f"{max_error}; use a gentler filter (lower order, higher high-pass corner) or raise "
        "max_overlapsize"
    )
