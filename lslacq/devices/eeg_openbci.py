"""OpenBCI: the Cyton board (8 channels) and Cyton + Daisy (16 channels) over the USB dongle's serial port."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from ..errors import LslacqError
from .openbci.protocol import CytonDecoder, microvolts_per_count, parse_channel_reply
from .reader import BlockingDevice

__all__ = ["OpenBCI", "OpenBCIError"]

logger = logging.getLogger(__name__)


class OpenBCIError(LslacqError, OSError):
    """The board did not answer as a Cyton does, or its port failed."""


class OpenBCI(BlockingDevice):
    """OpenBCI Cyton (8 channels, 250 Hz) or Cyton + Daisy (16 channels, 125 Hz) over pyserial.

    Start sequence: ``s``, drain, ``v`` and read the banner up to ``$$$``
    (with a timeout, no fixed sleeps), ``C``/``c`` (16/8 channels, the reply
    says which), any extra ``commands``, ``b``. Stop: ``s``. The decoder
    (:class:`~lslacq.devices.openbci.protocol.CytonDecoder`) accepts every
    footer 0xC0-0xCF, resynchronises after garbage or a torn packet, and
    counts lost packets from the sample counter (counted in
    :meth:`counters`, logged at most once a second, and left as gaps in the
    sample indices so index-derived times stay right).

    With a Daisy, the board sends the Daisy's channels (9-16) on even sample
    numbers and its own (1-8) on the following odd ones, each an average of
    two ADC samples: the node pairs them (even n with odd n + 1) into one
    16-channel sample at 125 Hz and drops unpaired packets.

    Outputs
    -------
    signals : analogsignal, float32, (-1, 8 or 16), microvolts
        ``counts * 4.5 / gain / (2**23 - 1) * 1e6``. Also reachable as
        ``outputs['chan']`` (pyacq's name). The spec has ``channel_names``,
        ``channel_units``, ``manufacturer``, ``model`` for LSL metadata.
    aux : analogsignal, float32, (-1, 3), g (optional output)
        Accelerometer X, Y, Z, one row per ``signals`` sample, holding the
        last value (the board sends it at ~25 Hz); NaN until the first one.

    Attributes
    ----------
    n_channels : int
        8 or 16 (known after ``configure``).
    banner : str
        The board's reply to ``v``.
    reconnects : int
        Times the port was reopened (``reconnect=True``).
    """

    _output_specs = {
        "signals": dict(
            streamtype="analogsignal", dtype="float32", shape=(-1, 8), sample_rate=250.0, units="microvolts"
        ),
        "aux": dict(
            streamtype="analogsignal", dtype="float32", shape=(-1, 3), sample_rate=250.0, units="g", optional=True
        ),
    }

    _output_aliases = {"chan": "signals"}  # pyacq's name

    # pyserial raises TypeError/AttributeError when the fd vanished under a read
    lost_errors = (OSError, TypeError, AttributeError)
    read_context = "reading the serial port"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._port = None
        self._decoder: CytonDecoder | None = None
        self.banner = ""
        self._reset_counts()

    def _reset_counts(self) -> None:
        self.lost_packets = self.garbage_bytes = self.unpaired_packets = 0
        self._unreported = [0, 0, 0]  # lost packets, garbage bytes, unpaired packets not yet logged
        self._last_report = time.monotonic()

    # -- configuration --------------------------------------------------------------
    def _configure(
        self,
        device_handle: str = "/dev/ttyUSB0",
        daisy: bool | str = "auto",
        gain: float = 24,
        sample_rate: float = 250.0,
        timeout: float = 5.0,
        reconnect: bool = False,
        commands: Sequence[str | bytes] = (),
        channel_names: Sequence[str] | None = None,
        baudrate: int = 115200,
        read_interval: float = 0.02,
        **kwargs,
    ) -> None:
        """Set the port and the board's settings (asking the board for its channels with ``daisy='auto'``).

        Parameters
        ----------
        device_handle : str
            Serial port of the dongle: ``'/dev/ttyUSB0'`` (Linux), ``'/dev/tty.usbserial-DN0096XA'``
            (macOS), ``'COM3'`` (Windows), or a pty from ``lslacq emulate openbci``.
        daisy : 'auto', True or False
            16 channels with a Daisy module (``C``), 8 without (``c``), or
            ``'auto'``: ask the board now (``C``; its reply says whether a
            Daisy is there).
        gain : float
            ADS1299 gain of the channels (1, 2, 4, 6, 8, 12 or 24; the board
            starts at 24). It sets the microvolt scale: if you change the
            gain with ``x...X`` ``commands``, give the same gain here.
        sample_rate : float
            Packet rate of the board (250 over the dongle); the 16-channel rate is half of it.
        timeout : float
            Seconds to wait for each reply (the banner ends with ``$$$``).
        reconnect : bool
            When the port fails (dongle unplugged), keep running and reopen
            it every second; the time without data is a gap in the indices.
        commands : sequence of str
            Sent after the channel-count command and before ``b``, each
            followed by reading its ``$$$`` reply if it has one (e.g.
            ``['x1060110X']`` for channel settings, ``'d'`` for defaults).
        channel_names : sequence of str, optional
            Default ``'1'`` ... ``'16'`` (the board's channel numbers).
        baudrate : int
            115200 for the dongle.
        read_interval : float
            Seconds of data per read of the port (latency vs CPU).
        """
        if kwargs:
            raise TypeError(
                f"{self.name}: unexpected configure() arguments {sorted(kwargs)}; accepted: device_handle, "
                "daisy, gain, sample_rate, timeout, reconnect, commands, channel_names, baudrate, "
                "read_interval"
            )
        try:
            import serial  # noqa: F401
        except ImportError:
            raise ImportError(f"{self.name}: the OpenBCI node needs pyserial: pip install 'lslacq[devices]'") from None
        if daisy not in ("auto", True, False):
            raise ValueError(f"{self.name}: daisy={daisy!r}; use 'auto', True or False")
        self.scale = microvolts_per_count(gain)  # validates the gain
        if not float(timeout) > 0 or not float(sample_rate) > 0 or not float(read_interval) > 0:
            raise ValueError(
                f"{self.name}: timeout ({timeout}), sample_rate ({sample_rate}) and read_interval "
                f"({read_interval}) must be positive"
            )
        self.device_handle = str(device_handle)
        self.gain = gain
        self.packet_rate = float(sample_rate)
        self.timeout = float(timeout)
        self.reconnect = bool(reconnect)
        self.commands = [c.encode() if isinstance(c, str) else bytes(c) for c in commands]
        self.baudrate = int(baudrate)
        self.read_interval = float(read_interval)
        if daisy == "auto":
            port = self._open_port()
            try:
                self.n_channels = self._handshake(port, want_daisy=None)
            finally:
                port.close()
        else:
            self.n_channels = 16 if daisy else 8
        self.daisy = self.n_channels == 16
        self.sample_rate = self.packet_rate / 2 if self.daisy else self.packet_rate
        names = (
            [str(i + 1) for i in range(self.n_channels)] if channel_names is None else [str(n) for n in channel_names]
        )
        if len(names) != self.n_channels:
            raise ValueError(f"{self.name}: {len(names)} channel_names for {self.n_channels} channels")
        self.channel_names = names
        spec = self.outputs["signals"].spec
        spec["shape"] = (-1, self.n_channels)
        spec["sample_rate"] = self.sample_rate
        spec["nb_channel"] = self.n_channels
        spec["channel_names"] = names
        spec["units"] = "microvolts"
        spec["channel_units"] = ["microvolts"] * self.n_channels
        spec["channel_types"] = ["EEG"] * self.n_channels
        spec["manufacturer"] = "OpenBCI"
        spec["model"] = "Cyton + Daisy" if self.daisy else "Cyton"
        aux = self.outputs["aux"].spec
        aux["sample_rate"] = self.sample_rate
        aux["nb_channel"] = 3
        aux["channel_names"] = ["AccelX", "AccelY", "AccelZ"]
        aux["units"] = "g"
        aux["channel_units"] = ["g"] * 3
        aux["channel_types"] = ["Accel"] * 3
        aux["manufacturer"] = "OpenBCI"
        aux["model"] = spec["model"]

    # -- serial dialogue ----------------------------------------------------------------
    def _open_port(self):
        import serial

        try:
            return serial.Serial(
                self.device_handle, self.baudrate, bytesize=8, parity="N", stopbits=1, timeout=self.read_interval
            )
        except (serial.SerialException, OSError) as exc:
            raise OpenBCIError(
                f"{self.name}: cannot open the OpenBCI dongle at {self.device_handle!r}: {exc}. "
                "Check the port name (ls /dev/ttyUSB*), that the dongle is plugged in, and that you "
                "may open it (the 'dialout' group, see docs/eeg_devices.md)"
            ) from exc

    def _read_reply(self, port, what: str, quiet: float | None = None) -> bytes:
        """Read until ``$$$``; after ``quiet`` s of silence return what came (None: raise on timeout)."""
        reply = bytearray()
        deadline = time.monotonic() + self.timeout
        last_byte = time.monotonic()
        while b"$$$" not in reply:
            now = time.monotonic()
            if quiet is not None and now - last_byte >= quiet:
                break
            if now >= deadline:
                raise OpenBCIError(
                    f"{self.name}: no reply ending in '$$$' to {what} from {self.device_handle} within "
                    f"{self.timeout:g} s (got {bytes(reply[-80:])!r}). Is the board switched on (PC position) and "
                    "the dongle on GPIO6? Increase timeout= for a slow link"
                )
            data = port.read(max(1, port.in_waiting))
            if data:
                reply += data
                last_byte = time.monotonic()
        return bytes(reply)

    def _handshake(self, port, want_daisy: bool | None) -> int:
        """Stop, reset, set the channel count; return 8 or 16."""
        port.write(b"s")
        quiet_until = time.monotonic() + 0.05
        drain_deadline = time.monotonic() + self.timeout
        while time.monotonic() < min(quiet_until, drain_deadline):  # let in-flight packets arrive, then drop them
            if port.read(max(1, port.in_waiting)):
                quiet_until = time.monotonic() + 0.05
        port.reset_input_buffer()
        port.write(b"v")
        banner = self._read_reply(port, "'v' (soft reset)")
        self.banner = banner.decode("ascii", "replace").strip()
        if "OpenBCI" not in self.banner:
            logger.warning("%s: unexpected banner from %s: %r", self.name, self.device_handle, self.banner)
        if want_daisy is False:
            port.write(b"c")
            reply = self._read_reply(port, "'c'", quiet=min(0.3, self.timeout))  # no reply without a Daisy
            n = 8
        else:
            port.write(b"C")
            reply = self._read_reply(port, "'C' (16 channels)")
            n = parse_channel_reply(reply)
            if n is None:
                raise OpenBCIError(f"{self.name}: cannot tell the channel count from the reply to 'C': {reply!r}")
            if want_daisy and n != 16:
                raise OpenBCIError(
                    f"{self.name}: daisy=True but the board at {self.device_handle} has no Daisy "
                    f"(it replied {reply.decode('ascii', 'replace')!r}); configure daisy=False or 'auto'"
                )
        for command in self.commands:
            port.write(command)
            self._read_reply(port, repr(command.decode("ascii", "replace")), quiet=min(0.3, self.timeout))
        logger.info(
            "%s: %s at %s, %d channels",
            self.name,
            self.banner.splitlines()[0] if self.banner else "board",
            self.device_handle,
            n,
        )
        return n

    def _connect(self):
        """Open the port and make the board stream; return the port."""
        port = self._open_port()
        try:
            n = self._handshake(port, want_daisy=self.daisy)
            if n != self.n_channels:
                raise OpenBCIError(
                    f"{self.name}: the board now has {n} channels, the node was configured for "
                    f"{self.n_channels}; configure a new node"
                )
            port.write(b"b")
        except BaseException:
            port.close()
            raise
        return port

    # -- lifecycle (BlockingDevice hooks) ------------------------------------------------
    def _start(self) -> None:
        self._reset_counts()
        super()._start()

    def _open(self, reopening: bool = False) -> None:
        self._port = self._connect()
        if reopening:
            self._decoder.reset()
        else:
            self._decoder = CytonDecoder(daisy=self.daisy, gain=self.gain)

    def _close_device(self) -> None:
        port, self._port = self._port, None
        if port is None:
            return
        try:
            port.write(b"s")
        except Exception as exc:  # unplugged: nothing to stop
            logger.debug("%s: cannot send 's': %s", self.name, exc)
        port.close()

    def lost_error(self, exc: BaseException) -> OpenBCIError:
        """Return the OpenBCIError a lost port fails the node with (it names the port)."""
        return OpenBCIError(f"{self.name}: lost the OpenBCI board at {self.device_handle}: {exc}")

    def read(self) -> bytes | None:
        """Return the bytes that arrived within ``read_interval``, or None."""
        return self._port.read(65536) or None

    def handle(self, data: bytes) -> None:
        """Decode the bytes, send the complete packets' runs, count (and warn at most once a second) losses."""
        chunk = self._decoder.feed(data)
        self.lost_packets += chunk.lost_packets
        self.garbage_bytes += chunk.garbage_bytes
        self.unpaired_packets += chunk.unpaired_packets
        u = self._unreported
        u[0] += chunk.lost_packets
        u[1] += chunk.garbage_bytes
        u[2] += chunk.unpaired_packets
        signals, aux = self.outputs["signals"], self.outputs["aux"]
        for a, b, index in self.samples.runs(chunk.positions):
            signals.send(chunk.microvolts[a:b], index=index)
            if aux.configured:
                aux.send(chunk.accel[a:b], index=index)
        now = time.monotonic()
        if any(u) and now - self._last_report >= 1.0:
            logger.warning(
                "%s: %d packets lost (sample counter jumps), %d garbage bytes skipped, %d unpaired Daisy "
                "packets dropped in the last %.0f s (totals %d, %d, %d)",
                self.name,
                u[0],
                u[1],
                u[2],
                now - self._last_report,
                self.lost_packets,
                self.garbage_bytes,
                self.unpaired_packets,
            )
            self._unreported = [0, 0, 0]
            self._last_report = now

    def counters(self) -> dict:
        """Return the Node counters plus ``lost_packets``, ``garbage_bytes``, ``unpaired_packets``, ``reconnects``.

        ``lost_samples`` counts the samples missing from ``signals`` (lost
        packets, unpaired Daisy packets, time without the board).
        ``samples_out`` counts ``signals`` only.
        """
        base = super().counters()
        signals = self.outputs["signals"]
        base["samples_out"] = int(signals.last_index) if signals.configured else 0
        base.update(
            lost_packets=int(self.lost_packets),
            garbage_bytes=int(self.garbage_bytes),
            unpaired_packets=int(self.unpaired_packets),
        )
        return base
