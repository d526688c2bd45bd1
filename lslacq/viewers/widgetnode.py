"""WidgetNode: a Node that is also a Qt widget (the base of every viewer)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import numpy as np

from ..core.node import Node
from ..core.tools import ThreadPollInput
from ..errors import BrokenStreamError
from ._qt import QtCore, QtWidgets, qimage_to_array

__all__ = ["WidgetNode", "InputPoller"]

logger = logging.getLogger(__name__)


class InputPoller(ThreadPollInput):
    """ThreadPollInput that always drains its input and hands every chunk to ``callback``.

    The callback runs in the poller thread and must be quick (copy into a
    ring buffer, nothing more): drawing happens later, in the GUI thread, so
    a slow display never holds back the stream. The poller counts the samples
    it received (:attr:`samples_in`) and remembers the last index.

    Parameters
    ----------
    input_stream : InputStream
        A connected input.
    callback : callable
        ``callback(index, data)``; ``data`` is always an array (sharedmem
        chunks are read from shared memory).
    name : str
        Thread name (shown in logs).
    """

    def __init__(self, input_stream, callback: Callable[[int, Any], None], name: str):
        super().__init__(input_stream, timeout=100, return_data=True, name=name)
        self.callback = callback
        self.samples_in = 0
        self.last_index: int | None = None
        self.last_arrival: float | None = None

    def run(self) -> None:
        stream = self.input_stream
        while not self._stop_event.is_set():
            if not stream.poll(timeout=self.timeout):
                continue
            # drain everything already queued before handing control back: the
            # viewer keeps up with the source whatever the GUI thread is doing
            while True:
                try:
                    index, data = stream.recv(return_data=True)
                except BrokenStreamError:
                    pass  # logged and counted by the stream
                else:
                    n = len(data) if data is not None and np.ndim(data) else 0
                    self.samples_in += n
                    self.last_index = int(index)
                    self.last_arrival = time.monotonic()
                    self.callback(int(index), data)
                if self._stop_event.is_set() or not stream.poll(timeout=0):
                    break


class WidgetNode(Node, QtWidgets.QWidget):
    """Base class for Nodes that are also Qt widgets (viewers).

    The node lifecycle is the usual one (``configure``, connect inputs,
    ``initialize``, ``start``/``stop``, ``close``); in addition the node is a
    ``QWidget``: ``show()`` it, put it in a layout, ``grab()`` it.
    :meth:`close` closes both the node and the window, and closing the window
    closes the node. Lifecycle methods must be called from the GUI thread
    (in a Qt NodeGroup, remote calls run there).

    Data flow for subclasses: :meth:`add_poller` registers an input read by an
    :class:`InputPoller` thread while the node runs (store the chunks in a
    ring buffer there, never draw); a ``QTimer`` calls :meth:`refresh` every
    ``refresh_interval`` ms in the GUI thread, which calls the subclass's
    ``_refresh()``. A viewer slower than the stream therefore skips frames,
    not samples.

    Failures of the poller threads and of ``_refresh`` go through the Node
    contract (``error``, ``failed``, ``counters()``); the viewer keeps its
    window open and stops drawing.

    Parameters
    ----------
    name : str
        Node name (also the window title until changed).
    parent : QWidget, optional
        Qt parent widget.
    """

    def __init__(self, name: str = "", parent: Any = None, **kwargs):
        QtWidgets.QWidget.__init__(self, parent)
        Node.__init__(self, name=name, parent=None, **kwargs)
        # Node stores ``self.parent``; keep QWidget.parent() usable instead
        self.__dict__.pop("parent", None)
        self.setWindowTitle(self.name)
        self._pollers: dict[str, InputPoller] = {}
        self._poller_callbacks: dict[str, Callable] = {}
        self._refresh_timer = QtCore.QTimer(self)
        self._refresh_timer.setInterval(100)
        self._refresh_timer.timeout.connect(self.refresh)
        self.frames = 0
        self._samples_in_before = 0  # received by pollers of earlier runs
        if not hasattr(self, "error"):
            self.error = None
        if not hasattr(self, "failed"):
            from ..core.signal import Signal

            self.failed = Signal()
        self._error_lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------
    def close(self) -> bool:
        """Close the node (stopping it if needed) and the widget."""
        Node.close(self)
        return bool(QtWidgets.QWidget.close(self))

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        """The window was closed (by the user or :meth:`close`): release the node too."""
        if not self.closed():
            try:
                Node.close(self)
            except Exception:
                logger.exception("%s: closing the node with its window failed", self.name)
        event.accept()

    def _start(self) -> None:
        self.error = None
        for input_name, callback in self._poller_callbacks.items():
            poller = InputPoller(self.inputs[input_name], callback, name=f"{self.name}-{input_name}")
            poller.failed.connect(lambda exc, n=input_name: self._report_error(exc, context=f"input {n!r}"))
            self._pollers[input_name] = poller
        for poller in self._pollers.values():
            poller.start()
        self._refresh_timer.start()

    def _stop(self) -> None:
        self._refresh_timer.stop()
        for poller in self._pollers.values():
            poller.stop()
        for input_name, poller in self._pollers.items():
            if not poller.wait(10):
                logger.error("%s: input thread %r did not stop within 10 s", self.name, input_name)
            self._samples_in_before += poller.samples_in
        self._last_index_before = self._last_index()
        self._pollers = {}

    # -- helpers for subclasses -----------------------------------------------------------
    def add_poller(self, input_name: str, callback: Callable[[int, Any], None]) -> None:
        """Read input ``input_name`` in a background thread while running; ``callback(index, data)`` per chunk."""
        if input_name not in self.inputs:
            raise KeyError(f"{self.name} has no input {input_name!r}; inputs: {sorted(self.inputs)}")
        self._poller_callbacks[input_name] = callback

    def set_refresh_interval(self, interval_ms: float) -> None:
        """Draw every ``interval_ms`` milliseconds."""
        self._refresh_timer.setInterval(max(1, int(interval_ms)))

    def refresh(self) -> None:
        """Draw one frame now (the refresh timer calls this; tests may call it directly)."""
        if self.closed() or self.error is not None:
            return
        try:
            self._refresh()
        except Exception as exc:
            self._refresh_timer.stop()
            self._report_error(exc, context="refresh")
            return
        self.frames += 1

    def _refresh(self) -> None:
        """Draw the latest data (subclasses)."""

    # -- failure contract --------------------------------------------------------------------
    def _report_error(self, exc: BaseException, context: str = "") -> None:
        base = getattr(super(), "_report_error", None)
        if base is not None:  # the Node contract
            base(exc, context=context)
            return
        with self._error_lock:
            first = self.error is None
            if first:
                self.error = exc
        if first:
            logger.error("node %r failed%s: %r", self.name, f" ({context})" if context else "", exc,
                         exc_info=(type(exc), exc, exc.__traceback__))
            self.failed.emit(exc)

    def counters(self) -> dict:
        """Samples received, lost and the last index of the inputs, plus frames drawn."""
        base = getattr(super(), "counters", None)
        out = dict(base()) if base is not None else {}
        out["samples_in"] = self._samples_in_before + sum(p.samples_in for p in list(self._pollers.values()))
        out.setdefault("samples_out", 0)
        out["lost_samples"] = sum(int(getattr(inp, "lost_samples", 0)) for inp in self.inputs.values())
        out["last_index"] = self._last_index()
        out.setdefault("latency", None)
        out["frames"] = self.frames
        return out

    def _last_index(self) -> int | None:
        last = [p.last_index for p in list(self._pollers.values()) if p.last_index is not None]
        return max(last) if last else getattr(self, "_last_index_before", None)

    # -- rendering helpers ---------------------------------------------------------------------
    def grab_array(self) -> np.ndarray:
        """Render the widget (offscreen works too) and return it as ``(height, width, 4)`` uint8 RGBA."""
        return qimage_to_array(self.grab().toImage())
