"""Shared test configuration: offscreen Qt, leak checks for threads and sockets."""

from __future__ import annotations

import logging
import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves a non-daemon-safe background thread running."""
    before = set(threading.enumerate())
    yield
    deadline = 5.0
    leaked = []
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=deadline)
        # pyzmq's zero-copy garbage collector thread lives as long as the process
        # and so do lslacq's stream admission thread (one per process, like it)
        if thread.is_alive() and type(thread).__name__ != "GarbageCollectorThread" \
                and thread.name != "lslacq-stream-admission":
            leaked.append(thread)
        deadline = 0.1
    assert not leaked, f"test left threads running: {leaked}"


@pytest.fixture(autouse=True)
def enabled_loggers():
    """Undo ``logging.config.dictConfig(disable_existing_loggers=True)`` done by
    third-party peers (dareplane-utils does it on import of its logger), so
    caplog sees every test's records whatever ran before."""
    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            logger.disabled = False
    yield
