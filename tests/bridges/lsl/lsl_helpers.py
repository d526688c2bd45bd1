"""Helpers shared by the LSL bridge tests."""

from __future__ import annotations

import numpy as np
from helpers import wait_until  # noqa: F401 - the suite's one polling helper, re-exported for these tests


def ramp(n_samples: int, n_channels: int, start: int = 0, dtype="float32") -> np.ndarray:
    """Deterministic test signal: sample k, channel c holds k * 100 + c."""
    k = np.arange(start, start + n_samples)[:, None]
    return (k * 100 + np.arange(n_channels)[None, :]).astype(dtype)


def make_source(n_channels: int = 4, sample_rate: float | None = 100.0, dtype="float32", **extra):
    """A configured in-process OutputStream standing in for a device output."""
    from lslacq.core.stream import OutputStream

    out = OutputStream(name="source")
    spec = dict(protocol="inproc", dtype=dtype, shape=(-1, n_channels), **extra)
    if sample_rate:
        spec["sample_rate"] = sample_rate
    out.configure(**spec)
    return out


def make_event_source(sample_rate: float | None = None):
    from lslacq.core.stream import OutputStream
    from lslacq.dsp.events import EVENT_DTYPE

    out = OutputStream(name="events")
    spec = dict(protocol="inproc", streamtype="event", dtype=EVENT_DTYPE.descr, shape=(-1,))
    if sample_rate:
        spec["sample_rate"] = sample_rate
    out.configure(**spec)
    return out


def reader(output):
    """An InputStream connected to ``output``."""
    from lslacq.core.stream import InputStream

    inp = InputStream()
    inp.connect(output)
    return inp


def recv_until(inp, n_samples: int, timeout_ms: int = 10_000):
    """Receive chunks from ``inp`` until ``n_samples`` samples arrived; return (last index, concatenated data)."""
    chunks, total, index = [], 0, 0
    while total < n_samples:
        index, data = inp.recv(timeout=timeout_ms)
        chunks.append(data)
        total += len(data)
    return index, np.concatenate(chunks)


def pull_exactly(inlet, n_samples: int, timeout: float = 10.0):
    """Pull ``n_samples`` samples from a pylsl inlet (as numpy), failing after ``timeout`` s."""
    data, ts = [], []

    def pulled():
        d, t = inlet.pull_chunk(timeout=0.2, max_samples=n_samples - sum(map(len, ts)))
        if len(t):
            data.append(np.asarray(d))
            ts.append(np.asarray(t))
        return sum(map(len, ts)) >= n_samples

    wait_until(pulled, timeout, 0, what=lambda: f"{n_samples} samples (received {sum(map(len, ts))})")
    return np.concatenate(data), np.concatenate(ts)
