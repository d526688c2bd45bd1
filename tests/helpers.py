"""Helpers shared by the test suite (importable as ``helpers``: tests/ is on sys.path through its conftest)."""

from __future__ import annotations

import time


def wait_until(condition, timeout: float = 20.0, interval: float = 0.01, what: str = "condition"):
    """Poll ``condition()`` until it returns a true value (returned); fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
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

    proc = subprocess.Popen([sys.executable, "-m", "lslacq.cli", "host", f"tcp://{ip}:*", "--name", f"host-{ip}",
                             *extra], stdout=subprocess.PIPE, text=True, env=env)
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
