"""An OpenBCI Cyton (optionally with a Daisy) on a pseudo-terminal, for use without the board.

The emulator opens a pty and answers on it as a Cyton behind its USB dongle
does: ``v`` (soft reset, banner ending ``$$$``), ``b``/``s`` (start/stop
binary streaming), ``c``/``C`` (8/16 channels, with the firmware's replies),
``d``, ``D``, ``?``, ``V``, ``x...X`` channel settings, channel on/off keys.
While streaming it writes 33-byte packets in real time (250 Hz by default)
with known counts, so a client can check every value::

    board channel k (0-based) of packet n:  (k + 1) * 1000 + n % 1000
    Daisy channel k of packet n:          -((k + 1) * 1000 + n % 1000)

With a Daisy in 16-channel mode, odd packet numbers carry the board's
channels and even ones the Daisy's, as the real board does. The
accelerometer (footer 0xC0) is sent every ``accel_every`` packets (25 Hz at
250 Hz) with counts ``(n // 10 % 1000 + 1, -(n // 10 % 1000) - 1, 8000)``, zeros
in between. Footers can cycle through any of 0xC0-0xC6 (time-stamped
footers carry the board time ``n * 1000 // sample_rate`` ms and one accel
byte per packet; raw-aux footers carry ``n % 256`` in every aux byte).

Faults for tests: garbage bytes, torn (truncated) packets and dropped
packets every N packets, :meth:`CytonEmulator.inject` for raw bytes, and
:meth:`CytonEmulator.unplug` / :meth:`CytonEmulator.replug` (the port
disappears, then comes back at the same ``link`` path).

From the command line: ``lslacq emulate openbci [--daisy]`` prints the port to open.
"""

from __future__ import annotations

import logging
import os
import random
import selectors
import threading
import time
import tty
from collections.abc import Callable, Sequence

import numpy as np

from ...core.tcp import SelectLoop
from ...core.workers import Worker
from .protocol import encode_packet

__all__ = ["CytonEmulator", "default_signal", "expected_accel"]

logger = logging.getLogger(__name__)

BANNER = b"OpenBCI V3 8-16 channel\nADS1299 Device ID: 0x3E\nLIS3DH Device ID: 0x33\nFirmware: v3.1.2\n$$$"
_CHANNEL_KEYS = set(b"12345678!@#$%^&*qwertyuiQWERTYUI")


def default_signal(n: int, daisy: bool) -> np.ndarray:
    """Return the emulator's known counts for packet ``n`` (board or Daisy channels)."""
    values = (np.arange(1, 9) * 1000 + n % 1000).astype(np.int64)
    return -values if daisy else values


def expected_accel(n: int) -> np.ndarray:
    """Return the accelerometer counts (X, Y, Z) the emulator sends around packet ``n``."""
    step = n // 10 % 1000
    return np.array([step + 1, -step - 1, 8000], dtype=np.int64)


class CytonEmulator:
    """A Cyton board (and optional Daisy) served on a pseudo-terminal.

    Parameters
    ----------
    daisy : bool
        A Daisy module is attached: after ``v`` the board streams 16 channels
        (``c`` switches to 8, ``C`` back to 16).
    sample_rate : float
        Packets per second (250 on the board's default setting).
    signal : callable, optional
        ``signal(n, daisy) -> 8 counts`` for packet ``n``; :func:`default_signal` by default.
    footers : sequence of int
        Footers to cycle through, packet by packet (default ``(0xC0,)``).
    accel_every : int
        Packets between accelerometer values (10: 25 Hz at 250 Hz).
    garbage_every, torn_every, drop_every : int
        Every N packets (0 = never): write ``garbage_size`` random bytes
        after the packet; truncate the packet; skip the packet (the counter
        still advances, as when the radio loses one).
    garbage_size : int
        Bytes of garbage per injection.
    link : str, optional
        Also serve the port at this path (a symlink that :meth:`replug` re-creates).
    seed : int
        Seed of the random faults.
    buffer_size : int
        Bytes held for a host that does not read (the dongle's and the OS's
        buffers); what does not fit is lost (``overflow_bytes``).

    Attributes
    ----------
    port : str
        The path to open with pyserial (``link`` if given, else the pty's ``/dev/pts/N``).
    commands : list of bytes
        Every command received, in order.
    packets_sent, dropped, torn, garbage_bytes, overflow_bytes : int
        Counters (``overflow_bytes``: written while nobody read the port, dropped like a full FTDI buffer).
    """

    def __init__(
        self,
        daisy: bool = False,
        sample_rate: float = 250.0,
        signal: Callable[[int, bool], Sequence[int]] | None = None,
        footers: Sequence[int] = (0xC0,),
        accel_every: int = 10,
        garbage_every: int = 0,
        torn_every: int = 0,
        drop_every: int = 0,
        garbage_size: int = 7,
        link: str | None = None,
        seed: int = 0,
        buffer_size: int = 1 << 20,
    ):
        if not float(sample_rate) > 0:
            raise ValueError(f"CytonEmulator: sample_rate={sample_rate!r}; give a positive rate in Hz")
        footers = tuple(int(f) for f in footers)
        if not footers or any(f < 0xC0 or f > 0xCF for f in footers):
            raise ValueError(f"CytonEmulator: footers {[hex(f) for f in footers]} must be 0xC0..0xCF")
        self.has_daisy = bool(daisy)
        self.sample_rate = float(sample_rate)
        self.signal = signal or default_signal
        self.footers = footers
        self.accel_every = max(1, int(accel_every))
        self.garbage_every, self.torn_every, self.drop_every = int(garbage_every), int(torn_every), int(drop_every)
        self.garbage_size = int(garbage_size)
        self.link = link
        self._rng = random.Random(seed)
        self.commands: list[bytes] = []
        self.packets_sent = self.dropped = self.torn = self.garbage_bytes = self.overflow_bytes = 0
        self.streaming = False
        self.daisy_on = self.has_daisy
        self._lock = threading.Lock()
        self._loop: SelectLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._worker = Worker("openbci-emulator", self._run, context="emulating the board", interrupt=self._wake)
        self._master = self._slave = -1
        self._plugs = 0  # pty generation: a replugged pty may reuse the old one's fd number
        self._pty_path = ""
        self._pending_cmd = b""
        self._out = bytearray()  # bytes the host has not read yet
        self.buffer_size = int(buffer_size)
        self._n = 0
        self._t0 = 0.0

    # -- lifecycle ------------------------------------------------------------
    @property
    def port(self) -> str:
        """The serial port to open: ``link`` if given, else the pty's path."""
        return self.link or self._pty_path

    @property
    def error(self) -> BaseException | None:
        """Why the emulator's thread failed, if it did (it is also logged)."""
        return self._worker.error

    @property
    def n_channels(self) -> int:
        """8, or 16 while a Daisy is attached and enabled."""
        return 16 if self.daisy_on else 8

    def start(self) -> CytonEmulator:
        """Open the pty and start answering (returns self)."""
        if self._loop is not None:
            raise RuntimeError("CytonEmulator is already started")
        self._open_pty()
        self._loop = SelectLoop()
        self._worker.start()
        return self

    def close(self) -> None:
        """Stop the emulator and close the pty (idempotent)."""
        self._worker.stop_and_join(log=logger)
        self._close_pty()
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def __enter__(self) -> CytonEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation
        os.set_blocking(master, False)
        with self._lock:
            self._master, self._slave = master, slave  # the slave stays open: closing it gives EIO on the master
            self._pty_path = os.ttyname(slave)
            self._plugs += 1
        self._wake()
        if self.link:
            tmp = f"{self.link}.{os.getpid()}.tmp"
            os.symlink(self._pty_path, tmp)
            os.replace(tmp, self.link)

    def _close_pty(self) -> None:
        with self._lock:
            fds, self._master, self._slave = (self._master, self._slave), -1, -1
            self._out.clear()
        for fd in fds:
            if fd >= 0:
                os.close(fd)
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)

    # -- faults ---------------------------------------------------------------
    def unplug(self) -> None:
        """Pull the dongle out: the port closes (readers get an I/O error) and ``link`` is removed."""
        with self._lock:
            self.streaming = False
        self._close_pty()

    def replug(self) -> None:
        """Plug the dongle in again (a new pty, at the same ``link``); the board is not streaming."""
        self._pending_cmd = b""
        self._open_pty()

    def inject(self, data: bytes) -> None:
        """Write raw bytes into the stream now (garbage, a torn packet...)."""
        self._write(bytes(data))

    # -- the board --------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        """Queue bytes for the host, like the dongle's buffer; beyond ``buffer_size`` they are lost."""
        with self._lock:
            if self._master < 0:
                return
            room = self.buffer_size - len(self._out)
            if room < len(data):
                self.overflow_bytes += len(data) - max(room, 0)
                data = data[: max(room, 0)]
            self._out += data
        if threading.current_thread() is not self._loop_thread:
            self._wake()  # the loop writes it now

    def _flush(self, fd: int) -> None:
        with self._lock:
            if not self._out or fd != self._master:
                return
            while self._out:  # as much as the pty takes now
                try:
                    written = os.write(fd, self._out[:65536])
                except BlockingIOError:
                    break
                except OSError:  # the pty is gone (unplugged)
                    written = len(self._out)
                del self._out[:written]

    def _wake(self) -> None:
        loop = self._loop
        if loop is not None:
            loop.wake()

    def _run(self, worker: Worker) -> None:
        """Run the board's thread: read commands, write due packets and what the host has not read yet."""
        loop, plug, fd = self._loop, None, -1
        self._loop_thread = threading.current_thread()
        while not worker.stopping:
            with self._lock:
                now_plug, master, busy = self._plugs, self._master, self.streaming or bool(self._out)
            if (now_plug, master) != (plug, fd):  # unplugged or replugged since the last round
                loop.unregister(fd)
                plug, fd = now_plug, -1
                try:
                    if master >= 0:
                        loop.register(master, selectors.EVENT_READ)
                        fd = master
                except OSError:  # unplugged meanwhile
                    pass
            if loop.select(0.005 if busy and fd >= 0 else None):  # else woken by writes, plugs and stop
                try:
                    data = os.read(fd, 1024)
                except OSError:  # nothing after all, or unplugged meanwhile
                    data = b""
                for byte in data:
                    self._command_byte(byte)
            if self.streaming:
                self._stream_due()
            if fd >= 0 and self._out:
                self._flush(fd)

    def _command_byte(self, byte: int) -> None:
        if self._pending_cmd:  # inside an x...X channel setting
            self._pending_cmd += bytes([byte])
            if byte == ord("X"):
                cmd, self._pending_cmd = self._pending_cmd, b""
                self.commands.append(cmd)
                if not self.streaming:
                    self._write(b"Success: Channel set for %d$$$" % self._channel_number(cmd))
            return
        if byte == ord("x"):
            self._pending_cmd = b"x"
            return
        self.commands.append(bytes([byte]))
        c = chr(byte)
        if c == "v":
            with self._lock:
                self.streaming = False
            self.daisy_on = self.has_daisy
            self._write(BANNER)
        elif c == "b":
            self._n = 0
            self._t0 = time.monotonic()
            with self._lock:
                self.streaming = True
        elif c == "s":
            with self._lock:
                self.streaming = False
        elif self.streaming:
            return  # the board does not answer text while streaming
        elif c == "c":
            if self.daisy_on:
                self.daisy_on = False
                self._write(b"daisy removed$$$")
        elif c == "C":
            if self.daisy_on:
                self._write(b"16$$$")
            elif self.has_daisy:
                self.daisy_on = True
                self._write(b"daisy attached16$$$")
            else:
                self._write(b"no daisy to attach!8$$$")
        elif c == "d":
            self._write(b"updating channel settings to default$$$")
        elif c == "D":
            self._write(b"060110$$$")
        elif c == "?":
            self._write(b"Board ADS Registers\nADS_ID, 00, 3E, 0, 0, 1, 1, 1, 1, 1, 0\n$$$")
        elif c == "V":
            self._write(b"v3.1.2$$$")

    @staticmethod
    def _channel_number(cmd: bytes) -> int:
        key = chr(cmd[1]) if len(cmd) > 1 else "1"
        if key.isdigit():
            return int(key)
        upper = "QWERTYUI"
        return 9 + upper.index(key) if key in upper else 0

    def _stream_due(self) -> None:
        due = int((time.monotonic() - self._t0) * self.sample_rate) + 1
        if due <= self._n:
            return
        if (
            self.signal is default_signal
            and self.footers == (0xC0,)
            and not (self.drop_every or self.torn_every or self.garbage_every)
        ):
            out = self._batch(self._n, due)  # the common case, vectorised (16 kHz needs it)
        else:
            out = b"".join(self._packet_bytes(n) for n in range(self._n, due))
        self._n = due
        self._write(out)

    def _batch(self, first: int, stop: int) -> bytes:
        ns = np.arange(first, stop)
        k = len(ns)
        counts = np.arange(1, 9)[None, :] * 1000 + (ns % 1000)[:, None]
        if self.daisy_on:
            counts[ns % 2 == 0] *= -1
        u = counts & 0xFFFFFF
        p = np.zeros((k, 33), np.uint8)
        p[:, 0] = 0xA0
        p[:, 1] = ns % 256
        p[:, 2:26:3], p[:, 3:26:3], p[:, 4:26:3] = u >> 16, (u >> 8) & 0xFF, u & 0xFF
        rows = ns % self.accel_every == 0
        if rows.any():
            step = ns[rows] // 10 % 1000
            accel = np.stack([step + 1, -step - 1, np.full_like(step, 8000)], axis=1) & 0xFFFF
            p[rows, 26:32:2], p[rows, 27:32:2] = accel >> 8, accel & 0xFF
        p[:, 32] = 0xC0
        self.packets_sent += k
        return p.tobytes()

    def _packet_bytes(self, n: int) -> bytes:
        if self.drop_every and n % self.drop_every == self.drop_every - 1:
            self.dropped += 1
            return b""
        is_daisy = self.daisy_on and n % 2 == 0
        counts = np.asarray(self.signal(n, is_daisy), dtype=np.int64)
        footer = self.footers[n % len(self.footers)]
        packet = encode_packet(n, counts, self._aux(n, footer), footer)
        self.packets_sent += 1
        if self.torn_every and n % self.torn_every == self.torn_every - 1:
            self.torn += 1
            packet = packet[: self._rng.randint(1, 32)]
        if self.garbage_every and n % self.garbage_every == self.garbage_every - 1:
            garbage = bytes(self._rng.randrange(256) for _ in range(self.garbage_size))
            self.garbage_bytes += len(garbage)
            packet += garbage
        return packet

    def _aux(self, n: int, footer: int) -> bytes:
        accel = expected_accel(n) & 0xFFFF
        if footer == 0xC0:
            if n % self.accel_every:
                return b"\x00" * 6
            return b"".join(int(v).to_bytes(2, "big") for v in accel)
        board_time = (n * 1000 // int(self.sample_rate)) & 0xFFFFFFFF
        if footer in (0xC3, 0xC4):  # one accel byte per packet: X x Y y Z z, then nothing
            phase = n % self.accel_every
            if phase < 6:
                axis, low = divmod(phase, 2)
                code = b"XYZ"[axis] + (32 if low else 0)
                value = accel[axis] & 0xFF if low else accel[axis] >> 8
                return bytes([code, value]) + board_time.to_bytes(4, "big")
            return b"\x00\x00" + board_time.to_bytes(4, "big")
        if footer in (0xC5, 0xC6):
            return bytes([n % 256, n % 256]) + board_time.to_bytes(4, "big")
        return bytes([n % 256]) * 6
