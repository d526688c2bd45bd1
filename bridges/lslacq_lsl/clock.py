"""SampleClock: LSL timestamps derived from absolute sample indexes.

A device stream's samples are equally spaced by construction; timestamping
them with the time they happen to reach the outlet would add the jitter of
every queue between the device and LSL. A :class:`SampleClock` instead
anchors one sample index to :func:`pylsl.local_clock` once and derives every
other timestamp from the index: ``t(k) = t_anchor + (k - k_anchor) / srate``.

Outlets register their clock under their source_id and node name, so a
marker outlet in the same process can timestamp events (whose ``index`` is
a sample of the signal stream) on exactly the signal's time axis.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import pylsl

logger = logging.getLogger(__name__)

__all__ = ["SampleClock", "get_clock", "register_clock", "unregister_clock"]


class SampleClock:
    """Map absolute sample indexes of a regular stream to LSL (local_clock) time.

    A real device's clock is never exactly at its nominal rate (tens of ppm
    off is common), so index-derived timestamps slowly drift away from the LSL
    clock. :meth:`observe` tracks the *lower envelope* of the lateness of
    arriving samples (the minimum over ``window`` seconds, which pipeline
    stalls and bursts do not move) and shifts the anchor when it exceeds
    ``max_drift``, so timestamps stay within ``max_drift`` of the LSL clock
    while consecutive samples stay exactly ``1/sample_rate`` apart between
    corrections.

    Parameters
    ----------
    sample_rate : float
        Nominal rate of the stream in Hz.
    max_drift : float or None
        Seconds of drift tolerated before the anchor is corrected (None: never).
    window : float
        Seconds over which the lateness envelope is taken.
    """

    def __init__(self, sample_rate: float, max_drift: float | None = 0.02, window: float = 10.0):
        if not sample_rate or sample_rate <= 0:
            raise ValueError(f"SampleClock needs a sample_rate > 0 Hz, got {sample_rate!r}")
        if max_drift is not None and max_drift <= 0:
            raise ValueError(f"SampleClock max_drift must be > 0 s or None, got {max_drift!r}")
        self.sample_rate = float(sample_rate)
        self.max_drift = max_drift
        self.window = float(window)
        self.anchor_index: int | None = None
        self.anchor_time: float | None = None
        #: newest (local_clock() - timestamp of the newest sample) seen by :meth:`observe`
        self.lag = 0.0
        #: lower envelope of the lag over the last complete window
        self.drift = 0.0
        #: how many times the anchor was shifted to follow the LSL clock
        self.n_corrections = 0
        self._win_start: float | None = None
        self._win_min = float("inf")
        self._lock = threading.Lock()

    @property
    def anchored(self) -> bool:
        """True once :meth:`anchor` has tied a sample index to a time."""
        return self.anchor_index is not None

    def anchor(self, index: int, time: float | None = None) -> None:
        """Declare that sample ``index`` happened at ``time`` (default: now)."""
        with self._lock:
            self.anchor_index = int(index)
            self.anchor_time = pylsl.local_clock() if time is None else float(time)
            self._win_start, self._win_min = None, float("inf")

    def reset(self) -> None:
        """Forget the anchor: the next chunk anchors the clock again (e.g. after a restart)."""
        with self._lock:
            self.anchor_index = self.anchor_time = None
            self._win_start, self._win_min = None, float("inf")

    def time_of(self, index) -> np.ndarray | float:
        """Timestamp(s) of sample index(es) ``index``."""
        if self.anchor_index is None:
            raise RuntimeError("SampleClock is not anchored yet: no sample has been seen")
        return self.anchor_time + (np.asarray(index, dtype=np.float64) - self.anchor_index) / self.sample_rate

    def time_of_index(self, index: int) -> float:
        """Timestamp of one sample index (plain float arithmetic, for the hot path)."""
        return self.anchor_time + (index - self.anchor_index) / self.sample_rate

    def timestamps(self, start: int, stop: int) -> np.ndarray:
        """Timestamps of samples ``start .. stop-1``."""
        return self.time_of(np.arange(start, stop))

    def observe(self, stop: int, now: float | None = None) -> float:
        """Record how late sample ``stop - 1`` arrived; correct the anchor for drift. Return the lag in s."""
        now = pylsl.local_clock() if now is None else now
        lag = now - self.time_of_index(stop - 1)
        self.lag = lag
        if self._win_start is None:
            self._win_start = now
        self._win_min = min(self._win_min, lag)
        if now - self._win_start >= self.window:
            self.drift = self._win_min
            self._win_start, self._win_min = now, float("inf")
            if self.max_drift is not None and abs(self.drift) > self.max_drift:
                with self._lock:
                    self.anchor_time += self.drift
                self.n_corrections += 1
                logger.info(
                    "sample clock (%g Hz) drifted %+.1f ms from the LSL clock: the source's rate is off its "
                    "nominal value; timestamps shifted to follow",
                    self.sample_rate,
                    self.drift * 1e3,
                )
                self.drift = 0.0
        return lag


_registry: dict[str, SampleClock] = {}
_registry_lock = threading.Lock()


def register_clock(key: str, clock: SampleClock) -> None:
    """Make ``clock`` findable by :func:`get_clock` under ``key`` (in this process)."""
    with _registry_lock:
        _registry[key] = clock


def unregister_clock(key: str, clock: SampleClock | None = None) -> None:
    """Remove ``key`` (only if it still maps to ``clock``, when given)."""
    with _registry_lock:
        if key in _registry and (clock is None or _registry[key] is clock):
            del _registry[key]


def get_clock(key: str) -> SampleClock | None:
    """Return the clock registered under ``key`` (None if there is none)."""
    with _registry_lock:
        return _registry.get(key)
