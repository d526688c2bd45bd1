"""Stopping what a module's commands started: threads and process trees.

dareplane handlers return ``(threading.Thread, threading.Event)`` pairs or
``subprocess.Popen`` objects; the server keeps them and stops them on
``STOP``. Unlike dareplane's stoppers, these never wait forever: a thread
that ignores its stop event is reported (and kept for a later STOP), a
process that ignores SIGINT gets SIGTERM, then SIGKILL, children included.
"""

from __future__ import annotations

import itertools
import logging
import signal
import subprocess
import sys
import threading
import time

import psutil

__all__ = ["stop_thread", "stop_process", "StartedTasks"]

_log = logging.getLogger(__name__)


def stop_thread(
    thread: threading.Thread,
    stop_event: threading.Event | None = None,
    timeout: float = 10.0,
    logger: logging.Logger | None = None,
) -> bool:
    """Set ``stop_event`` and join ``thread``.

    Parameters
    ----------
    thread : threading.Thread
        The thread to stop.
    stop_event : threading.Event, optional
        Set before joining.
    timeout : float
        Seconds to wait for the thread to end.
    logger : logging.Logger, optional
        Where to report a thread that does not end.

    Returns
    -------
    bool
        True if the thread has ended (or was never started).
    """
    logger = logger or _log
    if stop_event is not None:
        stop_event.set()
    if thread is threading.current_thread():
        logger.warning("thread %s asked to stop itself; not joining it", thread.name)
        return False
    if thread.ident is None:  # never started
        return True
    thread.join(timeout)
    if thread.is_alive():
        logger.error(
            "thread %s did not end within %.1f s after its stop event was set; it is still running "
            "(make its loop check the stop event)",
            thread.name,
            timeout,
        )
        return False
    return True


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            pass
    return out


def _signal_all(procs, sig) -> None:
    for p in procs:
        try:
            if sys.platform == "win32" and sig != signal.SIGTERM:
                p.terminate()
            else:
                p.send_signal(sig)
        except psutil.Error:
            pass


def stop_process(
    process: subprocess.Popen,
    timeout: float = 5.0,
    logger: logging.Logger | None = None,
) -> bool:
    """Stop a process and all its descendants.

    The parent first gets SIGINT (a Python module sees KeyboardInterrupt and
    can clean up), then every remaining process of the tree gets SIGTERM and
    finally SIGKILL, each step waiting up to ``timeout / 3`` seconds. The
    Popen is reaped so no zombie remains.

    Returns
    -------
    bool
        True if no process of the tree is left running.
    """
    logger = logger or _log
    if process.poll() is not None:
        return True
    try:
        parent = psutil.Process(process.pid)
        tree = [parent] + parent.children(recursive=True)
    except psutil.NoSuchProcess:
        process.poll()
        return True
    step = max(timeout / 3.0, 0.05)
    logger.info("stopping process %d (%d descendants)", process.pid, len(tree) - 1)
    _signal_all([parent], signal.SIGINT if sys.platform != "win32" else signal.SIGTERM)
    _gone, alive = psutil.wait_procs(_alive([parent]), timeout=step)
    remaining = _alive(tree)
    if remaining:
        _signal_all(remaining, signal.SIGTERM)
        _gone, remaining = psutil.wait_procs(remaining, timeout=step)
    if remaining:
        logger.warning("processes %s ignored SIGINT/SIGTERM; killing them", [p.pid for p in remaining])
        _signal_all(remaining, signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM)
        _gone, remaining = psutil.wait_procs(remaining, timeout=step)
    try:
        process.wait(timeout=step)
    except subprocess.TimeoutExpired:
        pass
    left = _alive(remaining)
    if left:
        logger.error("processes %s are still running after SIGKILL", [p.pid for p in left])
        return False
    return True


class StartedTasks:
    """The threads and process trees a module's commands started, kept until STOP stops them.

    Parameters
    ----------
    logger : logging.Logger
        Where stop failures are reported.

    Attributes
    ----------
    threads : dict of str to (Thread, Event)
        Running threads, by a key that names the command that started them.
    processes : dict of str to subprocess.Popen
        Running processes, keyed the same way.
    """

    def __init__(self, logger: logging.Logger | None = None):
        self.logger = logger or _log
        self.threads: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        self._lock = threading.RLock()
        self._count = itertools.count()

    def keep(self, label: str, ret) -> bool:
        """Keep what a handler returned if it is something to stop later.

        Returns False for a return value the server cannot stop (anything but
        None, a number, a ``(Thread, Event)`` pair or a ``Popen``).
        """
        if ret is None or isinstance(ret, (int, float)):
            return True
        key = f"{time.time_ns()}_{next(self._count)}_{label}"
        if (
            isinstance(ret, tuple)
            and len(ret) == 2
            and isinstance(ret[0], threading.Thread)
            and isinstance(ret[1], threading.Event)
        ):
            with self._lock:
                self._prune()
                self.threads[key] = ret
            return True
        if isinstance(ret, subprocess.Popen):
            with self._lock:
                self._prune()
                self.processes[key] = ret
            return True
        return False

    def _prune(self) -> None:
        for key, (thread, _event) in list(self.threads.items()):
            if thread.ident is not None and not thread.is_alive():
                del self.threads[key]
        for key, proc in list(self.processes.items()):
            if proc.poll() is not None:
                del self.processes[key]

    def stop_threads(self, timeout: float) -> None:
        """Set every thread's event (all first, so they stop in parallel), then join each."""
        with self._lock:
            items = list(self.threads.items())
        for _key, (_thread, event) in items:
            event.set()
        for key, (thread, event) in items:
            if stop_thread(thread, event, timeout=timeout, logger=self.logger):
                with self._lock:
                    self.threads.pop(key, None)

    def stop_processes(self, timeout: float) -> None:
        """Stop every process tree (SIGINT, then SIGTERM, then SIGKILL)."""
        with self._lock:
            items = list(self.processes.items())
        for key, proc in items:
            if stop_process(proc, timeout=timeout, logger=self.logger):
                with self._lock:
                    self.processes.pop(key, None)
