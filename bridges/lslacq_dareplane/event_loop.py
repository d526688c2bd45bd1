"""A fixed-rate event loop with dareplane's EventLoop interface.

Ticks are scheduled on an absolute grid ``t0 + k * dt_s``: the period does
not drift with the time callbacks take. A tick that starts late (slow wake-up,
a callback overrunning a little) runs at once; ticks whose whole slot passed
are skipped and counted (``missed_ticks``) instead of being run in a burst.
Between ticks the loop sleeps on its stop event (so ``stop()`` is immediate)
and spins only for a short final window. By default that window adapts to
the wake-up latency the OS actually delivers (about three deviations above
the mean overshoot, at most ``max_spin_s``), so the loop stays precise on a
loaded machine and nearly idle on a quiet one.

Example
-------
>>> from lslacq_dareplane import EventLoop
>>> loop = EventLoop(dt_s=0.01, ctx={"n": 0})
>>> def count(ctx):
...     ctx["n"] += 1
>>> loop.add_callback(count)
>>> loop.add_delayed_callback_once(lambda: loop.stop(), dt=0.1)
>>> loop.run()  # returns after ~0.1 s  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import math
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["EventLoop"]


def _adapt(cb: Callable) -> Callable[[Any], Any]:
    """Return ``f(ctx)`` calling ``cb`` with ``ctx=``, ``ctx`` positionally, or without arguments."""
    if not callable(cb):
        raise TypeError(f"event loop callback must be callable, got {cb!r}")
    try:
        params = list(inspect.signature(cb).parameters.values())
    except (TypeError, ValueError):
        return lambda ctx: cb(ctx)
    names = {p.name for p in params}
    if "ctx" in names or any(p.kind is p.VAR_KEYWORD for p in params):
        return lambda ctx: cb(ctx=ctx)
    required = [p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required_kw = [p for p in params if p.default is p.empty and p.kind is p.KEYWORD_ONLY]
    if required_kw or len(required) > 1:
        raise TypeError(
            f"event loop callback {cb!r} requires arguments {[p.name for p in required + required_kw]}; "
            "callbacks take one argument, ctx (or none) -- wrap it: lambda ctx: f(ctx['a'], ...)"
        )
    if len(required) == 1 or any(p.kind is p.VAR_POSITIONAL for p in params):
        return lambda ctx: cb(ctx)
    return lambda ctx: cb()


class EventLoop:
    """Run callbacks every ``dt_s`` seconds on a drift-free grid.

    Parameters
    ----------
    dt_s : float
        Tick period in seconds.
    stop_event : threading.Event, optional
        Setting it stops :meth:`run` (a new one by default).
    ctx : any, optional
        Passed to every callback.
    spin_s : float or "auto"
        Busy-wait this long before each tick for precise timing. ``"auto"``
        (default) adapts the window to the measured wake-up latency; 0
        disables spinning (lowest CPU, tick start within the OS timer slack).
    max_spin_s : float
        Upper bound of the adaptive spin window.
    on_error : callable, optional
        ``on_error(exc, callback)`` is called when a callback raises and the
        loop continues; by default the exception ends :meth:`run`.

    Attributes
    ----------
    n_ticks : int
        Ticks run so far.
    missed_ticks : int
        Grid ticks skipped because callbacks overran the period.
    now : float
        ``time.perf_counter()`` at the start of the current tick.
    last_run_ts : float
        Start of the previous tick.
    t0 : float
        Origin of the tick grid (``perf_counter()`` when :meth:`run` started).
    """

    def __init__(
        self,
        dt_s: float,
        stop_event: threading.Event | None = None,
        ctx: Any = None,
        *,
        spin_s: float | str = "auto",
        max_spin_s: float = 0.002,
        on_error: Callable[[BaseException, Callable], None] | None = None,
    ):
        if not isinstance(dt_s, (int, float)) or isinstance(dt_s, bool) or not dt_s > 0 or math.isinf(dt_s):
            raise ValueError(f"EventLoop dt_s must be a positive number of seconds, got {dt_s!r}")
        if spin_s != "auto" and not (isinstance(spin_s, (int, float)) and spin_s >= 0):
            raise ValueError(f"EventLoop spin_s must be 'auto' or a number of seconds >= 0, got {spin_s!r}")
        self.dt_s = float(dt_s)
        self.stop_event = stop_event if stop_event is not None else threading.Event()
        self.ctx = ctx
        self.adaptive_spin = spin_s == "auto"
        self.max_spin_s = float(max_spin_s)
        self.spin_s = 0.0002 if self.adaptive_spin else float(spin_s)
        self._overshoot_mean = 0.0
        self._overshoot_dev = 0.0
        self.on_error = on_error
        self.callbacks: list[tuple[Callable, Callable]] = []  # (original, adapted)
        self.callbacks_once: list[tuple[Callable, Callable]] = []
        self.delayed_callbacks_once: list[tuple[float, Callable, Callable]] = []  # (due, original, adapted)
        self._lock = threading.Lock()
        self.n_ticks = 0
        self.missed_ticks = 0
        self.now = time.perf_counter()
        self.last_run_ts = self.now
        self.t0 = self.now

    # ------------------------------------------------------------ callbacks
    def add_callback(self, cb: Callable) -> None:
        """Run ``cb`` at every tick."""
        entry = (cb, _adapt(cb))
        with self._lock:
            self.callbacks.append(entry)

    def add_callbacks(self, cbs) -> None:
        """Add several periodic callbacks."""
        for cb in cbs:
            self.add_callback(cb)

    def add_callback_once(self, cb: Callable) -> None:
        """Run ``cb`` once, at the next tick."""
        entry = (cb, _adapt(cb))
        with self._lock:
            self.callbacks_once.append(entry)

    def add_callbacks_once(self, cbs) -> None:
        """Add several one-time callbacks."""
        for cb in cbs:
            self.add_callback_once(cb)

    def add_delayed_callback_once(self, cb: Callable, dt: float = 0.0) -> None:
        """Run ``cb`` once, at the first tick at least ``dt`` seconds from now."""
        if not dt >= 0:
            raise ValueError(f"delay dt must be >= 0 seconds, got {dt!r}")
        entry = (time.perf_counter() + float(dt), cb, _adapt(cb))
        with self._lock:
            self.delayed_callbacks_once.append(entry)

    def remove_callback(self, cb: Callable) -> bool:
        """Remove a periodic callback; return False if it was not registered."""
        with self._lock:
            for i, (orig, _adapted) in enumerate(self.callbacks):
                if orig is cb:
                    del self.callbacks[i]
                    return True
        return False

    # ------------------------------------------------------------------ run
    def _call(self, orig: Callable, adapted: Callable) -> None:
        if self.on_error is None:
            adapted(self.ctx)
            return
        try:
            adapted(self.ctx)
        except Exception as exc:
            self.on_error(exc, orig)

    def process_callbacks(self) -> None:
        """Run the due callbacks once: one-time, then due delayed, then periodic."""
        with self._lock:
            once, self.callbacks_once = self.callbacks_once, []
            due = [d for d in self.delayed_callbacks_once if d[0] <= self.now]
            if due:
                self.delayed_callbacks_once = [d for d in self.delayed_callbacks_once if d[0] > self.now]
            periodic = list(self.callbacks)
        for orig, adapted in once:
            self._call(orig, adapted)
        for _due, orig, adapted in sorted(due, key=lambda d: d[0]):
            self._call(orig, adapted)
        for orig, adapted in periodic:
            self._call(orig, adapted)

    def _sleep_until(self, deadline: float) -> None:
        remaining = deadline - time.perf_counter()
        if remaining > self.spin_s:
            wake_at = deadline - self.spin_s
            if self.stop_event.wait(remaining - self.spin_s):
                return
            if self.adaptive_spin:
                self._adapt_spin(time.perf_counter() - wake_at)
        while time.perf_counter() < deadline:
            if self.stop_event.is_set():
                return

    def _adapt_spin(self, overshoot: float) -> None:
        """Track the sleep overshoot (EWMA of mean and deviation) and size the spin window."""
        alpha = 0.05
        err = overshoot - self._overshoot_mean
        self._overshoot_mean += alpha * err
        self._overshoot_dev += alpha * (abs(err) - self._overshoot_dev)
        window = self._overshoot_mean + 3.0 * self._overshoot_dev + 0.00005
        self.spin_s = min(max(window, 0.0001), self.max_spin_s)

    def run(self) -> None:
        """Tick every ``dt_s`` until ``stop_event`` is set; the first tick runs at once."""
        start = self.t0 = time.perf_counter()
        k = 0
        while not self.stop_event.is_set():
            self.last_run_ts = self.now
            self.now = time.perf_counter()
            self.process_callbacks()
            self.n_ticks += 1
            k += 1
            after = time.perf_counter()
            deadline = start + k * self.dt_s
            if after > deadline + self.dt_s:  # whole tick slots passed: skip them, do not burst
                skip = math.floor((after - deadline) / self.dt_s)
                self.missed_ticks += skip
                k += skip
                deadline = start + k * self.dt_s
            self._sleep_until(deadline)

    def stop(self) -> None:
        """Stop :meth:`run` (from a callback or another thread)."""
        self.stop_event.set()

    def __repr__(self) -> str:
        return (
            f"<EventLoop dt_s={self.dt_s} callbacks={len(self.callbacks)} ticks={self.n_ticks} "
            f"missed={self.missed_ticks}>"
        )
