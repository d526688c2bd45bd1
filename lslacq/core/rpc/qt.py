"""QtRPCServer: an RPCServer whose requests run in the Qt event loop.

This is the only module of ``lslacq.core`` that imports Qt (PySide6, PyQt6
or PyQt5, whichever is installed; QT_API may name one), and only when it is
imported itself.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time
from typing import Any

import zmq

from .._zmqfast import recv_frames
from .server import RPCServer, RPCTimer

__all__ = ["QtRPCServer", "get_qt_application", "qt_modules"]

logger = logging.getLogger(__name__)

_BINDINGS = ("PyQt5", "PySide6", "PyQt6")


def _binding_order() -> list[str]:
    """Return the Qt bindings to try, in order (the viewers' rule, lslacq/viewers/_qt.py).

    PYQTGRAPH_QT_LIB or QT_API, else a binding this process already imported, else PyQt5 (the users'
    binding, what the qt extra installs), PySide6, PyQt6.
    """
    wanted = (os.environ.get("PYQTGRAPH_QT_LIB") or os.environ.get("QT_API") or "").lower()
    loaded = [b for b in _BINDINGS if f"{b}.QtCore" in sys.modules]
    return sorted(_BINDINGS, key=lambda b: (b.lower() != wanted, b not in loaded, _BINDINGS.index(b)))


def qt_modules():
    """Return ``(QtCore, QtWidgets)`` of the Qt binding to use (see :func:`_binding_order`)."""
    errors = []
    for binding in _binding_order():
        try:
            core = importlib.import_module(f"{binding}.QtCore")
            widgets = importlib.import_module(f"{binding}.QtWidgets")
            return core, widgets
        except ImportError as exc:
            errors.append(f"{binding}: {exc}")
    raise ImportError(
        "QtRPCServer needs a Qt binding; install the qt extra (pip install 'lslacq[qt]'). " + "; ".join(errors)
    )


def get_qt_application():
    """Return the running QApplication, creating one if needed."""
    _, widgets = qt_modules()
    app = widgets.QApplication.instance()
    if app is None:
        app = widgets.QApplication([])
    return app


class QtRPCServer(RPCServer):
    """RPCServer that lives in a Qt GUI thread.

    Requests are processed by the Qt event loop of the thread that calls
    :meth:`run_forever` (typically the main thread), so remote calls may create
    and drive QObjects and widgets. The server socket is watched with a
    ``QSocketNotifier`` (no polling thread, no timer latency); a slow safety
    timer covers ZeroMQ's edge-triggered notifications.

    Parameters
    ----------
    address : str
        Address to bind (default: free port on 127.0.0.1).
    quit_on_close : bool
        Quit the QApplication when the server closes.
    **kwds
        Passed to :class:`RPCServer` (keys, ``name``...).

    Examples
    --------
    >>> app = get_qt_application()
    >>> server = QtRPCServer()
    >>> server.run_forever()  # returns at once; requests run in app.exec()
    >>> app.exec()
    """

    def __init__(self, address: str = "tcp://127.0.0.1:*", quit_on_close: bool = True, **kwds):
        super().__init__(address, **kwds)
        self.quit_on_close = quit_on_close
        self._qtcore, self._qtwidgets = qt_modules()
        self._notifier: Any = None
        self._safety_timer: Any = None
        self._qtimers: list = []

    def run_forever(self) -> None:
        """Start processing requests in this thread's Qt event loop; returns immediately."""
        RPCServer.register_server(self)
        self._in_loop = True
        QtCore = self._qtcore
        fd = self._socket.getsockopt(zmq.FD)
        self._notifier = QtCore.QSocketNotifier(fd, QtCore.QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._on_activity)
        self._safety_timer = QtCore.QTimer()
        self._safety_timer.timeout.connect(self._on_activity)
        self._safety_timer.start(50)
        logger.info("Qt RPC server %s listening at %s", self._name, self.address)
        QtCore.QTimer.singleShot(0, self._on_activity)

    def _on_activity(self, *args) -> None:
        if self._closed:
            return
        sock = self._socket
        try:
            while not self._closing and sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                self._process_available()
        except zmq.ZMQError as exc:  # pragma: no cover - socket closed under us
            logger.debug("Qt RPC server %s: %s", self.address, exc)
        if self._closing:
            self._finish_qt_close()

    def _process_available(self) -> None:
        sock = self._socket
        while not self._closing:
            try:
                frames = recv_frames(sock, zmq.NOBLOCK)
            except zmq.Again:
                break
            self._process_one(frames)

    def start_timer(self, callback, interval: float, **kwds) -> RPCTimer:
        """Call ``callback(**kwds)`` every ``interval`` seconds from the Qt event loop."""
        timer = RPCTimer(self, callback, interval, kwds)
        qtimer = self._qtcore.QTimer()

        def fire():
            if not timer.active:
                qtimer.stop()
                return
            timer._fire(time.monotonic())

        qtimer.timeout.connect(fire)
        qtimer.start(max(1, int(interval * 1000)))
        self._qtimers.append(qtimer)
        return timer

    def close(self) -> None:
        """Close the server (and quit the QApplication if ``quit_on_close``)."""
        if self._closed:
            return
        self._closing = True
        if self._notifier is None:  # never started
            self._finish_qt_close()
        elif self._thread == threading.get_ident():
            # finish from the event loop, after the reply to a 'close' request has been sent
            self._qtcore.QTimer.singleShot(0, self._finish_qt_close)
        # from another thread: the event loop's safety timer sees _closing within 50 ms

    def _finish_qt_close(self) -> None:
        if self._closed:
            return
        if self._notifier is not None:
            self._notifier.setEnabled(False)
        if self._safety_timer is not None:
            self._safety_timer.stop()
        for qtimer in self._qtimers:
            qtimer.stop()
        self._in_loop = False
        self._finish_close()
        if self.quit_on_close:
            app = self._qtwidgets.QApplication.instance()
            if app is not None:
                app.quit()
