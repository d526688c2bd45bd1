"""Which pip extra provides an optional module, and the one-line message that says so.

lslacq's core installs numpy, pyzmq, msgpack and psutil; everything else comes
from an extra (``pip install 'lslacq[lsl]'``). A command or node that needs a
missing package raises :class:`ModuleNotFoundError`; :func:`missing_extra`
maps it to its extra and :func:`install_message` turns it into the line the
``lslacq`` command prints (once, instead of a traceback).
"""

from __future__ import annotations

__all__ = ["MODULE_EXTRAS", "missing_extra", "install_message"]

#: top-level import name -> the lslacq extra that installs it
MODULE_EXTRAS: dict[str, str] = {
    "pylsl": "lsl",
    "PyQt5": "qt",
    "PyQt6": "qt",
    "PySide6": "qt",
    "pyqtgraph": "qt",
    "pyaudio": "audio",
    "av": "video",
    "serial": "devices",
    "usb": "devices",
    "Crypto": "devices",
    "mne": "mne",
    "pyxdf": "xdf",
    "scipy": "dsp",
    "blosc2": "compression",
    "pyopencl": "opencl",
}


def missing_extra(exc: BaseException | None) -> tuple[str, str] | None:
    """Return ``(module, extra)`` when ``exc`` (or an exception it was raised from) is a missing optional module.

    Parameters
    ----------
    exc : BaseException or None
        Typically a :class:`ModuleNotFoundError` (``No module named 'pylsl'``), possibly
        re-raised as an ImportError with a hint (``raise ImportError(...) from exc``).

    Returns
    -------
    tuple of str or None
        The top-level module name and the extra that installs it; None for anything else
        (a module of lslacq itself, a package lslacq does not know).
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ImportError):
            name = (getattr(exc, "name", None) or "").split(".")[0]
            if name in MODULE_EXTRAS:
                return name, MODULE_EXTRAS[name]
        exc = exc.__cause__ or exc.__context__
    return None


def install_message(what: str, exc: BaseException) -> str | None:
    """``"lslacq demo needs pylsl, from the 'lsl' extra: pip install 'lslacq[lsl]'"``, or None.

    Parameters
    ----------
    what : str
        What needs the module (``"lslacq demo"``).
    exc : BaseException
        The import failure (see :func:`missing_extra`).
    """
    found = missing_extra(exc)
    if found is None:
        return None
    module, extra = found
    return f"{what} needs {module}, from the {extra!r} extra: pip install 'lslacq[{extra}]'"
