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

import threading

import numpy as np
import pylsl

__all__ = ["SampleClock", "get_clock", "register_clock", "unregister_clock"]


class SampleClock:
    """Map absolute sample indexes of a regular stream to LSL (local_clock) time.

    Parameters
    ----------
    sample_rate : float
        Nominal rate of the stream in Hz.
    """

    def __init__(self, sample_rate: float):
        if not sample_rate or sample_rate <= 0:
            raise ValueError(f"SampleClock needs a sample_rate > 0 Hz, got {sample_rate!r}")
        self.sample_rate = float(sample_rate)
        self.anchor_index: int | None = None
        self.anchor_time: float | None = None
        #: newest (local_clock() - timestamp of the newest sample) seen by :meth:`observe`
        self.lag = 0.0
        self._lock = threading.Lock()

    @property
    def anchored(self) -> bool:
        return self.anchor_index is not None

    def anchor(self, index: int, time: float | None = None) -> None:
        """Declare that sample ``index`` happened at ``time`` (default: now)."""
        with self._lock:
            self.anchor_index = int(index)
            self.anchor_time = pylsl.local_clock() if time is None else float(time)

    def anchor_if_needed(self, stop: int) -> None:
        """Anchor on the newest sample of the first chunk (index ``stop - 1`` happened now)."""
        if self.anchor_index is None:
            self.anchor(stop - 1)

    def time_of(self, index) -> np.ndarray | float:
        """Timestamp(s) of sample index(es) ``index``."""
        if self.anchor_index is None:
            raise RuntimeError("SampleClock is not anchored yet: no sample has been seen")
        return self.anchor_time + (np.asarray(index, dtype=np.float64) - self.anchor_index) / self.sample_rate

    def timestamps(self, start: int, stop: int) -> np.ndarray:
        """Timestamps of samples ``start .. stop-1``."""
        return self.time_of(np.arange(start, stop))

    def observe(self, stop: int) -> float:
        """Record how late sample ``stop - 1`` arrived (for drift diagnostics); return the lag in s."""
        self.lag = pylsl.local_clock() - float(self.time_of(stop - 1))
        return self.lag


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
