"""Worker: the one background-thread primitive (stop event, join with timeout, first failure, counters).

Every thread that feeds or drains a node is a :class:`Worker`: the input
pollers (:class:`~lslacq.core.tools.ThreadPollInput`), paced device loops
(:class:`~lslacq.core.pacing.PacedLoop`) and device read loops
(:class:`~lslacq.devices.reader.DeviceReader`). A node that owns its workers
(:meth:`lslacq.core.node.Node.add_worker`) gets them started, stopped, joined
and their failures routed to its failure contract without writing any of it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .signal import Signal

__all__ = ["Worker", "join_thread"]

logger = logging.getLogger(__name__)


def join_thread(thread: threading.Thread | None, timeout: float, what: str, log: logging.Logger | None = None) -> bool:
    """Wait up to ``timeout`` s for ``thread`` to end; log an error naming ``what`` if it does not.

    Returns True if the thread ended (or was None, or is the calling thread).
    """
    if thread is None or thread is threading.current_thread():
        return True
    thread.join(timeout)
    if thread.is_alive():
        (log or logger).error("%s did not stop within %g s", what, timeout)
        return False
    return True


class Worker:
    """A restartable background thread that stops on request and reports its first failure.

    Subclass it and write :meth:`run` (loop until :attr:`stopping`), or pass
    ``target(worker)``. An exception that ends :meth:`run` is stored in
    :attr:`error` and emitted on :attr:`failed`; it is logged here only when
    nothing listens to :attr:`failed` (an owner node connects its
    ``_report_error``, which logs it once, naming the node).

    Parameters
    ----------
    name : str
        Thread name (in log records and error messages).
    target : callable, optional
        ``target(worker)``: the loop, when :meth:`run` is not overridden.
    context : str
        What the worker does, for error messages (``"reading the serial port"``).
    interrupt : callable, optional
        ``interrupt()``: unblock the loop when a stop is requested (e.g.
        :meth:`lslacq.core.tcp.SelectLoop.wake`), when :meth:`interrupt` is not overridden.

    Attributes
    ----------
    error : BaseException or None
        The exception that ended the current run, if any.
    failed : Signal
        Emitted (in the worker's thread) with that exception.
    """

    #: seconds :meth:`stop_and_join` waits by default
    join_timeout: float = 10.0

    def __init__(
        self,
        name: str,
        target: Callable[[Worker], None] | None = None,
        context: str = "",
        interrupt: Callable[[], None] | None = None,
    ):
        self.name = name
        self.context = context
        self._target = target
        self._interrupt = interrupt
        self.error: BaseException | None = None
        self.failed = Signal()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        #: the node that owns the worker (set by Node.add_worker), None for a free-standing one
        self.owner: object | None = None

    def __repr__(self) -> str:
        state = "running" if self.is_alive() else ("failed" if self.error is not None else "stopped")
        return f"<{type(self).__name__} {self.name!r} {state}>"

    # -- the thread -------------------------------------------------------------
    def start(self) -> None:
        """Start the thread (again, after a stop and a join)."""
        if self.is_alive():
            raise RuntimeError(f"{self.name} is already running")
        self._stop_event.clear()
        self.error = None
        self._thread = threading.Thread(target=self._run_reporting, name=self.name, daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Run the loop (in the thread): return when :attr:`stopping` is set."""
        if self._target is None:
            raise NotImplementedError(f"{type(self).__name__} needs a target or a run() method")
        self._target(self)

    def _run_reporting(self) -> None:
        try:
            self.run()
        except Exception as exc:
            if not self._ended_quietly(exc):
                self.fail(exc)

    def _ended_quietly(self, exc: BaseException) -> bool:
        """Return True if ``exc`` is a normal end of the loop rather than a failure (subclasses)."""
        return False

    def fail(self, exc: BaseException) -> None:
        """Record ``exc`` as the failure of this run (first one wins) and emit :attr:`failed`."""
        if self.error is not None:
            logger.debug("%s: further failure: %r", self.name, exc)
            return
        self.error = exc
        if len(self.failed) == 0:  # else the listener (the owner node's _report_error) logs it, once
            logger.error(
                "%s failed%s: %s",
                self.name,
                f" while {self.context}" if self.context else "",
                exc,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
        self.failed.emit(exc)

    # -- stopping -------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called (the loop should return)."""
        return self._stop_event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking at once on :meth:`stop`; return True if stopping."""
        return self._stop_event.wait(seconds)

    def request_stop(self) -> None:
        """Ask the loop to end; returns at once (see :meth:`wait`). Calls :meth:`interrupt`."""
        self._stop_event.set()
        self.interrupt()

    def stop(self) -> None:
        """Ask the loop to end; returns at once (pyacq's ThreadPollInput.stop; see :meth:`wait`)."""
        self.request_stop()

    def interrupt(self) -> None:
        """Unblock a loop waiting in a blocking call (subclasses: close a port...). Default: the ``interrupt`` given."""
        if self._interrupt is not None:
            self._interrupt()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; return True if it did (or never ran)."""
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)
        return not self.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (threading.Thread's spelling of :meth:`wait`)."""
        self.wait(timeout)

    def stop_and_join(self, timeout: float | None = None, log: logging.Logger | None = None) -> bool:
        """:meth:`request_stop`, then wait up to ``timeout`` s (default :attr:`join_timeout`); log if it hangs."""
        self.request_stop()
        return join_thread(self._thread, self.join_timeout if timeout is None else timeout, self.name, log)

    def is_alive(self) -> bool:
        """Return True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def counters(self) -> dict:
        """Plain-value counters of the worker (subclasses add theirs)."""
        return {"alive": self.is_alive(), "failed": self.error is not None}
