"""Helpers shared by the LSL bridge tests."""

from __future__ import annotations

import time

import numpy as np


def wait_until(condition, timeout: float = 10.0, interval: float = 0.005, what: str = "condition"):
    """Poll ``condition()`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def ramp(n_samples: int, n_channels: int, start: int = 0, dtype="float32") -> np.ndarray:
    """Deterministic test signal: sample k, channel c holds k * 100 + c."""
    k = np.arange(start, start + n_samples)[:, None]
    return (k * 100 + np.arange(n_channels)[None, :]).astype(dtype)
