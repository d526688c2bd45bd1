"""ProcessSpawner: start a Python process that runs an RPCServer."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import zmq

from . import log, security
from .client import RPCClient

__all__ = ["ProcessSpawner"]

logger = logging.getLogger(__name__)


class ProcessSpawner:
    """Spawn a new Python process running an :class:`RPCServer` and connect to it.

    The child is a fresh interpreter (``python -m lslacq.core.rpc.bootstrap``,
    the equivalent of multiprocessing's *spawn* start method: nothing is
    inherited from the parent's memory and the parent's ``__main__`` is not
    re-imported). It exits on its own when the parent process dies.

    Parameters
    ----------
    name : str, optional
        Process name shown in the child's log records.
    address : str
        Address the child's RPCServer binds (default: free port on 127.0.0.1).
    qt : bool
        Start a QApplication and a :class:`QtRPCServer` in the child.
    log_addr : str, optional
        LogServer address to which the child forwards its log records,
        uncaught exceptions and stdout/stderr. Defaults to this process's log
        server (:func:`~lslacq.core.rpc.log.get_logger_address`) if any.
    log_level : int, optional
        Level of the child's root logger.
    executable : str, optional
        Python interpreter to run (default ``sys.executable``).
    start_timeout : float
        Seconds to wait for the child's server to start.
    log_key : str, optional
        CurveZMQ public key of the log server (when it is not on loopback).

    Attributes
    ----------
    client : RPCClient
        Client connected to the child's server.
    proc : subprocess.Popen
        The child process.

    Examples
    --------
    >>> proc = ProcessSpawner()
    >>> ros = proc.client._import("os")
    >>> ros.getpid() != os.getpid()
    True
    >>> proc.stop()
    """

    def __init__(
        self,
        name: str | None = None,
        address: str = "tcp://127.0.0.1:*",
        qt: bool = False,
        log_addr: str | None = None,
        log_level: int | None = None,
        executable: str | None = None,
        start_timeout: float = 30.0,
        log_key: str | None = None,
    ):
        self.name = name
        self.qt = qt
        self.client: RPCClient = None  # type: ignore[assignment]  # set when the child reports its address
        self._stopped = False
        if log_addr is None:
            log_addr = log.get_logger_address()
            log_key = log.get_logger_key()
        if log_level is None and log_addr is not None:
            log_level = logging.getLogger().getEffectiveLevel()
        keys = security.get_default_keys()
        ctx: zmq.Context = zmq.Context.instance()
        boot = ctx.socket(zmq.PULL)
        boot.setsockopt(zmq.LINGER, 0)
        boot.bind("tcp://127.0.0.1:*")
        conf = {
            "name": name,
            "address": address,
            "qt": qt,
            "log_addr": log_addr,
            "log_key": log_key,
            "log_level": log_level,
            "bootstrap_addr": boot.getsockopt(zmq.LAST_ENDPOINT).decode(),
            "parent_pid": os.getpid(),
            "sys_path": [p for p in sys.path if p],
            "secret_key": _path_or_none(keys["secret_key"]),
            "authorized_keys": _path_or_none(keys["authorized_keys"]),
        }
        cmd = [executable or sys.executable, "-m", "lslacq.core.rpc.bootstrap"]
        try:
            # its own session: Ctrl-C in the terminal reaches only the parent, which closes the child (even
            # during the child's first imports, before bootstrap.main() can ignore SIGINT)
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, close_fds=True, start_new_session=True)
            stdin = self.proc.stdin
            if stdin is None:  # pragma: no cover  (stdin=PIPE above)
                raise RuntimeError("the child's stdin is not a pipe")
            stdin.write((json.dumps(conf) + "\n").encode())
            stdin.flush()
            msg = self._wait_for_child(boot, start_timeout)
        finally:
            boot.close(linger=0)
        self.pid: int = msg["pid"]
        self.address: str = msg["address"]
        self.client = RPCClient(self.address, server_key=msg.get("public_key"))
        self.client._liveness = self._liveness_problem
        logger.debug("spawned process %s (pid %d) serving at %s", name, self.pid, self.address)

    def _wait_for_child(self, boot: zmq.Socket, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if boot.poll(100):
                msg = boot.recv_json()
                if not isinstance(msg, dict):
                    raise RuntimeError(f"process {self.name or ''} sent a malformed start-up report: {msg!r}")
                if "error" in msg:
                    self._reap(2.0)
                    if msg.get("reason"):  # the child said why in a sentence (e.g. no display for Qt)
                        raise RuntimeError(msg["error"])
                    raise RuntimeError(f"process {self.name or ''} failed to start:\n{msg['error']}")
                return msg
            code = self.proc.poll()
            if code is not None:
                self._reap(0)
                raise RuntimeError(
                    f"process {self.name or ''} exited with code {code} before its RPC server "
                    "started (see its stderr above)"
                )
        self.kill()
        raise TimeoutError(f"process {self.name or ''} did not start its RPC server within {timeout} s")

    def _liveness_problem(self) -> str | None:
        code = self.proc.poll()
        if code is None:
            return None
        return f"process {self.name or self.pid} (pid {self.proc.pid}) exited with code {code}"

    def __repr__(self) -> str:
        state = "running" if self.poll() is None else f"exited {self.poll()}"
        return f"<ProcessSpawner {self.name or ''} pid={self.proc.pid} {state}>"

    # -- pyacq manual spelling: proc._import(...)
    def _import(self, module: str, **kwds):
        """Import ``module`` in the child and return a proxy to it."""
        return self.client._import(module, **kwds)

    def set_proxy_options(self, **kwds) -> None:
        """Default options of the proxies received from the child (see RPCClient.set_proxy_options)."""
        self.client.set_proxy_options(**kwds)

    def poll(self) -> int | None:
        """Return the child's exit code, or None while it runs."""
        return self.proc.poll()

    def wait(self, timeout: float | None = 10) -> int:
        """Wait for the child to exit and return its exit code (TimeoutError after ``timeout`` s)."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"process {self.name or ''} (pid {self.proc.pid}) still running after {timeout} s"
            ) from None
        self._reap(0)
        return code

    def stop(self, timeout: float = 10.0) -> int:
        """Ask the child's server to close, wait for the exit and return the exit code.

        Kills the child if it does not exit within ``timeout`` seconds.
        """
        if self.proc.poll() is None and self.client is not None and not self.client._closed:
            try:
                self.client.close_server(timeout=min(timeout, 5.0))
            except Exception as exc:
                logger.debug("process %s: close request failed (%s)", self.name, exc)
        try:
            return self.wait(timeout)
        except TimeoutError:
            logger.warning(
                "process %s (pid %d) did not exit within %s s after close; killing it",
                self.name,
                self.proc.pid,
                timeout,
            )
            return self.kill()

    close = stop

    def kill(self) -> int:
        """Kill the child immediately and return its exit code."""
        if self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait(10)
        self._reap(0)
        return code

    def _reap(self, timeout: float) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        if timeout:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.client is not None:
            if not self.client._closed:
                # later calls raise ServerGoneError (a TimeoutError, as pyacq's) rather than "closed"
                self.client._gone_reason = (
                    f"RPC server process {self.proc.pid} has exited (code {self.proc.returncode})"
                )
                self.client._disconnected = True
            self.client.close()

    def __enter__(self) -> ProcessSpawner:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _path_or_none(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [
            os.fspath(v) if isinstance(v, os.PathLike) else (v.decode() if isinstance(v, bytes) else v) for v in value
        ]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value.decode() if isinstance(value, bytes) else value
