"""The optional C accelerator of the plaindata streams' per-chunk path, or its pure-Python stand-ins.

``lslacq/core/stream/_fastpath.c`` does what :meth:`OutputStream.send` and
:meth:`InputStream.recv` do for the common chunk (an ndarray of the stream's
dtype and frame shape under 64 kB; a well-formed data message) in one C call
each, on the libzmq that pyzmq has loaded. The install compiles it when a C
compiler is there (``hatch_build.py``); without it, or with
``LSLACQ_NO_EXT=1`` in the environment, every stream takes the Python path,
which puts the same bytes on the wire and keeps the same counts.

Attributes
----------
accelerator : module or None
    The C module, when it was built, is current and found pyzmq's libzmq.
why_not : str
    Why ``accelerator`` is None (``''`` when it is not).
ReaderCounters, RxCounters : type
    The credit counters of an output's reader and of an input: C types with
    the accelerator, plain classes without it (the same attribute names).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import zmq

__all__ = ["ReaderCounters", "RxCounters", "accelerator", "enabled", "why_not"]

logger = logging.getLogger(__name__)

#: the environment variable that turns the accelerator off (any value but '' and '0')
DISABLE_VARIABLE = "LSLACQ_NO_EXT"

_SOURCE = Path(__file__).with_name("_fastpath.c")


class _PyReaderCounters:
    """The credit counters of one reader (the pure-Python stand-in of the C type)."""

    sent_messages = sent_bytes = acked_messages = acked_bytes = 0
    window_messages = window_bytes = min_messages = min_bytes = 0
    credit = False


class _PyRxCounters:
    """What an input took from its socket, for its ACKs (the pure-Python stand-in of the C type)."""

    messages = nbytes = ack_messages = ack_bytes = 0
    ack_deadline = 0.0
    credit = False


def _load() -> tuple[ModuleType | None, str]:
    if os.environ.get(DISABLE_VARIABLE, "") not in ("", "0"):
        return None, f"turned off by {DISABLE_VARIABLE}={os.environ[DISABLE_VARIABLE]}"
    try:
        from . import _fastpath  # type: ignore[attr-defined]
    except ImportError as exc:
        return None, f"not built ({exc}); a C compiler at install time builds it"
    if _SOURCE.exists():  # a source tree (editable install): the module must be built from this source
        current = hashlib.sha256(_SOURCE.read_bytes()).hexdigest()
        if _fastpath.source() != current:
            logger.warning(
                "lslacq's C accelerator %s was built from another version of %s; using the Python path. "
                "Rebuild it with `pip install -e .` (or `python hatch_build.py`)",
                _fastpath.__file__,
                _SOURCE.name,
            )
            return None, "built from another version of _fastpath.c (rebuild: pip install -e .)"
    try:
        _path, version = _fastpath.init(np.ndarray)
    except ImportError as exc:
        return None, str(exc)
    if tuple(version) != zmq.zmq_version_info():
        return None, f"found libzmq {version}, but pyzmq runs {zmq.zmq_version_info()}"
    return _fastpath, ""


accelerator, why_not = _load()

if TYPE_CHECKING or accelerator is None:  # (the C types have the same attributes)
    ReaderCounters = _PyReaderCounters
    RxCounters = _PyRxCounters
else:
    ReaderCounters = accelerator.ReaderCounters
    RxCounters = accelerator.RxCounters

#: streams configured while this is True use the accelerator (tests turn it off to run the Python path)
enabled = accelerator is not None
