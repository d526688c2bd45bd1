"""Helpers shared by the recording tests."""

from __future__ import annotations

import numpy as np
from helpers import wait_until  # noqa: F401 (the recording tests import it from here)


def make_output(name: str = "source", protocol: str = "inproc", **spec):
    """A configured OutputStream standing in for a device output."""
    from lslacq.core.stream import OutputStream

    out = OutputStream(name=name)
    out.configure(protocol=protocol, **spec)
    return out


def ramp(n: int, frame: tuple, dtype, start: int = 0) -> np.ndarray:
    """Deterministic samples: every value derived from the sample index and position in the frame."""
    size = int(np.prod(frame, dtype=np.int64))
    k = np.arange(start, start + n, dtype=np.int64)[:, None] * 7 + np.arange(size)[None, :]
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        values = k * 0.25 - 3.0
    elif dtype.kind == "u":
        values = k % (np.iinfo(dtype).max + 1)
    else:
        values = (k % np.iinfo(dtype).max) - np.iinfo(dtype).max // 2
    return values.astype(dtype).reshape((n,) + tuple(frame))
