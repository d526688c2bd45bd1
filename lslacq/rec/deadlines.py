"""WriteDeadlines: when a recorder takes what has arrived and writes it, so that it is on disk within a bound.

A recorder that sleeps ``bound`` seconds between writes keeps data in memory
for longer than ``bound``: the time a write cycle takes (taking what has
arrived, building the chunks, the system calls) and the lateness of its
wake-up (tens of milliseconds on a loaded machine) come on top, so a kill
just before a write loses ``bound`` plus that. :class:`WriteDeadlines`
schedules the cycles on fixed deadlines ``bound - margin`` apart (not
"sleep, then work", which drifts by the work's time), where ``margin`` covers
the recent cost of a cycle (its lateness plus its work) twice over: whatever
arrived right after a cycle started taking data is on disk when the next
cycle ends, at most ``bound - margin + cost <= bound`` later. The margin is
at least ``0.1 * bound`` (a recorder at the 1 s default wakes about 1.1
times a second, not more) and at most ``0.5 * bound``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["WriteDeadlines"]


class WriteDeadlines:
    """Fixed deadlines for a recorder's write cycles: what arrived is on disk at most ``bound`` s later.

    Use::

        deadlines = WriteDeadlines(1.0)
        while not stop_event.wait(deadlines.delay()):
            ...  # take everything that has arrived, write it
            deadlines.done()

    Parameters
    ----------
    bound : float
        Longest time (s) data may wait between its arrival and the end of the
        write that hands it to the operating system (a recorder's
        ``flush_interval``).
    clock : callable
        Monotonic clock in seconds (default :func:`time.monotonic`).
    min_margin, max_margin : float, optional
        Bounds of the margin kept for a cycle's cost (default ``0.1 * bound``
        and ``0.5 * bound``).

    Attributes
    ----------
    due : float
        Clock time of the next cycle.
    margin : float
        Seconds kept for a cycle's lateness and work: cycles start
        ``bound - margin`` apart.
    """

    #: how fast the remembered cost of a cycle forgets a slow one (per cycle)
    decay = 0.8

    def __init__(
        self,
        bound: float,
        clock: Callable[[], float] = time.monotonic,
        min_margin: float | None = None,
        max_margin: float | None = None,
    ):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not bound > 0:
            raise ValueError(f"WriteDeadlines: bound must be a number of seconds > 0, got {bound!r}")
        self.bound = float(bound)
        self.clock = clock
        self.min_margin = 0.1 * self.bound if min_margin is None else float(min_margin)
        self.max_margin = 0.5 * self.bound if max_margin is None else float(max_margin)
        if not 0 <= self.min_margin <= self.max_margin < self.bound:
            raise ValueError(
                f"WriteDeadlines: need 0 <= min_margin <= max_margin < bound ({self.bound:g} s), got "
                f"min_margin={self.min_margin!r}, max_margin={self.max_margin!r}"
            )
        self.margin = self.min_margin
        self._cost = 0.0
        self.due = self.clock() + self.bound - self.margin

    @property
    def period(self) -> float:
        """Seconds between the starts of two cycles (``bound - margin``)."""
        return self.bound - self.margin

    def delay(self) -> float:
        """Return the seconds to wait before the next cycle (0 when it is due)."""
        return max(0.0, self.due - self.clock())

    def done(self) -> None:
        """Note that the cycle due at :attr:`due` has ended; schedule the next one.

        Its cost (from its deadline to now: the wake-up's lateness plus the
        work) sets the margin; the next deadline is one period after this
        one, or now when the recorder is behind.
        """
        now = self.clock()
        cost = max(0.0, now - self.due)
        self._cost = max(cost, self._cost * self.decay)
        self.margin = min(self.max_margin, max(self.min_margin, 2.0 * self._cost + 0.01 * self.bound))
        self.due = max(self.due + self.period, now)
