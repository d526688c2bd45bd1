"""Stopping what a module's commands started: threads and process trees.

dareplane handlers return ``(threading.Thread, threading.Event)`` pairs or
``subprocess.Popen`` objects; the server keeps them and stops them on
``STOP``. Unlike dareplane's stoppers, these never wait forever: a thread
that ignores its stop event is reported (and kept for a later STOP), a
process that ignores SIGINT gets SIGTERM, then SIGKILL, children included.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading

import psutil

__all__ = ["stop_thread", "stop_process"]

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

