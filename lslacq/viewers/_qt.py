"""The Qt binding of the viewers: pyqtgraph's, with PyQt5 preferred when nothing else decided.

Every viewer module imports Qt from here (``from ._qt import QtCore, QtGui,
QtWidgets, pg``) so one rule picks the binding for the whole process:

1. ``PYQTGRAPH_QT_LIB`` (pyqtgraph's own variable) or ``QT_API`` if set;
2. else a binding already imported in this process (a Qt NodeGroup's
   QtRPCServer, or the application that embeds the viewer);
3. else PyQt5 (the binding lslacq's ``qt`` extra installs), then whatever
   pyqtgraph finds (PySide6, PyQt6).

Only names that exist in every binding are used (``QtCore.Signal``).
"""

from __future__ import annotations

import importlib
import os
import sys

__all__ = ["QT_LIB", "QtCore", "QtGui", "QtWidgets", "mkQApp", "pg", "qimage_to_array"]

_BINDINGS = {"pyqt5": "PyQt5", "pyside6": "PySide6", "pyqt6": "PyQt6", "pyside2": "PySide2"}


def _choose_binding() -> None:
    if os.environ.get("PYQTGRAPH_QT_LIB"):
        return
    wanted = _BINDINGS.get(os.environ.get("QT_API", "").lower())
    if wanted:
        os.environ["PYQTGRAPH_QT_LIB"] = wanted
        return
    in_use = [name for name in _BINDINGS.values() if f"{name}.QtCore" in sys.modules]
    if in_use:  # the binding whose Qt is running here (a QtRPCServer's), even if another package was imported
        os.environ["PYQTGRAPH_QT_LIB"] = in_use[0]
        return
    if any(name in sys.modules for name in _BINDINGS.values()):
        return  # pyqtgraph takes the one already loaded
    try:
        importlib.import_module("PyQt5.QtCore")
    except ImportError:
        pass  # pyqtgraph tries PyQt6, PySide6, PySide2 and says what to install if none works


_choose_binding()

try:
    import pyqtgraph as pg
    from pyqtgraph.Qt import QT_LIB, QtCore, QtGui, QtWidgets
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(f"lslacq.viewers needs pyqtgraph and a Qt binding: pip install 'lslacq[qt]' ({exc})") from exc


def _check_binding() -> None:
    """Warn about a binding known to crash the viewers."""
    if QT_LIB != "PySide6" or sys.version_info >= (3, 12):
        return
    try:
        import PySide6
    except ImportError:  # pragma: no cover
        return
    if str(getattr(PySide6, "__version__", "")).startswith("6.12."):
        import logging

        logging.getLogger(__name__).warning(
            "PySide6 %s on Python %d.%d: its Signal.disconnect releases a reference to True at each call, "
            "which eventually aborts Python ('bool_dealloc') once pyqtgraph parameter trees are collected; "
            "use PyQt5 (pip install 'lslacq[qt]'), another PySide6 version or Python >= 3.12",
            PySide6.__version__,
            *sys.version_info[:2],
        )


_check_binding()


def mkQApp():
    """Return the QApplication, creating it if needed (pyqtgraph's ``mkQApp``)."""
    return pg.mkQApp()


def qimage_to_array(image) -> np.ndarray:  # noqa: F821 - numpy imported lazily below
    """Return a QImage as an ``(height, width, 4)`` uint8 RGBA numpy array (a copy)."""
    import numpy as np

    image = image.convertToFormat(QtGui.QImage.Format.Format_RGBA8888)
    width, height = image.width(), image.height()
    ptr = image.constBits()
    nbytes = image.bytesPerLine() * height
    if hasattr(ptr, "setsize"):  # PyQt: a sip.voidptr
        ptr.setsize(nbytes)
        raw = np.frombuffer(ptr, dtype=np.uint8, count=nbytes)
    else:  # PySide: a memoryview
        raw = np.frombuffer(ptr, dtype=np.uint8, count=nbytes)
    rows = raw.reshape(height, image.bytesPerLine())
    return rows[:, : width * 4].reshape(height, width, 4).copy()
