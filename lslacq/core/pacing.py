"""PacedLoop: a thread calling a function on an absolute, drift-free schedule (device loops, simulators)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .workers import Worker

__all__ = ["PacedLoop", "check_speed"]

logger = logging.getLogger(__name__)


class PacedLoop(Worker):
    """Thread calling ``step()`` every ``period`` seconds on an absolute schedule.

    Deadlines are ``t0 + k * period`` (no drift, whatever ``step`` costs); if
    the thread falls behind it catches up without sleeping. After a stall
    longer than ``max_catch_up`` seconds (a suspended machine, a debugger
    breakpoint) it does not burst the whole backlog: it skips the missed
    steps beyond one, logs a warning and tells ``on_skip`` how many steps
    were skipped, so a simulated device can advance its sample count.

    A :class:`~lslacq.core.workers.Worker`: an exception in ``step`` stops
    the loop and is stored in :attr:`error` and emitted on :attr:`failed`;
    it is logged here only when nothing is connected to :attr:`failed` (an
    owner node, :meth:`~lslacq.core.node.Node.add_worker`, logs it once).

    Parameters
    ----------
    step : callable
        Called with no argument at each deadline.
    period : float
        Seconds between deadlines (> 0), or 0: no schedule, ``step()`` is
        called back to back (a replay as fast as the graph downstream takes
        it, whose sends wait for their readers).
    name : str
        Thread name (used in log records).
    max_catch_up : float or None
        Longest backlog, in seconds, that is caught up; None: catch up any
        backlog (never skip).
    on_skip : callable, optional
        Called as ``on_skip(n_steps)`` (in the loop thread) when steps are
        skipped, before the next ``step()``.

    Attributes
    ----------
    n_skipped_steps : int
        Steps skipped since the loop started.
    error : Exception or None
        The exception that ended the loop, if any.
    failed : Signal
        Emitted with that exception.
    """

    def __init__(
        self,
        step: Callable[[], None],
        period: float,
        name: str,
        max_catch_up: float | None = None,
        on_skip: Callable[[int], None] | None = None,
        context: str = "",
    ):
        super().__init__(name, context=context)
        period = float(period)
        if not period >= 0:
            raise ValueError(f"PacedLoop {name!r}: period must be >= 0 s (0: no pacing), got {period!r}")
        if max_catch_up is not None and not float(max_catch_up) >= 0:
            raise ValueError(f"PacedLoop {name!r}: max_catch_up must be >= 0 s or None, got {max_catch_up!r}")
        self.step = step
        self.period = period
        self.max_catch_up = None if max_catch_up is None else float(max_catch_up)
        self.on_skip = on_skip
        self.n_skipped_steps = 0

    def run(self) -> None:
        """Call the step every period until stopped (late steps are caught up or skipped, counted)."""
        if self.period == 0:
            while not self.stopping:
                self.step()
            return
        self._run_paced(self.period)

    def _run_paced(self, period: float) -> None:
        max_behind = None if self.max_catch_up is None else max(1, int(self.max_catch_up / period))
        t0 = time.perf_counter()
        k = 0
        while not self.stopping:
            k += 1
            due = t0 + k * period
            delay = due - time.perf_counter()
            if delay > 0:
                if self.sleep(delay):
                    break
            elif max_behind is not None:
                behind = int(-delay / period)
                if behind > max_behind:
                    skipped = behind - 1
                    logger.warning(
                        "%s: the loop was %.1f s late; skipping %d steps (%.1f s)",
                        self.name,
                        behind * period,
                        skipped,
                        skipped * period,
                    )
                    k += skipped
                    self.n_skipped_steps += skipped
                    if self.on_skip is not None:
                        self.on_skip(skipped)
            self.step()

    def stop(self, timeout: float = 10.0) -> bool:  # type: ignore[override]
        """Ask the loop to end and wait up to ``timeout`` s for it; return True if it ended."""
        return self.stop_and_join(timeout, logger)


def check_speed(owner: str, speed) -> float | str:
    """Validate a playback speed: a number > 0 (1.0 is real time) or ``'max'`` (as fast as it is taken).

    Raises
    ------
    ValueError
        Naming ``owner``, the bad value and what is accepted.
    """
    if speed == "max":
        return "max"
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not speed > 0:
        raise ValueError(
            f"{owner}: speed must be a number > 0 (1.0 is real time) or 'max' (as fast as the graph "
            f"downstream takes it, losslessly), got {speed!r}"
        )
    return float(speed)
