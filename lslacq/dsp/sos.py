"""Second-order-section IIR filtering, chunk by chunk (no Node, no threads).

:class:`SosFilterEngine` carries the per-channel filter state across chunks so
that filtering a signal chunk by chunk gives the same result as
``scipy.signal.sosfilt`` on the whole signal. :func:`validate_sos` checks and
normalises coefficients; :func:`design_sos` designs them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import scipy.signal

__all__ = ["validate_sos", "design_sos", "steady_state", "channel_groups", "SosFilterEngine"]

logger = logging.getLogger(__name__)


def _ba_hint(coefficients) -> str:
    """Return the fix to suggest when ``coefficients`` looks like a ``(b, a)`` transfer function (two 1-D sequences)."""
    if isinstance(coefficients, (tuple, list)) and len(coefficients) == 2:
        try:
            parts = [np.asarray(c, dtype=np.float64) for c in coefficients]
        except (TypeError, ValueError):
            return ""
        if all(p.ndim == 1 and p.size > 1 for p in parts):
            return (
                "; this looks like a (b, a) transfer function: design second-order sections instead "
                "(scipy.signal.butter(..., output='sos') or iirfilter(..., output='sos'), "
                "lslacq.dsp.design_sos(...)), or convert with scipy.signal.tf2sos(b, a)"
            )
    return ""


def validate_sos(coefficients, n_channels: int | None = None, name: str = "coefficients") -> np.ndarray:
    """Check filter coefficients and return them as normalised float64.

    Parameters
    ----------
    coefficients : array_like
        Shape ``(n_sections, 6)`` (one filter for every channel) or
        ``(n_channels, n_sections, 6)`` (one filter per channel). Each row is
        ``[b0, b1, b2, a0, a1, a2]`` as in ``scipy.signal.sosfilt``.
    n_channels : int, optional
        If given, a 3-D array must have this many channels.
    name : str
        Used in error messages.

    Returns
    -------
    numpy.ndarray
        float64 copy with every section divided by its ``a0``.

    Raises
    ------
    ValueError
        Wrong shape, non-finite values, ``a0 == 0`` or an unstable section
        (a pole on or outside the unit circle would make the output grow to
        inf/NaN).
    """
    if coefficients is None:
        raise ValueError(
            f"{name} is None; pass an array of shape (n_sections, 6), "
            "e.g. lslacq.dsp.design_sos('bandpass', [1, 40], sample_rate)"
        )
    ba_hint = _ba_hint(coefficients)
    try:
        sos = np.array(coefficients, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a numeric array of shape (n_sections, 6), got {type(coefficients).__name__}{ba_hint}"
        ) from None
    if sos.ndim not in (2, 3) or sos.shape[-1] != 6 or sos.shape[-2] < 1:
        raise ValueError(
            f"{name} must have shape (n_sections, 6) or (n_channels, n_sections, 6), got {sos.shape}{ba_hint}"
        )
    if sos.ndim == 3 and n_channels is not None and sos.shape[0] != n_channels:
        raise ValueError(f"{name} has {sos.shape[0]} channel filters but the stream has {n_channels} channels")
    if not np.all(np.isfinite(sos)):
        raise ValueError(f"{name} contains NaN or inf")
    a0 = sos[..., 3]
    if np.any(a0 == 0):
        raise ValueError(f"{name}: a0 (column 3) must be non-zero in every section")
    sos = sos / a0[..., None]
    # poles of each section are the roots of z^2 + a1 z + a2: stable iff |a2| < 1 and |a1| < 1 + a2
    a1, a2 = sos[..., 4], sos[..., 5]
    unstable = ~((np.abs(a2) < 1) & (np.abs(a1) < 1 + a2))
    if np.any(unstable):
        bad = np.argwhere(unstable)[0].tolist()
        raise ValueError(
            f"{name}: section {bad} is unstable (a pole on or outside the unit circle); "
            "redesign the filter (lower order, or use output='sos' when designing)"
        )
    return sos


def steady_state(sos: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Filter state of ``sos`` after an infinitely long constant input ``level``.

    Parameters
    ----------
    sos : ndarray, shape (n_sections, 6)
    level : ndarray, shape (n_channels,)

    Returns
    -------
    ndarray, shape (n_sections, 2, n_channels)
    """
    zi = scipy.signal.sosfilt_zi(sos)  # (n_sections, 2) for a unit step
    return zi[:, :, None] * np.asarray(level, dtype=np.float64)[None, None, :]


def channel_groups(sos: np.ndarray, n_channels: int) -> list[tuple[np.ndarray | slice, np.ndarray]]:
    """Split per-channel coefficients into groups of channels sharing a filter."""
    if sos.ndim == 2:
        return [(slice(None), sos)]
    flat = sos.reshape(n_channels, -1)
    uniq, inverse = np.unique(flat, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    if len(uniq) == 1:
        return [(slice(None), sos[0])]
    groups = []
    for g in range(len(uniq)):
        chans = np.flatnonzero(inverse == g)
        groups.append((chans, sos[chans[0]]))
    return groups


class SosFilterEngine:
    """Stateful multi-channel SOS filter over consecutive chunks.

    Parameters
    ----------
    coefficients : array_like
        ``(n_sections, 6)`` or ``(n_channels, n_sections, 6)``; see
        :func:`validate_sos`.
    n_channels : int
        Number of channels of every chunk.
    dtype : numpy dtype, optional
        dtype of the returned chunks (default float32). The filter itself
        runs in float64.
    backend : callable, optional
        ``backend(sos, x, zi) -> (y, zf)`` with the semantics of
        ``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)`` that also accepts
        per-channel ``sos`` of shape ``(n_channels, n_sections, 6)`` (the
        OpenCL kernel); default: scipy, one call per group of channels that
        share a filter.

    Notes
    -----
    Chunks are ``(n_samples, n_channels)`` (time first). The state starts at
    zero, so the concatenated output equals
    ``scipy.signal.sosfilt(coefficients, whole_signal, axis=0)``.

    :meth:`set_coefficients` swaps the filter between two chunks. The new
    filter starts from its steady state for the last input sample, as if that
    value had been applied forever: no NaN, no step transient for a signal
    sitting at a constant level. If non-finite input (NaN/inf) poisons the
    state, the state is reset to the steady state of the next finite sample
    and :attr:`n_state_resets` is incremented, so one bad sample does not turn
    the rest of the stream into NaN.
    """

    def __init__(self, coefficients, n_channels: int, dtype=np.float32, backend=None):
        if not isinstance(n_channels, (int, np.integer)) or n_channels < 1:
            raise ValueError(f"SosFilterEngine: n_channels must be a positive int, got {n_channels!r}")
        self.n_channels = int(n_channels)
        self.backend = backend
        self.dtype = np.dtype(dtype)
        self.n_state_resets = 0
        self._last_input: np.ndarray | None = None
        self._needs_reset = False
        self._set(validate_sos(coefficients, self.n_channels), zi=None)

    @property
    def coefficients(self) -> np.ndarray:
        """The current normalised coefficients (float64)."""
        return self._sos

    @property
    def zi(self) -> np.ndarray:
        """The current filter state, shape ``(n_sections, 2, n_channels)``."""
        return self._zi

    def _set(self, sos: np.ndarray, zi: np.ndarray | None) -> None:
        self._sos = sos
        self._groups = channel_groups(sos, self.n_channels)
        n_sections = sos.shape[-2]
        self._zi = np.zeros((n_sections, 2, self.n_channels)) if zi is None else zi

    def _steady_zi(self, level: np.ndarray) -> np.ndarray:
        zi = np.zeros((self._sos.shape[-2], 2, self.n_channels))
        for chans, sos in self._groups:
            zi[:, :, chans] = steady_state(sos, level[chans])
        return zi

    def set_coefficients(self, coefficients) -> None:
        """Replace the filter between two chunks (validated first; see class notes)."""
        sos = validate_sos(coefficients, self.n_channels)
        self._set(sos, zi=None)
        if self._last_input is not None:
            self._zi = self._steady_zi(self._last_input)

    def reset(self) -> None:
        """Forget the past: zero state, as at construction."""
        self._zi = np.zeros_like(self._zi)
        self._last_input = None

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Filter one chunk of shape ``(n_samples, n_channels)`` and return the output."""
        x = np.asarray(chunk)
        if x.ndim != 2 or x.shape[1] != self.n_channels:
            raise ValueError(f"SosFilterEngine: chunk must have shape (n_samples, {self.n_channels}), got {x.shape}")
        if x.shape[0] == 0:
            return np.empty((0, self.n_channels), dtype=self.dtype)
        if self._needs_reset:
            finite = np.isfinite(x[0])
            if np.all(finite):
                self._zi = self._steady_zi(x[0].astype(np.float64))
                self._needs_reset = False
        if self.backend is not None:
            y, self._zi = self.backend(self._sos, x, self._zi)
        elif len(self._groups) == 1:
            y, self._zi = scipy.signal.sosfilt(self._groups[0][1], x, axis=0, zi=self._zi)
        else:
            y = np.empty(x.shape, dtype=np.result_type(x.dtype, np.float64))
            for chans, sos in self._groups:
                y[:, chans], self._zi[:, :, chans] = scipy.signal.sosfilt(
                    sos, x[:, chans], axis=0, zi=self._zi[:, :, chans]
                )
        self._last_input = np.array(x[-1], dtype=np.float64)
        if not np.all(np.isfinite(self._zi)):
            self.n_state_resets += 1
            logger.warning(
                "SosFilterEngine: non-finite input made the filter state NaN/inf; resetting it (reset #%d)",
                self.n_state_resets,
            )
            self._zi = np.zeros_like(self._zi)
            self._needs_reset = True
            if not np.all(np.isfinite(self._last_input)):
                self._last_input = None
        return y.astype(self.dtype, copy=False)


_KINDS = ("lowpass", "highpass", "bandpass", "bandstop", "notch")


def design_sos(
    kind: str,
    freqs: float | Sequence[float],
    sample_rate: float,
    order: int = 4,
    ftype: str = "butter",
    rp: float | None = None,
    rs: float | None = None,
    quality: float = 30.0,
) -> np.ndarray:
    """Design an IIR filter as second-order sections, ready for SosFilter.

    Parameters
    ----------
    kind : {'lowpass', 'highpass', 'bandpass', 'bandstop', 'notch'}
        Filter type. For 'notch', ``freqs`` is the centre frequency and
        ``quality`` its Q factor (``order`` is ignored).
    freqs : float or (float, float)
        Cut-off frequency in Hz (two for bandpass/bandstop).
    sample_rate : float
        Sampling rate in Hz.
    order : int
        Filter order (a bandpass/bandstop of order N has 2N poles).
    ftype : {'butter', 'cheby1', 'cheby2', 'ellip', 'bessel'}
        IIR family (see ``scipy.signal.iirfilter``); cheby1/ellip need ``rp``,
        cheby2/ellip need ``rs`` (dB).
    rp, rs : float, optional
        Passband ripple and stopband attenuation in dB.
    quality : float
        Q of the notch filter.

    Returns
    -------
    numpy.ndarray, shape (n_sections, 6)

    Examples
    --------
    >>> sos = design_sos("bandpass", [1.0, 40.0], sample_rate=1000.0, order=4)
    >>> sos.shape
    (4, 6)
    """
    if kind not in _KINDS:
        raise ValueError(f"design_sos: kind={kind!r} is unknown; choose one of {list(_KINDS)}")
    try:
        sample_rate = float(sample_rate)
    except (TypeError, ValueError):
        raise TypeError(f"design_sos: sample_rate must be a number, got {sample_rate!r}") from None
    if not sample_rate > 0:
        raise ValueError(f"design_sos: sample_rate must be > 0, got {sample_rate}")
    nyquist = sample_rate / 2
    f = np.atleast_1d(np.asarray(freqs, dtype=np.float64))
    need = 2 if kind in ("bandpass", "bandstop") else 1
    if f.shape != (need,):
        raise ValueError(f"design_sos: kind={kind!r} needs {need} frequency(ies) in Hz, got {freqs!r}")
    if np.any(f <= 0) or np.any(f >= nyquist):
        raise ValueError(
            f"design_sos: frequencies {f.tolist()} Hz must lie strictly between 0 and the Nyquist "
            f"frequency {nyquist} Hz"
        )
    if need == 2 and not f[0] < f[1]:
        raise ValueError(f"design_sos: band edges must be increasing, got {f.tolist()}")
    if kind == "notch":
        b, a = scipy.signal.iirnotch(f[0], quality, fs=sample_rate)
        return scipy.signal.tf2sos(b, a)
    if not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"design_sos: order must be a positive int, got {order!r}")
    if ftype in ("cheby1", "ellip") and rp is None:
        raise ValueError(f"design_sos: ftype={ftype!r} needs rp (passband ripple in dB), e.g. rp=1")
    if ftype in ("cheby2", "ellip") and rs is None:
        raise ValueError(f"design_sos: ftype={ftype!r} needs rs (stopband attenuation in dB), e.g. rs=40")
    try:
        return scipy.signal.iirfilter(
            int(order), f if need == 2 else f[0], rp=rp, rs=rs, btype=kind, ftype=ftype, output="sos", fs=sample_rate
        )
    except ValueError as exc:
        raise ValueError(f"design_sos: {exc}") from None
