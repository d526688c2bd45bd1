"""A sound card without a sound card: JACK's dummy backend, a real-time paced PortAudio device.

``jackd -d dummy`` runs a JACK server whose "system" device has capture and
playback ports but no hardware; it is paced by the clock like a real card.
PortAudio (and so :class:`lslacq.devices.PyAudio`) sees it as the device
``system`` of the host API "JACK Audio Connection Kit". Connecting a
client's output ports to its input ports (:meth:`JackDummyServer.loopback`)
makes a full-duplex stream record what it plays: an end-to-end test of the
audio path on a machine without audio hardware.

Run one yourself (Debian/Ubuntu: ``apt install jackd2``)::

    python -m lslacq.devices.emulators.jack --rate 44100     # or: lslacq devices jack-dummy

then, in another shell with the same ``JACK_DEFAULT_SERVER``, ``lslacq devices list``.

Facts (PortAudio 19.6 with jackd2 1.9): only the server's sample rate is
accepted by PortAudio; int16 *blocking* reads crash PortAudio under JACK
(callback mode, which PyAudio nodes use, is fine); ``--no-realtime`` is needed
without real-time privileges; ``JACK_NO_AUDIO_RESERVATION=1`` avoids D-Bus.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

__all__ = ["JackDummyServer", "JackUnavailableError", "main"]

logger = logging.getLogger(__name__)


class JackUnavailableError(RuntimeError):
    """jackd (or its tools) is not installed, or the server did not start."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise JackUnavailableError(f"{name!r} not found on PATH; install JACK 2 (Debian/Ubuntu: apt install jackd2)")
    return path


class JackDummyServer:
    """A ``jackd -d dummy`` server process, started by PID and always stopped (context manager).

    Parameters
    ----------
    rate : int
        Sample rate of the server; PortAudio accepts only this rate.
    period : int
        Frames per JACK period.
    capture, playback : int
        Channels of the ``system`` device.
    name : str, optional
        JACK server name (default: unique per process, ``lslacq-<pid>-<n>``),
        so several servers (a test run next to a user's JACK) never collide.
        Clients choose a server with the ``JACK_DEFAULT_SERVER`` environment
        variable: :meth:`start` sets it in this process (and so in processes
        started afterwards) unless ``set_default=False``.
    set_default : bool
        Set ``JACK_DEFAULT_SERVER`` (and ``JACK_NO_START_SERVER=1``) in ``os.environ``.
    timeout : float
        Seconds to wait for the server to be ready.

    Examples
    --------
    >>> with JackDummyServer(rate=44100) as jack:   # doctest: +SKIP
    ...     node = PyAudio(); node.configure(sample_rate=44100, input_device_index=0, ...)
    """

    _count = 0
    _count_lock = threading.Lock()

    def __init__(
        self,
        rate: int = 44100,
        period: int = 1024,
        capture: int = 2,
        playback: int = 2,
        name: str | None = None,
        set_default: bool = True,
        timeout: float = 10.0,
    ):
        with JackDummyServer._count_lock:
            JackDummyServer._count += 1
            n = JackDummyServer._count
        self.rate, self.period = int(rate), int(period)
        self.capture, self.playback = int(capture), int(playback)
        self.name = name or f"lslacq-{os.getpid()}-{n}"
        self.set_default = set_default
        self.timeout = float(timeout)
        self.process: subprocess.Popen | None = None
        self._log = None
        self._previous_env: dict[str, str | None] = {}

    @property
    def env(self) -> dict[str, str]:
        """Environment variables a JACK client of this server needs."""
        return {"JACK_DEFAULT_SERVER": self.name, "JACK_NO_START_SERVER": "1", "JACK_NO_AUDIO_RESERVATION": "1"}

    @property
    def pid(self) -> int | None:
        """Process id of jackd (None before :meth:`start`)."""
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        """Tell whether jackd was started and still runs."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> JackDummyServer:
        """Start jackd and wait until clients can connect.

        Raises
        ------
        JackUnavailableError
            jackd is not installed, or it exited / did not become ready (its log is in the message).
        """
        if self.running():
            return self
        jackd, jack_wait = _tool("jackd"), _tool("jack_wait")
        env = dict(os.environ, **self.env)
        self._log = tempfile.TemporaryFile(mode="w+")
        cmd = [
            jackd,
            "-n",
            self.name,
            "--no-realtime",
            "-d",
            "dummy",
            "-r",
            str(self.rate),
            "-p",
            str(self.period),
            "-C",
            str(self.capture),
            "-P",
            str(self.playback),
        ]
        self.process = subprocess.Popen(
            cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                if self.process.poll() is not None:
                    raise JackUnavailableError(f"jackd exited with status {self.process.returncode}: {self._tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise JackUnavailableError(
                        f"jackd server {self.name!r} not ready after {self.timeout:g} s: {self._tail()}"
                    )
                result = subprocess.run(
                    [jack_wait, "-c"], env=env, capture_output=True, text=True, timeout=max(1.0, left)
                )
                if "running" in result.stdout and "not running" not in result.stdout:
                    break
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        if self.set_default:
            for key, value in self.env.items():
                self._previous_env[key] = os.environ.get(key)
                os.environ[key] = value
        logger.info("jackd dummy server %r (pid %d) running at %d Hz", self.name, self.process.pid, self.rate)
        return self

    def _tail(self, n: int = 600) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        text = self._log.read()
        return " | ".join(line for line in text[-n:].splitlines() if line.strip()) or "(no output)"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop jackd (SIGTERM, then SIGKILL after ``timeout``) and restore the environment. Idempotent."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    logger.warning(
                        "jackd %r (pid %d) ignored SIGTERM for %g s; killing it", self.name, process.pid, timeout
                    )
                    process.kill()
                    process.wait(timeout)
        for key, value in self._previous_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._previous_env.clear()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> JackDummyServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- ports ----------------------------------------------------------------
    def _run_tool(self, *args: str) -> str:
        result = subprocess.run(
            [_tool(args[0]), *args[1:]], env=dict(os.environ, **self.env), capture_output=True, text=True, timeout=10
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    def ports(self) -> list[str]:
        """Names of the server's ports (``jack_lsp``), e.g. ``'PortAudio:out_0'``."""
        return [line.strip() for line in self._run_tool("jack_lsp").splitlines() if line.strip()]

    def connect(self, source: str, destination: str) -> None:
        """Connect two ports (``jack_connect``)."""
        self._run_tool("jack_connect", source, destination)

    def loopback(self, client: str = "PortAudio") -> list[tuple[str, str]]:
        """Connect ``CLIENT:out_N`` to ``CLIENT:in_N`` for every client whose name starts with ``client``.

        A full-duplex PortAudio stream then records what it plays (added to
        the dummy capture ports' silence). Returns the connected pairs.

        Raises
        ------
        RuntimeError
            No such client has both input and output ports (is its stream open?).
        """
        ports = set(self.ports())
        pairs = []
        for port in sorted(ports):
            m = re.fullmatch(r"(.+):out_(\d+)", port)
            if m and m.group(1).startswith(client) and f"{m.group(1)}:in_{m.group(2)}" in ports:
                pairs.append((port, f"{m.group(1)}:in_{m.group(2)}"))
        if not pairs:
            raise RuntimeError(
                f"no JACK client {client!r}* with out_N and in_N ports on server {self.name!r} "
                f"(ports: {sorted(ports)}); open a full-duplex stream first"
            )
        for source, destination in pairs:
            self.connect(source, destination)
        return pairs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the rig command (``lslacq devices jack-dummy`` and ``python -m lslacq.devices.emulators.jack``)."""
    parser.add_argument("--rate", type=int, default=44100, help="sample rate (default 44100)")
    parser.add_argument("--period", type=int, default=1024, help="frames per period (default 1024)")
    parser.add_argument("--channels", type=int, default=2, help="capture and playback channels (default 2)")
    parser.add_argument("--name", default="lslacq", help="JACK server name (default lslacq)")
    parser.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")


def run(args: argparse.Namespace) -> int:
    """Run a dummy JACK server until Ctrl-C, SIGTERM or ``--duration``; return the exit code."""
    server = JackDummyServer(
        rate=args.rate,
        period=args.period,
        capture=args.channels,
        playback=args.channels,
        name=args.name,
        set_default=False,
    )
    try:
        server.start()
    except JackUnavailableError as exc:
        print(f"jack-dummy: {exc}", file=sys.stderr)  # noqa: T201 - a command line's message
        return 1
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print(  # noqa: T201 - a command line's message
            f"JACK dummy server {server.name!r} (pid {server.pid}) at {server.rate} Hz. In other shells: "
            f"export JACK_DEFAULT_SERVER={server.name} JACK_NO_START_SERVER=1; lslacq devices list. "
            "Ctrl+C to stop.",
            flush=True,
        )
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while not stop.wait(0.2):
            if not server.running():
                print(f"jack-dummy: jackd exited: {server._tail()}", file=sys.stderr)  # noqa: T201 - a command line's message
                return 1
            if deadline is not None and time.monotonic() >= deadline:
                break
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m lslacq.devices.emulators.jack`` with ``argv`` (default: ``sys.argv``); return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m lslacq.devices.emulators.jack",
        description="Run a JACK dummy-backend server: a paced sound card for PortAudio.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
