"""Helpers shared by the recording tests."""

from __future__ import annotations

import select
import subprocess
import sys
import threading
import time

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


def lslacq_cli(*args) -> subprocess.Popen:
    """Start ``lslacq ARGS...`` in a subprocess (text stdout/stderr pipes)."""
    return subprocess.Popen(
        [sys.executable, "-m", "lslacq.cli", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_line(proc: subprocess.Popen, text: str, timeout: float = 30) -> str:
    """Read the process's stdout until a line containing ``text``; return what was read."""
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            seen += line
            if text in line:
                return seen
            if not line and proc.poll() is not None:
                break
    err = proc.stderr.read() if proc.poll() is not None else ""
    raise AssertionError(f"no {text!r} from lslacq within {timeout} s:\n{seen}\n{err}")


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    """Wait for the process to end; return its (stdout, stderr); kill it and fail after ``timeout`` s."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"lslacq did not finish:\n{out}\n{err}") from None


def stop_process(proc: subprocess.Popen) -> None:
    """Kill the process if it still runs (test clean-up)."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()
