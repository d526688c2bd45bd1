"""Stacking signal epochs around trigger events (no Node, no threads).

:class:`EpochStacker` keeps a ring buffer of the recent signal and a list of
triggers waiting for their right sweep to arrive. When the signal reaches
``trigger + right_sweep`` the epoch ``[trigger + left_sweep, trigger +
right_sweep)`` is copied into a stack of the last ``stack_size`` epochs, laid
out as pyacq's TriggerAccumulator: ``stack[trigger, channel, time]``, used as
a ring buffer along axis 0 (the newest epoch is at ``(total_trig - 1) %
stack_size``; :meth:`EpochStacker.epochs` returns them in chronological order).

Events may arrive before or after the signal they point to: an epoch is cut as
soon as both are there, as long as its first sample is still in the signal
buffer (``buffer_size`` samples); older ones, and ones starting before the
stream, are dropped and counted in :attr:`EpochStacker.n_dropped`.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable

import numpy as np

from ..core.stream.events import as_event_indexes

__all__ = ["EpochStacker"]

logger = logging.getLogger(__name__)


class EpochStacker:
    """Accumulate fixed-length epochs of a multi-channel signal around triggers.

    Parameters
    ----------
    n_channels : int
    sample_rate : float
        Converts the sweeps (seconds) to samples.
    dtype : numpy dtype
        dtype of the stack (that of the signal).
    left_sweep, right_sweep : float
        Epoch limits in seconds relative to the trigger (``left < right``;
        ``left`` is usually negative).
    stack_size : int
        Number of epochs kept.
    buffer_size : int, optional
        Samples of signal history kept for late events (default: the larger
        of twice the epoch length and 5 s).
    callback : callable, optional
        ``callback(total_trig)`` is called after each epoch is stacked.
    """

    def __init__(
        self,
        n_channels: int,
        sample_rate: float,
        dtype=np.float32,
        left_sweep: float = -1.0,
        right_sweep: float = 1.0,
        stack_size: int = 1,
        buffer_size: int | None = None,
        callback: Callable[[int], None] | None = None,
    ):
        if not isinstance(n_channels, (int, np.integer)) or n_channels < 1:
            raise ValueError(f"EpochStacker: n_channels must be a positive int, got {n_channels!r}")
        if not float(sample_rate) > 0:
            raise ValueError(f"EpochStacker: sample_rate must be > 0, got {sample_rate!r}")
        self.n_channels = int(n_channels)
        self.sample_rate = float(sample_rate)
        self.dtype = np.dtype(dtype)
        self.callback = callback
        self._buffer_size_arg = buffer_size
        self.n_dropped = 0
        self._ring = None
        self._ring_end = None  # absolute index after the newest buffered sample
        self._ring_first = None  # absolute index of the oldest buffered sample
        self.configure_window(left_sweep, right_sweep, stack_size)

    # -- configuration ----------------------------------------------------------------------
    def configure_window(self, left_sweep: float, right_sweep: float, stack_size: int) -> None:
        """Set sweeps and stack size; this recreates (empties) the stack.

        Raises
        ------
        ValueError
            ``left_sweep >= right_sweep`` (after rounding to samples) or
            ``stack_size < 1``.
        """
        l1 = int(round(float(left_sweep) * self.sample_rate))
        l2 = int(round(float(right_sweep) * self.sample_rate))
        if l2 <= l1:
            raise ValueError(
                f"EpochStacker: right_sweep ({right_sweep} s) must be after left_sweep ({left_sweep} s) "
                f"by at least one sample at {self.sample_rate} Hz"
            )
        if not isinstance(stack_size, (int, np.integer)) or stack_size < 1:
            raise ValueError(f"EpochStacker: stack_size must be an int >= 1, got {stack_size!r}")
        self.left_sweep, self.right_sweep, self.stack_size = float(left_sweep), float(right_sweep), int(stack_size)
        self.limit1, self.limit2 = l1, l2
        self.size = l2 - l1
        self.t_vect = (np.arange(self.size) + l1) / self.sample_rate
        self.stack = np.zeros((self.stack_size, self.n_channels, self.size), dtype=self.dtype)
        default = max(2 * self.size, int(5 * self.sample_rate))
        needed = max(self._buffer_size_arg or default, self.size)
        if self._ring is None or self._ring.shape[0] < needed:
            old = None
            if self._ring is not None and self._ring_end is not None:
                old = self._read(self._ring_first, self._ring_end)
            self._ring = np.zeros((needed, self.n_channels), dtype=self.dtype)
            if old is not None:
                end = self._ring_end
                self._ring_end = end - old.shape[0]
                self._ring_first = self._ring_end
                self._write(old)
        self.reset_stack()

    @property
    def buffer_size(self) -> int:
        """Samples of signal history kept."""
        return self._ring.shape[0]

    def reset_stack(self) -> None:
        """Empty the stack and forget waiting triggers (total_trig = 0)."""
        self.stack[:] = 0
        self.stack_pos = 0
        self.total_trig = 0
        self._pending: list[int] = []

    def reset(self) -> None:
        """Forget the signal as well (a new stream starts)."""
        self.reset_stack()
        self._ring_end = None
        self._ring_first = None

    @property
    def pending(self) -> list[int]:
        """Trigger indexes still waiting for their right sweep."""
        return list(self._pending)

    # -- data ---------------------------------------------------------------------------------
    def _write(self, chunk: np.ndarray) -> None:
        n = chunk.shape[0]
        size = self._ring.shape[0]
        if n >= size:
            chunk = chunk[-size:]
            self._ring_end += n
            self._ring_first = self._ring_end - size
            # positions are modulo size: rotate so that index % size lines up
            shift = self._ring_end % size
            self._ring[:] = np.roll(chunk, shift, axis=0)
            return
        start = self._ring_end % size
        first = min(n, size - start)
        self._ring[start : start + first] = chunk[:first]
        if first < n:
            self._ring[: n - first] = chunk[first:]
        self._ring_end += n
        self._ring_first = max(self._ring_first, self._ring_end - size)

    def _read(self, start: int, stop: int) -> np.ndarray:
        size = self._ring.shape[0]
        idx = np.arange(start, stop) % size
        return self._ring[idx]

    def add_events(self, events) -> int:
        """Register triggers (EVENT_DTYPE records or int indexes); returns epochs stacked now."""
        n = 0
        for t in as_event_indexes(events).tolist():
            if self._ring_end is not None and t + self.limit2 <= self._ring_end:
                n += self._cut(t)
            else:
                bisect.insort(self._pending, t)
        return n

    def feed(self, end_index: int, chunk: np.ndarray) -> int:
        """Append one signal chunk and cut every epoch that is now complete.

        Parameters
        ----------
        end_index : int
            Absolute index of the sample after the chunk's last one.
        chunk : ndarray
            Signal samples, ``(n_samples, n_channels)``.

        Returns
        -------
        int
            How many epochs were stacked by this chunk.
        """
        x = np.asarray(chunk)
        if x.ndim != 2 or x.shape[1] != self.n_channels:
            raise ValueError(f"EpochStacker: chunk must have shape (n_samples, {self.n_channels}), got {x.shape}")
        start = int(end_index) - x.shape[0]
        if self._ring_end is None or start != self._ring_end:
            if self._ring_end is not None:
                logger.warning(
                    "EpochStacker: signal jumped from index %d to %d; history cleared", self._ring_end, start
                )
            self._ring_end = start
            self._ring_first = start
        self._write(x)
        n = 0
        while self._pending and self._pending[0] + self.limit2 <= self._ring_end:
            n += self._cut(self._pending.pop(0))
        return n

    def _cut(self, t: int) -> int:
        start, stop = t + self.limit1, t + self.limit2
        if start < self._ring_first:
            self.n_dropped += 1
            logger.warning(
                "EpochStacker: epoch of trigger %d needs samples from %d but the buffer starts at %d; "
                "dropped "
                "(increase buffer_size if events arrive late)",
                t,
                start,
                self._ring_first,
            )
            return 0
        self.stack[self.stack_pos] = self._read(start, stop).T
        self.stack_pos = (self.stack_pos + 1) % self.stack_size
        self.total_trig += 1
        if self.callback is not None:
            self.callback(self.total_trig)
        return 1

    def epochs(self) -> np.ndarray:
        """Return the stacked epochs in chronological order (a copy).

        Returns
        -------
        ndarray
            ``(n, n_channels, n_times)`` with ``n = min(total_trig, stack_size)``.
        """
        n = min(self.total_trig, self.stack_size)
        order = (np.arange(self.stack_pos - n, self.stack_pos)) % self.stack_size
        return self.stack[order]
