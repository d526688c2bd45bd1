"""Helpers shared by the test suite (importable as ``helpers``: tests/ is on sys.path through its conftest)."""

from __future__ import annotations

import time


def wait_until(condition, timeout: float = 20.0, interval: float = 0.01, what="condition", each=None):
    """Poll ``condition()`` until it returns a true value (returned); fail the test after ``timeout`` s.

    ``each``, if given, is called before every check (``app.processEvents`` to run a Qt event loop meanwhile).
    ``what`` names what is awaited in the failure message; a callable is called then (to say what was seen).
    """
    deadline = time.monotonic() + timeout
    while True:
        if each is not None:
            each()
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


def loopback_alias_usable(ip: str) -> bool:
    """Whether this system lets a socket bind ``ip`` (127.0.0.2 and up: loopback aliases, Linux has them)."""
    import socket

    sock = socket.socket()
    try:
        sock.bind((ip, 0))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def start_host(ip: str, env: dict | None = None, extra: tuple = ()):
    """Start ``lslacq host tcp://IP:*`` (plus ``extra`` options) in a subprocess; return ``(process, address)``."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "lslacq.cli", "host", f"tcp://{ip}:*", "--name", f"host-{ip}", *extra],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()
    assert "serving at" in line, line
    return proc, line.split("serving at ")[1].split()[0]


def stop_host(proc) -> int:
    """Stop a host server started by :func:`start_host` (SIGTERM, then kill); return its exit code."""
    import signal
    import subprocess

    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    proc.stdout.close()
    return proc.returncode


class OutputReader:
    """Collects ``(positions, data)`` from an output in a thread (tests of devices and nodes).

    ``n`` is the number of samples received; :meth:`arrays` concatenates them
    with their absolute positions; :meth:`close` stops the thread and closes
    the input.
    """

    def __init__(self, output):
        import threading

        from lslacq.core.stream import InputStream

        self.input = InputStream()
        self.input.connect(output)
        self.positions, self.data = [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="test-output-reader")
        self._thread.start()

    def _run(self):
        import numpy as np

        while not self._stop.is_set():
            if self.input.poll(50):
                index, data = self.input.recv()
                self.positions.append(np.arange(index - len(data), index))
                self.data.append(np.array(data))

    @property
    def n(self) -> int:
        return sum(len(p) for p in self.positions)

    def arrays(self):
        import numpy as np

        return np.concatenate(self.positions), np.concatenate(self.data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.input.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
