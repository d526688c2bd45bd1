"""WidgetNode: a Node that is also a Qt widget (the base of every viewer)."""

from __future__ import annotations

import atexit
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.node import Node
from ..core.tools import ThreadPollInput
from ..errors import BrokenStreamError, NodeStateError
from ._qt import QtCore, QtWidgets, pg, qimage_to_array

__all__ = ["InputPoller", "WidgetNode", "delete_closed_widgets", "fitted_window_size", "release_widget"]

logger = logging.getLogger(__name__)

#: closed widgets whose deletion Qt has not done yet, by id(): held here so that Python's garbage
#: collector, which may run in any thread, cannot destroy their Qt objects outside the GUI thread
_closed_widgets: dict[int, QtWidgets.QWidget] = {}


def _forget_widget(key: int, *_destroyed_args: Any) -> None:
    _closed_widgets.pop(key, None)


def release_widget(widget: QtWidgets.QWidget) -> None:
    """Stop ``widget``'s timers and have Qt delete it in the GUI thread (``deleteLater``).

    Until Qt has deleted it (at the next turn of the event loop, or
    :func:`delete_closed_widgets`), the widget is kept alive here, so that
    Python's garbage collector, which may run in any thread, cannot destroy
    it first. Idempotent.

    Parameters
    ----------
    widget : QWidget
        A widget that will not be used again (a closed viewer).
    """
    if not pg.Qt.isQObjectAlive(widget):
        return
    for timer in widget.findChildren(QtCore.QTimer):
        timer.stop()
    key = id(widget)
    if key not in _closed_widgets:
        _closed_widgets[key] = widget
        widget.destroyed.connect(functools.partial(_forget_widget, key))
    widget.deleteLater()


def delete_closed_widgets() -> int:
    """Delete now the released widgets (:func:`release_widget`) that Qt has not deleted yet.

    A running Qt event loop does this by itself; scripts and tests that only
    call ``processEvents()`` may call this instead (``processEvents`` does not
    run deferred deletions). Only from the GUI thread; it also runs at exit.

    Returns
    -------
    int
        The number of widgets deleted.
    """
    app = QtCore.QCoreApplication.instance()
    if not _closed_widgets or app is None or QtCore.QThread.currentThread() != app.thread():
        return 0
    before = len(_closed_widgets)
    for widget in list(_closed_widgets.values()):
        QtCore.QCoreApplication.sendPostedEvents(widget, QtCore.QEvent.Type.DeferredDelete)
    return before - len(_closed_widgets)


atexit.register(delete_closed_widgets)  # in the main thread, while the QApplication still exists

#: fraction of the screen's free area (without panels) a window opened at its default size takes at most
SCREEN_FRACTION = 0.9


def fitted_window_size(
    preferred: tuple[int, int], available: tuple[int, int], fraction: float = SCREEN_FRACTION
) -> tuple[int, int]:
    """Return the size of a window that wants ``preferred`` pixels on a screen with ``available`` free pixels.

    Parameters
    ----------
    preferred : (int, int)
        The wanted (width, height).
    available : (int, int)
        The screen's available (width, height) (without task bars).
    fraction : float
        The largest share of ``available`` taken in each direction.

    Returns
    -------
    (int, int)
        ``preferred``, shrunk to ``fraction`` of the screen where it does not fit.

    Examples
    --------
    >>> fitted_window_size((1600, 1000), (1920, 1080))
    (1600, 972)
    >>> fitted_window_size((1600, 1000), (1280, 800))
    (1152, 720)
    """
    return (int(min(preferred[0], available[0] * fraction)), int(min(preferred[1], available[1] * fraction)))


def _on_a_screen() -> bool:
    """Whether windows go to a real screen (not the offscreen or another headless platform)."""
    from ..qtcheck import headless_platform

    app = QtWidgets.QApplication.instance()
    return app is not None and not headless_platform(str(app.platformName()))


class _PaintCounter(QtCore.QObject):
    """Event filter counting the paint events of the widgets it watches (``on_paint()`` per paint)."""

    def __init__(self, on_paint: Callable[[], None], parent: Any = None):
        super().__init__(parent)
        self._on_paint = on_paint

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QtCore.QEvent.Type.Paint:
            self._on_paint()
        return False  # the widget still paints


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
    on_error : callable, optional
        ``on_error(exc)`` when ``callback`` raises; the thread then ends
        (the owner reports the failure, e.g. ``Node._report_error``).
        Without it the exception ends the thread as in ThreadPollInput.
    """

    def __init__(
        self,
        input_stream,
        callback: Callable[[int, Any], None],
        name: str,
        on_error: Callable[[BaseException], None] | None = None,
    ):
        super().__init__(input_stream, timeout=100, return_data=True, name=name)
        self.callback = callback
        self.on_error = on_error
        self.samples_in = 0
        self.last_index: int | None = None
        self.last_arrival: float | None = None

    def run(self) -> None:
        """Receive chunks and hand each to ``callback`` until stopped (the thread's body)."""
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
                    try:
                        self.callback(int(index), data)
                    except Exception as exc:
                        if self.on_error is None:
                            raise
                        self.error = exc
                        self.on_error(exc)
                        return
                if self._stop_event.is_set() or not stream.poll(timeout=0):
                    break


class WidgetNode(Node, QtWidgets.QWidget):
    """Base class for Nodes that are also Qt widgets (viewers).

    The node lifecycle is the usual one (``configure``, connect inputs,
    ``initialize``, ``start``/``stop``, ``close``); in addition the node is a
    ``QWidget``: ``show()`` it, put it in a layout, ``grab()`` it.
    :meth:`close` closes both the node and the window, and closing the window
    closes the node; either way the widget's timers stop and Qt deletes the
    widget in the GUI thread (:func:`release_widget`): a closed viewer cannot
    be shown again. Lifecycle methods must be called from the GUI thread
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

    Should the viewer's process stall altogether (a frozen GUI thread
    holding up the input threads), the stream layer's per-reader flow
    control bounds the damage: each input asks its output to keep at most
    :attr:`max_buffered` seconds of data for it, then to drop this reader's
    oldest chunks (counted in ``lost_samples``), never slowing the source or
    other readers.

    Parameters
    ----------
    name : str
        Node name (also the window title until changed).
    parent : QWidget, optional
        Qt parent widget.
    """

    #: seconds of data an output keeps for a stalled viewer input before dropping its oldest chunks
    max_buffered: float | None = 10.0
    #: (width, height) of the window when first shown on a screen without a size set before
    #: (``resize``/``setGeometry``), shrunk to 90 % of the screen (:func:`fitted_window_size`); None: Qt's
    #: size. Offscreen and in layouts the widget keeps its size.
    window_size: tuple[int, int] | None = (1600, 1000)

    def __init__(self, name: str = "", parent: Any = None, **kwargs):
        QtWidgets.QWidget.__init__(self, parent)
        Node.__init__(self, name=name, parent=None, **kwargs)
        # Node stores ``self.parent``; keep QWidget.parent() usable instead
        self.__dict__.pop("parent", None)
        for inp in self.inputs.values():  # read by the output at connect()
            inp.max_buffered = self.max_buffered
        self.setWindowTitle(self.name)
        self._pollers: dict[str, InputPoller] = {}
        self._poller_callbacks: dict[str, Callable] = {}
        self._refresh_timer = QtCore.QTimer(self)
        # a coarse timer may fire up to 5 % late: 16 ms asked gave 53-55 fps instead of 60
        self._refresh_timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._refresh_timer.setInterval(100)
        self._refresh_timer.timeout.connect(self.refresh)
        self.frames = 0
        #: paint events of the widgets given to :meth:`count_paints` (frames that reached the window)
        self.paints = 0
        self._paint_counter: _PaintCounter | None = None
        self._window_sized = False  # the window got a size from the user, or its first one (show)

    # -- the window ---------------------------------------------------------------------
    def resize(self, *args) -> None:
        """As QWidget.resize; the window then keeps this size when shown (no :attr:`window_size`)."""
        self._window_sized = True
        QtWidgets.QWidget.resize(self, *args)

    def setGeometry(self, *args) -> None:
        """As QWidget.setGeometry; the window then keeps this size when shown."""
        self._window_sized = True
        QtWidgets.QWidget.setGeometry(self, *args)

    def show(self) -> None:
        """Show the widget.

        A window shown for the first time on a screen, its size never set, opens at :attr:`window_size` (at
        most 90 % of the screen) rather than a small default.
        """
        if not self._window_sized and self.window_size is not None and self.isWindow() and _on_a_screen():
            screen = self.screen() if hasattr(self, "screen") else QtWidgets.QApplication.primaryScreen()
            area = screen.availableGeometry()
            QtWidgets.QWidget.resize(self, *fitted_window_size(self.window_size, (area.width(), area.height())))
        self._window_sized = True
        QtWidgets.QWidget.show(self)

    def set_window_size(self, width: int, height: int) -> None:
        """Open the window at ``width`` x ``height`` pixels, at most 90 % of the screen (as :attr:`window_size`).

        What a graph file's ``window = { size = [W, H] }`` does. Offscreen
        (no screen to fit) the widget takes that size exactly; a window
        already shown is resized now.
        """
        width, height = int(width), int(height)
        if width < 1 or height < 1:
            raise ValueError(f"{self.name}: window size {width} x {height} must be at least 1 x 1 pixels")
        self.window_size = (width, height)
        if not _on_a_screen():
            QtWidgets.QWidget.resize(self, width, height)
        elif self.isVisible():
            screen = self.screen() if hasattr(self, "screen") else QtWidgets.QApplication.primaryScreen()
            area = screen.availableGeometry()
            QtWidgets.QWidget.resize(self, *fitted_window_size(self.window_size, (area.width(), area.height())))
        else:
            self._window_sized = False  # show() sizes it

    @classmethod
    def param_declarations(cls) -> dict[tuple[str, ...], Any]:
        """Return the :class:`~lslacq.core.params.Param` of each ``params`` key of this viewer type, by key path.

        From the class's defaults (``_default_params``): what a graph file's
        ``params`` table is checked against by ``lslacq check``. Limits a
        viewer sets from its input at initialize (e.g. QTimeFreq's ``xsize``
        from the sample rate) are checked when the graph applies the values.
        """
        from .params import declarations

        return declarations(getattr(cls, "_default_params", None) or (), f"{cls.__name__}.params")

    @classmethod
    def by_channel_param_declarations(cls) -> dict[tuple[str, ...], Any]:
        """Return the :class:`~lslacq.core.params.Param` of each per-channel key (``by_channel_params[channel, key]``).

        From ``_default_by_channel_params`` (empty for a viewer without per-channel parameters).
        """
        from .params import declarations

        return declarations(getattr(cls, "_default_by_channel_params", None) or (), f"{cls.__name__}.by_channel_params")

    # -- lifecycle ----------------------------------------------------------------------
    def close(self) -> bool:
        """Close the node (stopping it if needed) and the window.

        Stops the widget's timers and schedules its deletion (``deleteLater``); idempotent.

        Returns
        -------
        bool
            True (the window accepted to close, or was deleted already).
        """
        Node.close(self)
        if not pg.Qt.isQObjectAlive(self):
            return True  # closed before, and deleted since
        closed = bool(QtWidgets.QWidget.close(self))
        release_widget(self)
        return closed

    def closeEvent(self, event) -> None:
        """Close the node and release the widget too: the window was closed (by the user or :meth:`close`)."""
        if not self.closed():
            try:
                Node.close(self)
            except Exception:
                logger.exception("%s: closing the node with its window failed", self.name)
        event.accept()
        release_widget(self)

    def _start(self) -> None:
        for input_name, callback in self._poller_callbacks.items():
            context = f"handling a chunk of input {input_name!r}"
            poller = InputPoller(
                self.inputs[input_name],
                callback,
                name=f"{self.name}-{input_name}",
                on_error=lambda exc, c=context: self._report_error(exc, context=c),
            )
            # errors of the stream itself (not of the callback) end the thread through ThreadPollInput
            poller.failed.connect(lambda exc, n=input_name: self._report_error(exc, context=f"reading input {n!r}"))
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
        self._pollers = {}

    # -- helpers for subclasses -----------------------------------------------------------
    def add_poller(self, input_name: str, callback: Callable[[int, Any], None]) -> None:
        """Read input ``input_name`` in a background thread while running; ``callback(index, data)`` per chunk."""
        if input_name not in self.inputs:
            raise KeyError(f"{self.name} has no input {input_name!r}; inputs: {sorted(self.inputs)}")
        self._poller_callbacks[input_name] = callback

    def count_paints(self, widget: QtWidgets.QWidget) -> None:
        """Count ``widget``'s paint events in :attr:`paints` (a view's viewport: the frames the window shows).

        :attr:`frames` counts refreshes (data drawn into the scene); Qt paints
        at most once per turn of its event loop, so a window may show fewer.
        """
        if self._paint_counter is None:
            self._paint_counter = _PaintCounter(self._count_paint, self)
        widget.installEventFilter(self._paint_counter)

    def _count_paint(self) -> None:
        self.paints += 1

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

    # -- counters ------------------------------------------------------------------------------
    def counters(self) -> dict:
        """Return the Node counters (``samples_in``, ``lost_samples``, ``last_index``...) plus two.

        ``frames`` is the frames drawn (refreshes), ``paints`` the paint events of the widgets given to
        :meth:`count_paints`.
        """
        out = super().counters()
        out["frames"] = self.frames
        out["paints"] = self.paints
        return out

    # -- rendering helpers ---------------------------------------------------------------------
    def grab_array(self) -> np.ndarray:
        """Render the widget (offscreen works too) and return it as ``(height, width, 4)`` uint8 RGBA."""
        if not pg.Qt.isQObjectAlive(self):
            raise NodeStateError(f"cannot grab viewer {self.name!r}: it was closed and its widget deleted")
        return qimage_to_array(self.grab().toImage())
