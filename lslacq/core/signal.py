"""A minimal, Qt-free signal: callbacks connected to an event."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Signal"]

logger = logging.getLogger(__name__)


class Signal:
    """Callbacks called, in the emitting thread, each time :meth:`emit` runs.

    Mirrors the ``connect``/``disconnect``/``emit`` API of Qt signals so code
    written for pyacq's QThread-based classes keeps working. A callback that
    raises is logged and does not prevent the others from running.
    """

    def __init__(self):
        self._callbacks: list[Callable] = []
        self._lock = threading.Lock()

    def connect(self, callback: Callable) -> None:
        """Call ``callback(*args)`` on every :meth:`emit`."""
        with self._lock:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable | None = None) -> None:
        """Remove ``callback`` (or every callback when None)."""
        with self._lock:
            if callback is None:
                self._callbacks.clear()
            else:
                self._callbacks.remove(callback)

    def emit(self, *args) -> None:
        """Call every connected callback with ``args``, in this thread; a callback that raises is logged."""
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(*args)
            except Exception:
                logger.exception("signal callback %r failed", callback)

    def __len__(self) -> int:
        return len(self._callbacks)
