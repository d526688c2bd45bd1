"""An RDA server that behaves like BrainVision Recorder, streaming a known signal.

Use it to develop and test RDA clients without an amplifier::

    $ lslacq rda-emulator --port 51244 --channels 32 --rate 1000

or from Python (tests, benchmarks, examples)::

    with RdaEmulator(port=0, n_channels=8, sample_rate=1000) as emu:
        client.connect(emu.address)

Like Recorder, the emulator acquires continuously from :meth:`RdaEmulator.start`;
each client that connects gets a START message and then every data block
produced after it connected (with markers), plus keep-alive (type 10000) and
other message types a client must skip. Several clients may connect at once.
A client that stops reading for ``send_timeout`` seconds is disconnected.

The signal is deterministic (see :meth:`RdaEmulator.signal`): channel 0 is a
sample counter (``absolute sample index mod counter_modulo``, resolution 1 uV)
so a client can check for lost or repeated samples; the other channels are
sines. Markers ("Stimulus", "S  1" ... "S 15") fall every ``marker_interval``
seconds at known absolute samples (see :meth:`RdaEmulator.expected_markers`).

To replay a BrainVision recording instead (``.vhdr`` + ``.eeg`` + ``.vmrk``,
as Recorder writes them), give ``recording=`` (``--vhdr`` on the command line).

Fault injection for tests: :meth:`send_raw`, :meth:`send_stop`,
:meth:`restart` (new START, possibly a new channel layout),
:meth:`drop_clients` (server closes the connections) and ``fragment`` (every
message is written in small random pieces).
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time

import numpy as np

from ...core.tcp import Connection, TcpServer
from ...core.workers import Worker
from .protocol import (
    DEFAULT_PORT_FLOAT32,
    DEFAULT_PORT_INT16,
    MARKER_DTYPE,
    MSG_KEEPALIVE,
    Marker,
    build_data,
    build_message,
    build_start,
    build_stop,
)

__all__ = ["RdaEmulator", "default_port"]

logger = logging.getLogger(__name__)


def default_port(int16: bool) -> int:
    """Return Recorder's RDA port for 16-bit (51234) or 32-bit float (51244) data."""
    return DEFAULT_PORT_INT16 if int16 else DEFAULT_PORT_FLOAT32


class _Layout:
    """Channel layout and signal definition of one acquisition."""

    def __init__(self, n_channels, sample_rate, int16, resolution, channel_names, counter_modulo):
        if int(n_channels) < 1:
            raise ValueError(f"RdaEmulator: n_channels={n_channels!r}; give at least 1 channel")
        if not float(sample_rate) > 0:
            raise ValueError(f"RdaEmulator: sample_rate={sample_rate!r}; give a positive rate in Hz")
        self.n_channels = int(n_channels)
        self.sample_rate = float(sample_rate)
        self.int16 = bool(int16)
        if resolution is None:
            resolution = 0.1 if int16 else 1.0
        self.resolutions = np.full(self.n_channels, float(resolution))
        self.resolutions[0] = 1.0  # counter channel: raw value == microvolts
        if channel_names is None:
            channel_names = ["Counter"] + [f"Ch{i}" for i in range(1, self.n_channels)]
        self.channel_names = [str(n) for n in channel_names]
        if len(self.channel_names) != self.n_channels:
            raise ValueError(f"RdaEmulator: {len(self.channel_names)} channel names for {self.n_channels} channels")
        if counter_modulo is None:
            counter_modulo = 1 << 15 if int16 else 1 << 24
        self.counter_modulo = int(counter_modulo)
        # channel c >= 1: sine of (1 + c % 20) Hz, amplitude 10 + 5 * (c % 8) uV
        ch = np.arange(self.n_channels)
        self.freqs = 1.0 + ch % 20
        self.amplitudes = 10.0 + 5.0 * (ch % 8)

    def start_message(self) -> bytes:
        return build_start(1e6 / self.sample_rate, self.resolutions, self.channel_names)

    def signal(self, start: int, stop: int) -> np.ndarray:
        """Microvolt values of samples [start, stop), shape (n, n_channels), float64."""
        idx = np.arange(start, stop, dtype=np.int64)
        t = idx / self.sample_rate
        out = self.amplitudes * np.sin(2 * np.pi * np.outer(t, self.freqs))
        out[:, 0] = idx % self.counter_modulo
        if self.int16:  # what survives the int16 quantisation
            out[:, 1:] = np.round(out[:, 1:] / self.resolutions[1:]) * self.resolutions[1:]
        return out

    def raw(self, start: int, stop: int) -> np.ndarray:
        raw = self.signal(start, stop) / self.resolutions
        if self.int16:
            return np.round(raw).astype(np.int16)
        return raw.astype(np.float32)


class _FileSource:
    """A BrainVision recording replayed in a loop (raw values and markers as recorded)."""

    def __init__(self, recording):
        self.recording = recording
        self.n_channels = len(recording.channel_names)
        self.sample_rate = float(recording.sample_rate)
        self.int16 = recording.int16
        self.resolutions = np.asarray(recording.resolutions, dtype=np.float64)
        self.channel_names = list(recording.channel_names)

    def start_message(self) -> bytes:
        return build_start(1e6 / self.sample_rate, self.resolutions, self.channel_names)

    def raw(self, start: int, stop: int) -> np.ndarray:
        n = self.recording.n_samples
        if stop - start <= n and start // n == (stop - 1) // n:  # no wrap: a plain slice of the memmap
            return np.array(self.recording.data[start % n : start % n + stop - start])
        return np.asarray(self.recording.data[np.arange(start, stop) % n])

    def signal(self, start: int, stop: int) -> np.ndarray:
        return self.raw(start, stop).astype(np.float64) * self.resolutions

    def markers(self, start: int, stop: int) -> np.ndarray:
        n = self.recording.n_samples
        file_markers = self.recording.markers
        parts = []
        for loop in range(start // n, (stop - 1) // n + 1 if stop > start else 0):
            m = file_markers.copy()
            m["pos"] += loop * n
            parts.append(m[(m["pos"] >= start) & (m["pos"] < stop)])
        return np.concatenate(parts) if parts else np.zeros(0, MARKER_DTYPE)


class _Server(TcpServer):
    """The emulator's sockets: accept (START to the newcomer), write queued messages, close."""

    def __init__(self, emulator: RdaEmulator):
        super().__init__("RDA emulator", logger)
        self.emulator = emulator
        if emulator.fragment:
            self.send_piece_size = lambda: emulator._rng.randint(1, 64)

    def make_connection(self, sock: socket.socket, peer: tuple) -> Connection:
        conn = Connection(sock, peer)
        conn.dropped_blocks = 0  # type: ignore[attr-defined]  # blocks not sent: it was too far behind
        return conn

    def on_accept(self, conn: Connection) -> None:
        self.emulator._accepted(conn)

    def on_data(self, conn: Connection, data: bytes) -> None:
        """Ignore what a client sends, as Recorder does."""

    def on_close(self, conn: Connection) -> None:
        logger.info("RDA emulator: client %s:%d disconnected", *conn.peer)
        with self.emulator._changed:
            self.emulator._changed.notify_all()


class RdaEmulator:
    """A BrainVision Recorder RDA server emulator (context manager).

    Parameters
    ----------
    host : str
        Interface to listen on (default 127.0.0.1; "0.0.0.0" for the network).
    port : int or None
        TCP port; 0 picks a free port (see :attr:`address`); None uses
        Recorder's port for the data type (51244 float32, 51234 int16).
    n_channels : int
        Number of channels (channel 0 is a sample counter).
    sample_rate : float
        Sampling rate in Hz.
    int16 : bool
        Send DATA16 (int16) blocks instead of DATA32 (float32).
    block_duration : float
        Seconds of signal per data block (Recorder uses tens of ms).
    resolution : float, optional
        Microvolts per raw unit of channels >= 1 (default 0.1 for int16, 1.0 for float32).
    channel_names : list of str, optional
        Channel names (default "Counter", "Ch1", ...).
    marker_interval : float or None
        Seconds between stimulus markers; None sends none.
    keepalive_interval : float or None
        Seconds between keep-alive (type 10000) messages; None sends none.
    other_interval : float or None
        Seconds between messages of other types (5, 6, 100000) that clients must skip.
    realtime : bool
        Pace blocks at the sampling rate (True) or send as fast as clients read (False).
    duration : float or None
        Stop acquisition (send STOP) after this many seconds of signal were
        sent to clients (the clock counts only while a client is connected).
    fragment : bool
        Write every message in small random pieces (tests TCP reassembly).
    send_timeout : float
        A client that accepts no data for this long is disconnected.
    max_backlog : float or None
        None (default): a slow client slows the server down (TCP back-pressure,
        nothing is lost). A number: like Recorder, data blocks for a client
        that has more than this many seconds of data waiting are dropped for
        that client (it sees a gap in the block counter); the socket send
        buffer is then kept small so this policy, not the kernel, decides.
    counter_modulo : int, optional
        Modulo of the counter channel (default 2**15 for int16, 2**24 for float32).
    recording : str, path or BrainVisionRecording, optional
        Replay this BrainVision recording (``.vhdr`` file) in a loop instead
        of the synthetic signal: its channels, resolutions, rate, data type
        (INT_16 -> DATA16, IEEE_FLOAT_32 -> DATA32) and markers.
        ``n_channels``, ``sample_rate``, ``int16``, ``resolution``,
        ``channel_names`` and ``marker_interval`` are then ignored.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        n_channels: int = 32,
        sample_rate: float = 1000.0,
        int16: bool = False,
        block_duration: float = 0.02,
        resolution: float | None = None,
        channel_names=None,
        marker_interval: float | None = 1.0,
        keepalive_interval: float | None = 1.0,
        other_interval: float | None = 2.5,
        realtime: bool = True,
        duration: float | None = None,
        fragment: bool = False,
        send_timeout: float = 5.0,
        max_backlog: float | None = None,
        counter_modulo: int | None = None,
        recording=None,
    ):
        self.host = host
        self._counter_modulo = counter_modulo
        if recording is not None:
            if not hasattr(recording, "channel_names"):
                from .brainvision import read_brainvision

                recording = read_brainvision(recording)
            self.layout = _FileSource(recording)
            int16 = self.layout.int16
        else:
            self.layout = _Layout(n_channels, sample_rate, int16, resolution, channel_names, counter_modulo)
        self.port = default_port(int16) if port is None else int(port)
        if not block_duration > 0:
            raise ValueError(f"RdaEmulator: block_duration={block_duration!r}; give a positive number of seconds")
        self.block_duration = float(block_duration)
        self.marker_interval = marker_interval
        self.keepalive_interval = keepalive_interval
        self.other_interval = other_interval
        self.realtime = bool(realtime)
        self.duration = duration
        self.fragment = bool(fragment)
        self.send_timeout = float(send_timeout)
        self.max_backlog = None if max_backlog is None else float(max_backlog)
        self.blocks_dropped = 0  # blocks not sent to a client that was too far behind

        self._lock = threading.RLock()  # guards the acquisition state
        self._changed = threading.Condition(self._lock)  # a client came or left, samples were sent, a failure
        self._server = _Server(self)
        self._worker = Worker("rda-emulator", self._serve, context="serving RDA clients", interrupt=self._server.wake)
        self._rng = random.Random(1234)

        self.acquiring = False
        self.next_sample = 0  # absolute index of the next sample to send
        self.next_block = 1
        self.blocks_sent = 0  # blocks sent to at least one client
        self.samples_sent = 0
        self._streamed = 0
        self.clients_served = 0
        self._pace_t0 = 0.0
        self._pace_sample0 = 0
        self._next_keepalive = 0.0
        self._next_other = 0.0
        self._other_types = (5, 6, 100000)
        self._other_count = 0

    # -- public API ------------------------------------------------------

    @property
    def block_points(self) -> int:
        """Samples per data block."""
        return max(1, int(round(self.block_duration * self.layout.sample_rate)))

    @property
    def address(self) -> tuple:
        """(host, port) the server listens on (the real port when port=0)."""
        listener = self._server.server_socket
        if listener is None:
            return (self.host, self.port)
        return listener.getsockname()[:2]

    @property
    def n_clients(self) -> int:
        """Number of connected clients."""
        return len(self._clients())

    @property
    def error(self) -> BaseException | None:
        """Why the server thread failed, if it did (it is also logged)."""
        return self._worker.error

    def signal(self, start: int, stop: int) -> np.ndarray:
        """Return the microvolt values of absolute samples [start, stop).

        These are exactly the values a client reconstructs as ``raw * resolution``
        (after int16 rounding), shape ``(stop - start, n_channels)``.
        """
        return self.layout.signal(start, stop)

    def marker_period(self) -> int | None:
        """Return the samples between stimulus markers, or None when markers are disabled."""
        if not self.marker_interval:
            return None
        return max(1, int(round(self.marker_interval * self.layout.sample_rate)))

    def expected_markers(self, start: int, stop: int) -> np.ndarray:
        """Return the markers (:data:`~.protocol.MARKER_DTYPE`) at absolute samples [start, stop)."""
        if isinstance(self.layout, _FileSource):
            return self.layout.markers(start, stop)
        period = self.marker_period()
        if period is None or stop <= start:
            return np.zeros(0, dtype=MARKER_DTYPE)
        offset = period // 2
        first = max(0, -(-(start - offset) // period))
        positions = np.arange(first * period + offset, stop, period)
        out = np.zeros(len(positions), dtype=MARKER_DTYPE)
        out["pos"] = positions
        out["points"] = 1
        out["channel"] = -1
        out["type"] = b"Stimulus"
        out["description"] = [f"S{(p // period) % 15 + 1:3d}".encode() for p in positions]
        return out

    def start(self) -> RdaEmulator:
        """Bind the server socket, start acquisition and the server thread."""
        if self._server.server_socket is not None:
            raise RuntimeError(f"RdaEmulator on {self.address} is already started")
        self._server.listen(
            self.host,
            self.port,
            8,
            in_use_hint="choose another --port (0 picks a free one) or stop the program using it",
        )
        with self._lock:
            self._begin_acquisition()
        self._worker.start()
        logger.info(
            "RDA emulator listening on %s:%d: %d channels at %g Hz, %s",
            *self.address,
            self.layout.n_channels,
            self.layout.sample_rate,
            "int16" if self.layout.int16 else "float32",
        )
        return self

    def close(self) -> None:
        """Stop the thread and close every socket (idempotent)."""
        self._worker.stop_and_join(log=logger)
        self._server.close_sockets()
        with self._lock:
            self.acquiring = False

    stop = close

    def __enter__(self) -> RdaEmulator:
        return self.start() if self._server.server_socket is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    def wait_for_clients(self, n: int = 1, timeout: float = 10.0) -> bool:
        """Block until at least ``n`` clients are connected; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._clients()) >= n, timeout)

    def wait_for_samples(self, n: int, timeout: float = 30.0) -> bool:
        """Block until ``n`` samples were sent in total; False on timeout (or if the server failed)."""
        with self._changed:
            self._changed.wait_for(lambda: self.samples_sent >= n or self.error is not None, timeout)
            return self.samples_sent >= n

    def send_raw(self, data: bytes) -> None:
        """Send arbitrary bytes to every client (fault injection)."""
        with self._lock:
            self._broadcast(bytes(data))

    def send_stop(self) -> None:
        """Stop acquisition and send STOP to every client (Recorder's "stop monitoring")."""
        with self._lock:
            self.acquiring = False
            self._broadcast(build_stop())

    def restart(self, **layout) -> None:
        """(Re)start acquisition with a new START message to every client.

        Keyword arguments change the layout: ``n_channels``, ``sample_rate``,
        ``int16``, ``resolution``, ``channel_names``.
        """
        with self._lock:
            old = self.layout
            if isinstance(old, _FileSource):
                if layout:
                    raise ValueError(f"RdaEmulator.restart: a replayed recording has a fixed layout; got {layout}")
                self._begin_acquisition()
                self._broadcast(old.start_message())
                return
            params = dict(
                n_channels=old.n_channels,
                sample_rate=old.sample_rate,
                int16=old.int16,
                resolution=None,
                channel_names=None,
                counter_modulo=self._counter_modulo,
            )
            params.update(layout)
            if "resolution" not in layout:
                params["resolution"] = float(old.resolutions[-1]) if old.n_channels > 1 else None
            self.layout = _Layout(**params)
            self._begin_acquisition()
            self._broadcast(self.layout.start_message())

    def drop_clients(self) -> None:
        """Close every client connection abruptly (server dies mid-stream)."""
        with self._lock:
            for conn in self._clients():
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                with conn.lock:
                    conn.broken = True  # the server thread closes it
        self._server.wake()

    # -- internals -------------------------------------------------------

    def _clients(self) -> list[Connection]:
        return [conn for conn in self._server.open_connections() if not conn.broken]

    def _begin_acquisition(self) -> None:
        self.acquiring = True
        self._streamed = 0  # samples sent to clients since acquisition (re)started
        self._pace_t0 = time.perf_counter()
        self._pace_sample0 = self.next_sample
        self._next_keepalive = self._pace_t0 + (self.keepalive_interval or 0)
        self._next_other = self._pace_t0 + (self.other_interval or 0)

    def _accepted(self, conn: Connection) -> None:
        if self.max_backlog is not None:  # a small send buffer: the backlog policy decides, not the kernel
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
        with self._lock:
            if self.acquiring:
                self._server.send(conn, self.layout.start_message())
            self.clients_served += 1
            self._changed.notify_all()
        logger.info("RDA emulator: client %s:%d connected", *conn.peer)

    def _broadcast(self, data: bytes, droppable: bool = False) -> None:
        """Queue ``data`` for every client (caller holds the lock); with max_backlog, skip the ones too far behind."""
        layout = self.layout
        backlog_bytes = None
        if droppable and self.max_backlog is not None:
            backlog_bytes = self.max_backlog * layout.sample_rate * layout.n_channels * (2 if layout.int16 else 4)
        for conn in self._clients():
            if backlog_bytes is not None and conn.out.queued > backlog_bytes:
                conn.dropped_blocks += 1
                self.blocks_dropped += 1
                continue
            self._server.send(conn, data)

    def _drop_stalled(self) -> bool:
        """Disconnect the clients that read nothing for send_timeout s; return True if one is still behind."""
        behind = False
        for conn in self._clients():
            if conn.out.stalled_for() > self.send_timeout:
                logger.info(
                    "RDA emulator: dropping client %s:%d (it read nothing for %g s)", *conn.peer, self.send_timeout
                )
                with conn.lock:
                    conn.broken = True
            elif conn.out:
                behind = True
        return behind

    def _serve(self, worker: Worker) -> None:
        """Run the server thread: send what is due, then handle the sockets until the next step."""
        server = self._server
        server.loop_thread = threading.current_thread()
        try:
            while not worker.stopping:
                with self._lock:
                    behind = self._drop_stalled()
                    if behind and self.max_backlog is None:
                        wait = 0.05  # a slow client slows the server down (nothing lost): until it reads
                    else:
                        wait = self._stream_step()
                server.poll_once(wait)
        except Exception as exc:
            worker.fail(exc)  # logged (nothing listens to failed): error is set before waiters wake
            with self._changed:
                self._changed.notify_all()

    def _make_block(self) -> bytes:
        layout = self.layout
        start = self.next_sample
        stop = start + self.block_points
        markers = [
            Marker(
                int(m["pos"]) - start,
                int(m["points"]),
                int(m["channel"]),
                m["type"].decode(),
                m["description"].decode(),
            )
            for m in self.expected_markers(start, stop)
        ]
        msg = build_data(self.next_block, layout.raw(start, stop), markers, int16=layout.int16)
        self.next_sample = stop
        self.next_block += 1
        return msg

    def _stream_step(self) -> float:
        """Send what is due; return seconds to wait before the next step."""
        if not self.acquiring:
            return 0.05
        now = time.perf_counter()
        rate = self.layout.sample_rate
        if self.keepalive_interval and now >= self._next_keepalive:
            self._broadcast(build_message(MSG_KEEPALIVE, b"\0" * 4))
            self._next_keepalive = now + self.keepalive_interval
        if self.other_interval and now >= self._next_other:
            msg_type = self._other_types[self._other_count % len(self._other_types)]
            self._broadcast(build_message(msg_type, bytes(range(self._other_count % 50))))
            self._other_count += 1
            self._next_other = now + self.other_interval
        if self.duration is not None and self._streamed >= self.duration * rate:
            logger.info("RDA emulator: duration of %g s reached, sending STOP", self.duration)
            self.acquiring = False
            self._broadcast(build_stop())
            return 0.05
        if self.realtime:
            due = self._pace_sample0 + (now - self._pace_t0) * rate
            if self.next_sample + self.block_points > due:
                return (self.next_sample + self.block_points - due) / rate
        elif not self._clients():
            return 0.01  # nobody to send to: do not spin
        if self._clients():
            self._broadcast(self._make_block(), droppable=True)
            self.blocks_sent += 1
            self.samples_sent += self.block_points
            self._streamed += self.block_points
            self._changed.notify_all()
        else:  # nobody listens: keep the clock, skip building the block
            self.next_sample += self.block_points
            self.next_block += 1
        return 0.0
