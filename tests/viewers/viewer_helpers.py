"""Helpers of the viewer tests."""

from __future__ import annotations

import time


def wait_until(qapp, predicate, timeout: float = 20.0, what: str = "condition") -> None:
    """Process Qt events until ``predicate()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        qapp.processEvents()
        time.sleep(0.005)
