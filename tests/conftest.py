"""Shared test configuration: offscreen Qt, LSL discovery on this machine, a leak check for threads.

Sockets and processes left behind are checked by the tests of what opens them (e.g.
tests/core/test_manager.py::test_repeated_managers_leak_no_sockets_or_processes).
"""

from __future__ import annotations

import logging
import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# every LSL-using test (and the processes it spawns) discovers streams on this machine only
os.environ.setdefault("LSLAPICFG", os.path.join(os.path.dirname(__file__), "bridges", "lsl", "lsl_api.cfg"))


def _lsl_session_of_this_worker(worker: str) -> None:
    """Under pytest-xdist, an LSL session of its own (liblsl's [lab] SessionID) for each worker of each run.

    A test that resolves a stream by name or type (the docs' ``lslacq view lslacq-EEG``, ``--type Markers``)
    then never finds another worker's outlet; the worker's subprocesses inherit the configuration.
    """
    import atexit
    import tempfile

    session = f"lslacq-tests-{os.environ.get('PYTEST_XDIST_TESTRUNUID', '')[:12]}-{worker}"
    with open(os.environ["LSLAPICFG"], encoding="utf-8") as base:
        text = base.read()
    line = f"SessionID = {session}\n"
    text = text.replace("[lab]\n", "[lab]\n" + line, 1) if "[lab]\n" in text else f"{text}\n[lab]\n{line}"
    path = os.path.join(tempfile.gettempdir(), f"{session}.lsl_api.cfg")
    with open(path, "w", encoding="utf-8") as cfg:
        cfg.write(text)
    os.environ["LSLAPICFG"] = path
    atexit.register(lambda: os.path.exists(path) and os.remove(path))


if os.environ.get("PYTEST_XDIST_WORKER"):
    _lsl_session_of_this_worker(os.environ["PYTEST_XDIST_WORKER"])
# PortAudio's JACK probe must never start a jackd of its own: the tests that need JACK run a dummy server
# (tests/devices/jack_rig.py); an autostart attempt after those servers have gone crashed in libjack (a
# segfault of the docs-blocks runner in CI, dmesg: libjack.so)
os.environ.setdefault("JACK_NO_START_SERVER", "1")

import pytest  # noqa: E402

# Threads that live as long as the process, by design: pyzmq's zero-copy
# garbage collector and lslacq's stream admission thread.
_PROCESS_THREADS = ("GarbageCollectorThread", "lslacq-stream-admission")


def _is_process_thread(thread: threading.Thread) -> bool:
    return type(thread).__name__ in _PROCESS_THREADS or thread.name in _PROCESS_THREADS


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves a background thread running."""
    before = set(threading.enumerate())
    yield
    deadline = 5.0
    leaked = []
    for thread in set(threading.enumerate()) - before:
        if _is_process_thread(thread):
            continue
        thread.join(timeout=deadline)
        if thread.is_alive():
            leaked.append(thread)
        deadline = 0.1
    assert not leaked, f"test left threads running: {leaked}"


@pytest.fixture(autouse=True)
def enabled_loggers():
    """Undo ``logging.config.dictConfig(disable_existing_loggers=True)`` done by third-party peers.

    dareplane-utils does it on import of its logger; undone, caplog sees every test's records whatever ran before.
    """
    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            logger.disabled = False
