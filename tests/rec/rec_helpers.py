"""Helpers shared by the recording tests."""

from __future__ import annotations

import threading

import numpy as np
from helpers import wait_until  # noqa: F401 (the recording tests import it from here)

from lslacq.rec import _rawfile as rawfile_module


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


class StalledFile(rawfile_module._DataFile):
    """The real descriptor, whose writev waits (a stalled disk) until ``release`` is set.

    ``calls`` records the number of buffers of each writev, ``closed_by`` the
    thread that closed the file. Set ``error`` (an OSError) before releasing
    to make the released writes fail with it.
    """

    def __init__(self, path):
        super().__init__(path)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls: list[int] = []
        self.closed_by: list[str] = []
        self.error: OSError | None = None

    def writev(self, buffers):
        self.calls.append(len(buffers))
        self.entered.set()
        if not self.release.wait(30):
            raise OSError("the test never released the stalled write")
        if self.error is not None:
            raise self.error
        return super().writev(buffers)

    def close(self):
        self.closed_by.append(threading.current_thread().name)
        super().close()


def stall_disk(monkeypatch) -> list[StalledFile]:
    """Make every raw file opened from now on a StalledFile; returns them as they are opened."""
    opened: list[StalledFile] = []

    def opener(path):
        opened.append(StalledFile(path))
        return opened[-1]
    monkeypatch.setattr(rawfile_module, "_open_data_file", opener)
    return opened
