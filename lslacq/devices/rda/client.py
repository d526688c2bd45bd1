"""Asynchronous, buffered RDA client (the ``rdaclient`` API on lslacq's RingBuffer).

::

    from lslacq.devices.rda import Client

    client = Client(buffer_size=300000)
    client.connect(("192.168.1.10", 51244))
    client.start_streaming()  # waits for Recorder's START message
    data = client.poll(500)  # the newest 500 samples, (500, n_channels) float32 uV
    client.stop_streaming()
    client.disconnect()

A background thread receives the RDA messages, converts the values to
microvolts (``raw * resolution``, for int16 and float32 blocks alike) and
appends them to a :class:`lslacq.core.stream.RingBuffer` indexed by absolute
sample number, from which :meth:`Client.get_data` returns views (no copy).
Markers are kept with absolute sample positions (:meth:`Client.get_markers`).
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
import time

import numpy as np

from ...core.stream import RingBuffer
from ...core.tcp import SelectLoop
from ...core.workers import Worker
from ...errors import BrokenStreamError, NodeStateError, StreamTimeoutError
from .protocol import (
    DEFAULT_MAX_CHANNELS,
    MARKER_DTYPE,
    DataMessage,
    RdaParser,
    RdaProtocolError,
    StartMessage,
    StopMessage,
    markers_to_array,
)

__all__ = ["Client", "fetch_start_message"]

logger = logging.getLogger(__name__)


class Client:
    """An asynchronous RDA (Remote Data Access) client with a ring buffer.

    BrainVision Recorder (and :class:`~lslacq.devices.rda.RdaEmulator`)
    serve EEG over RDA; this client receives it in a background thread.

    Parameters
    ----------
    buffer_size : int
        Ring buffer capacity in samples.
    buffer_window : int
        Size (in samples) of the windows that must be readable without a
        copy. With ``double=True`` (the default) any window up to
        ``buffer_size`` is returned as a view, so this is kept for API
        compatibility and validated only.
    double : bool
        Double the ring buffer memory so every read is a contiguous view.
    shmem : bool
        Put the ring buffer in shared memory: another process can then read
        it with ``RingBuffer(shape, 'float32', double, shmem=client.buffer.shm.to_dict())``.
    max_channels : int
        START messages announcing more channels are rejected as corrupted.
    on_block : callable, optional
        Called in the receiver thread after each data block was buffered, as
        ``on_block(index, data, markers)``: ``index`` is the absolute index of
        the block's last sample + 1, ``data`` a new ``(n, n_channels)``
        float32 microvolt array (not a view into a buffer), ``markers`` a
        :data:`~lslacq.devices.rda.MARKER_DTYPE` array with absolute
        positions. An exception raised by it stops the receiver like a
        network error (see :attr:`error`).

    Attributes
    ----------
    start_msg : StartMessage or None
        The START message of the current layout (``n_channels``,
        ``channel_names``, ``resolutions``, ``sampling_interval`` in us,
        ``sample_rate``).
    error : Exception or None
        Why the receiver thread stopped, if it failed (corrupted stream,
        server gone). Also emitted through :attr:`failed`; logged (by the
        receiver's :class:`~lslacq.core.workers.Worker`) only when nothing
        listens to :attr:`failed` (a listening owner reports it).
    failed : Signal
        Emitted with the exception when the receiver thread fails.
    stop_reason : str
        Why streaming stopped last ("" while streaming).
    lost_blocks, lost_samples : int
        Blocks the server skipped (gaps in its block counter); their samples
        are filled with NaN so sample indices stay aligned with the server's clock.
    """

    data_dtype_name = "float32"

    def __init__(
        self,
        buffer_size: int = 300000,
        buffer_window: int = 1,
        *,
        double: bool = True,
        shmem: bool = False,
        max_channels: int = DEFAULT_MAX_CHANNELS,
        on_block=None,
    ):
        buffer_size, buffer_window = int(buffer_size), int(buffer_window)
        if buffer_size < 1:
            raise ValueError(f"Client: buffer_size={buffer_size}; give a positive number of samples")
        if not 1 <= buffer_window <= buffer_size:
            raise ValueError(f"Client: buffer_window={buffer_window} must be between 1 and buffer_size={buffer_size}")
        self._buffer_size = buffer_size
        self._buffer_window = buffer_window
        self._double = bool(double)
        self._shmem = bool(shmem)
        self._max_channels = int(max_channels)
        self.on_block = on_block

        self.sock: socket.socket | None = None
        self.address: tuple | None = None
        self._parser: RdaParser | None = None
        self._loop: SelectLoop | None = None  # the socket and a wake-up, while connected
        self._receiver = Worker(
            "rda-client", self._receive, context="receiving from the RDA server", interrupt=self._wake
        )
        self._cond = threading.Condition()
        self._broken: BaseException | None = None  # the connection cannot be used again

        self.buffer: RingBuffer | None = None
        self.start_msg: StartMessage | None = None
        self._pending: list = []  # messages read by start_streaming, for the receiver
        self._scale: np.ndarray | None = None
        self._markers: list[np.ndarray] = []
        self._last_block: int | None = None

        self.error: BaseException | None = None
        self.failed = self._receiver.failed  # the receiver logs a failure only when nothing listens here
        self.stop_reason = ""
        self.lost_blocks = 0
        self.lost_samples = 0
        self.blocks_received = 0
        self.skipped_messages = 0
        #: dtype of the values on the wire ('int16' for DATA16, 'float32' for DATA32), once a block arrived
        self.wire_dtype: str | None = None

    # -- properties of the seed API ---------------------------------------

    @property
    def is_streaming(self) -> bool:
        """True while the receiver thread is running (read-only)."""
        return self._receiver.is_alive() and not self._receiver.stopping

    @property
    def buffer_size(self) -> int:
        """Buffer capacity in samples (read-only)."""
        return self._buffer_size

    @property
    def data_dtype(self) -> str:
        """The dtype of the buffered data: ``'float32'`` microvolts (read-only)."""
        return self.data_dtype_name

    @property
    def buffer_window(self) -> int:
        """Window size guaranteed to be readable as a view, in samples (read-only)."""
        return self._buffer_window

    @property
    def last_sample(self) -> int:
        """Absolute index of the last sample written + 1 (= samples received so far)."""
        return self.buffer.index() if self.buffer is not None else 0

    def counters(self) -> dict:
        """Return the same counters as a node's (``Node.counters()``): what the receiver has buffered and lost.

        ``samples_in`` = :attr:`last_sample` (samples received, including the
        NaN-filled samples of skipped blocks), ``lost_samples`` those skipped
        samples, ``last_index`` the index after the last sample (None before
        any); nothing is sent and ``latency`` is unknown.
        """
        last = self.last_sample
        return {
            "samples_in": last,
            "samples_out": 0,
            "lost_samples": int(self.lost_samples),
            "last_index": last if last else None,
            "latency": None,
        }

    @property
    def is_connected(self) -> bool:
        """True between :meth:`connect` and :meth:`disconnect`."""
        return self.sock is not None

    # -- connection ---------------------------------------------------------

    def connect(self, destaddr, timeout: float = 10.0) -> None:
        """Connect to an RDA server.

        Parameters
        ----------
        destaddr : tuple
            ``(host, port)``; Recorder uses port 51244 for float32 and 51234
            for int16 data.
        timeout : float
            Seconds to wait for the TCP connection.
        """
        if self.sock is not None:
            raise NodeStateError(f"RDA client is already connected to {self.address}; call disconnect() first")
        host, port = destaddr[0] or "127.0.0.1", int(destaddr[1])
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise ConnectionError(
                f"cannot connect to the RDA server at {host}:{port} ({exc}). Is BrainVision Recorder "
                "running with RDA enabled (or `lslacq rda-emulator`), and is the port right "
                "(51244 float32, 51234 int16)?"
            ) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        self.sock = sock
        self.address = (host, port)
        self._parser = RdaParser(max_channels=self._max_channels)
        self._pending = []
        self._broken = None
        self._last_block = None
        self._loop = SelectLoop()
        self._loop.register(sock, selectors.EVENT_READ)
        self._receiver.name = f"rda-client-{port}"
        logger.info("RDA client connected to %s:%d", host, port)

    def disconnect(self) -> None:
        """Stop streaming if needed and close the connection (idempotent)."""
        if self.is_streaming:
            self.stop_streaming()
        self._receiver.stop_and_join(log=logger)
        if self.sock is not None:
            self.sock.close()
            self._loop.close()
        self.sock = self._loop = self._parser = None

    def close(self) -> None:
        """Disconnect and release the ring buffer (shared memory included)."""
        self.disconnect()
        if self.buffer is not None:
            self.buffer.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- streaming ------------------------------------------------------------

    def start_streaming(self, timeout: float = 10.0) -> None:
        """Start receiving data in the background.

        Waits until a START message arrives (or, after a previous START,
        until the next data block: streaming resumes with the same buffer),
        sets up the ring buffer from it, then starts the receiver thread.

        Parameters
        ----------
        timeout : float
            Seconds to wait for a START (or resumed data) message.

        Raises
        ------
        StreamTimeoutError
            If nothing usable arrives within ``timeout``.
        BrokenStreamError
            If the connection is broken (protocol error or server gone).
        """
        if self.sock is None:
            raise NodeStateError("RDA client is not connected; call connect((host, port)) first")
        if self.is_streaming:
            raise NodeStateError(f"RDA client is already streaming from {self.address}")
        self._receiver.stop_and_join(log=logger)  # a receiver that just ended by itself
        if self._broken is not None:
            raise BrokenStreamError(
                f"the connection to the RDA server at {self.address} is broken ({self._broken}); "
                "call disconnect() and connect() again"
            ) from self._broken
        logger.info("waiting for an RDA start message from %s:%d...", *self.address)
        start = self._wait_for_start(timeout)
        self._setup_layout(start)
        self.error = None
        self.stop_reason = ""
        self._receiver.start()

    def _wait_for_start(self, timeout: float) -> StartMessage:
        """Read messages until START (or data after a previous START); keep them for the receiver."""
        # a START (new layout) that stopped the previous streaming comes first
        for i, msg in enumerate(self._pending):
            if isinstance(msg, StartMessage):
                del self._pending[: i + 1]
                return msg
        try:
            return self._read_until_start(timeout)
        except RdaProtocolError as exc:
            self._broken = exc
            logger.error("RDA client: %s", exc)
            raise

    def _read_until_start(self, timeout: float) -> StartMessage:
        deadline = time.monotonic() + timeout
        while True:
            for msg in self._parser.messages():
                if isinstance(msg, StartMessage):
                    return msg
                if isinstance(msg, DataMessage) and self.start_msg is not None and msg.data is not None:
                    logger.info("RDA data without START: resuming the previous session")
                    msg.data = msg.data.copy()
                    self._pending.append(msg)
                    return self.start_msg
                self._log_skipped(msg, "before START")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StreamTimeoutError(
                    f"no RDA START message from {self.address[0]}:{self.address[1]} within {timeout} s: "
                    "start monitoring in BrainVision Recorder (the server sends START when acquisition "
                    "starts) or raise the timeout"
                )
            if not self._loop.select(remaining):
                continue
            try:
                n = self._parser.recv_into_from(self.sock)
            except BlockingIOError:
                continue
            except OSError as exc:
                self._broken = exc
                raise BrokenStreamError(
                    f"RDA server {self.address}: {exc}; call disconnect() and connect() again"
                ) from exc
            if n == 0:
                self._broken = BrokenStreamError("server closed the connection")
                raise BrokenStreamError(
                    f"the RDA server at {self.address[0]}:{self.address[1]} closed the connection before "
                    "sending START; call disconnect() and connect() again"
                )

    def _setup_layout(self, start: StartMessage) -> None:
        same = start.same_layout(self.start_msg) and self.buffer is not None
        if self.start_msg is not None and not same:
            logger.warning(
                "RDA channel layout changed from %s to %s: new buffer, sample indices restart at 0",
                self.start_msg,
                start,
            )
        if not same:
            if self.buffer is not None:
                self.buffer.close()
            self.buffer = RingBuffer(
                (self._buffer_size, start.n_channels),
                "float32",
                double=self._double,
                shmem=True if self._shmem else None,
                fill=np.nan,
            )
            with self._cond:
                self._markers = []
        self._last_block = None  # block counters of a new acquisition are not compared with the old one
        self._set_start(start)
        logger.info("RDA start message received: %s", start)

    def _set_start(self, start: StartMessage) -> None:
        self.start_msg = start
        res = start.resolutions.astype(np.float32)
        self._scale = None if np.all(res == 1.0) else res

    def stop_streaming(self, write_timelog: bool = False) -> None:
        """Stop the receiver thread; the connection stays open and the buffer readable.

        ``start_streaming()`` resumes (data that arrived meanwhile is then
        received). ``write_timelog`` is accepted for compatibility and ignored.
        """
        if not self.is_streaming:
            reason = self.stop_reason or "never started"
            raise NodeStateError(f"RDA client is not streaming (already stopped: {reason})")
        self._receiver.stop_and_join(log=logger)
        self.stop_reason = self.stop_reason or "stop_streaming() called"
        logger.info("RDA client stopped streaming")

    def wait_until_stopped(self, timeout: float | None = None) -> bool:
        """Block until streaming stops (STOP, layout change, failure or stop_streaming()).

        Returns True if it stopped, False on timeout.
        """
        with self._cond:
            return self._cond.wait_for(lambda: not self.is_streaming, timeout)

    # -- receiver thread ------------------------------------------------------

    def _wake(self) -> None:
        loop = self._loop
        if loop is not None:
            loop.wake()

    def _receive(self, worker: Worker) -> None:
        """Run the receiver's loop.

        A failure is kept in :attr:`error` and emitted on :attr:`failed` once :attr:`is_streaming` is False,
        before the waiters of :meth:`wait` are woken.
        """
        try:
            pending, self._pending = self._pending, []
            for msg in pending:
                if not self._handle(msg):
                    return
            while not worker.stopping:
                for msg in self._parser.messages():
                    if not self._handle(msg):
                        return
                self._loop.select(None)  # data, or a wake-up from stop_streaming()
                if worker.stopping:
                    return
                try:
                    n = self._parser.recv_into_from(self.sock)
                except BlockingIOError:
                    continue
                if n == 0:
                    raise BrokenStreamError(
                        f"the RDA server at {self.address[0]}:{self.address[1]} closed the connection after "
                        f"{self.last_sample} samples; reconnect with disconnect(), connect(), start_streaming()"
                    )
        except Exception as exc:
            if isinstance(exc, OSError):
                exc = BrokenStreamError(f"RDA connection to {self.address} failed: {exc}")
            self._broken = self.error = exc
            self.stop_reason = str(exc)
            worker.request_stop()  # listeners of failed see is_streaming == False already
            worker.fail(exc)  # logged here only when nothing listens to failed
        finally:
            worker.request_stop()
            with self._cond:
                self._cond.notify_all()

    def _handle(self, msg) -> bool:
        """Process one message; False stops the receiver."""
        if isinstance(msg, DataMessage):
            if msg.data is None:
                self._log_skipped(msg, "before any START")
            else:
                self._put_block(msg)
            return True
        if isinstance(msg, StartMessage):
            if msg.same_layout(self.start_msg):
                self._set_start(msg)  # names/resolutions may change
                self._last_block = None
                logger.info("RDA START repeated with the same layout: %s", msg)
                return True
            self._pending = [msg]
            self.stop_reason = (
                f"the RDA server changed the channel layout to {msg}; call start_streaming() again "
                "to create a new buffer (the old one stays readable until then)"
            )
            logger.warning("RDA client stopped streaming: %s", self.stop_reason)
            return False
        if isinstance(msg, StopMessage):
            self.stop_reason = "the RDA server sent STOP (acquisition stopped)"
            logger.info("RDA stop message received, stopping")
            return False
        self._log_skipped(msg, "")
        return True

    def _log_skipped(self, msg, when: str) -> None:
        self.skipped_messages += 1
        if isinstance(msg, DataMessage):
            logger.info("RDA: skipped data block %d %s", msg.block, when)
        else:
            logger.debug("RDA: skipped message %s %s", msg, when)

    def _put_block(self, msg: DataMessage) -> None:
        buf = self.buffer
        if msg.data.shape[1] != buf.frame_shape[0]:  # guarded by the parser; defensive
            raise BrokenStreamError(
                f"RDA block with {msg.data.shape[1]} channels in a {buf.frame_shape[0]}-channel stream"
            )
        index = buf.index()
        gap = 0
        if self._last_block is not None:
            gap = (msg.block - self._last_block - 1) & 0xFFFFFFFF
            if 0 < gap < 1 << 20:
                index += gap * msg.n_points
                logger.warning(
                    "RDA: %d data block(s) lost before block %d (client too slow or network congestion); "
                    "%d samples filled with NaN",
                    gap,
                    msg.block,
                    gap * msg.n_points,
                )
        self._last_block = msg.block
        data = msg.data
        self.wire_dtype = data.dtype.name
        if self._scale is not None:
            data = data * self._scale  # float32 result, also for int16 input
        elif data.dtype != np.float32:
            data = data.astype(np.float32)
        elif self.on_block is not None:
            data = data.copy()  # msg.data is a view into the receive buffer
        end = index + msg.n_points
        buf.new_chunk(data, end)  # writes the NaN gap too: count the loss only once a reader can see it
        if 0 < gap < 1 << 20:
            self.lost_blocks += gap
            self.lost_samples += gap * msg.n_points
        self.blocks_received += 1
        markers = markers_to_array(msg.markers, offset=index) if msg.markers else None
        with self._cond:
            if markers is not None:
                self._markers.append(markers)
            self._cond.notify_all()
        if self.on_block is not None:
            self.on_block(end, data, markers if markers is not None else np.zeros(0, MARKER_DTYPE))

    # -- reading ----------------------------------------------------------------

    def get_data(self, sampleStart: int, sampleEnd: int):
        """Return samples ``[sampleStart, sampleEnd)`` by absolute index.

        Returns
        -------
        ndarray or None
            ``(n, n_channels)`` float32 microvolts, a view into the ring
            buffer when possible (copy it to keep it beyond the buffer's
            lifetime), or None if not (or no longer) available.
        """
        buf = self.buffer
        if buf is None:
            return None
        try:
            return buf.get_data(sampleStart, sampleEnd)
        except IndexError:
            return None

    def wait(self, sampleStart: int, sampleEnd: int, timeout: float = 1, sleep: float = 5e-4):
        """Return samples ``[sampleStart, sampleEnd)``, waiting for them if needed.

        Returns as soon as the data is available, or None once the timeout
        expires or the data has been overwritten. ``sleep`` is accepted for
        compatibility (the wait is event-driven, not polled).

        Raises
        ------
        NodeStateError
            If the client is not streaming and the data is not available.
        BrokenStreamError
            If the receiver failed (its error is the cause).
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                buf = self.buffer
                if buf is not None:
                    if sampleStart < buf.first_index():
                        return None  # overwritten
                    if sampleEnd <= buf.index():
                        return self.get_data(sampleStart, sampleEnd)
                if not self.is_streaming:
                    self._raise_not_streaming()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def _raise_not_streaming(self) -> None:
        if self.error is not None:
            raise BrokenStreamError(f"RDA client stopped: {self.error}") from self.error
        raise NodeStateError(
            "nothing to wait for: the RDA client is not streaming"
            + (f" ({self.stop_reason})" if self.stop_reason else "; call start_streaming() first")
        )

    def poll(self, nSamples: int, timeout: float = 10, sleep: float = 5e-4):
        """Wait for the next data block, then return the newest ``nSamples`` samples.

        Returns
        -------
        ndarray or None
            ``(nSamples, n_channels)`` float32 view, or None on timeout or if
            fewer than ``nSamples`` samples are buffered.
        """
        last = self.last_sample
        if self.wait(last, last + 1, timeout, sleep) is None:
            return None
        last = self.last_sample
        return self.get_data(last - nSamples, last)

    def get_markers(self, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """Return the markers at absolute samples ``[start, stop)``.

        Returns
        -------
        ndarray of :data:`~lslacq.devices.rda.MARKER_DTYPE`
            Fields ``pos`` (absolute sample index), ``points``, ``channel``
            (-1 = all), ``type`` and ``description`` (bytes).
        """
        with self._cond:
            markers = np.concatenate(self._markers) if self._markers else np.zeros(0, MARKER_DTYPE)
            if len(self._markers) > 1:
                self._markers = [markers]
        keep = np.ones(len(markers), bool)
        if start is not None:
            keep &= markers["pos"] >= start
        if stop is not None:
            keep &= markers["pos"] < stop
        return markers[keep]

    def __repr__(self) -> str:
        state = "streaming" if self.is_streaming else ("connected" if self.sock else "disconnected")
        return f"<rda.Client {state} {self.address} last_sample={self.last_sample} layout={self.start_msg}>"


def fetch_start_message(host: str, port: int, timeout: float = 10.0) -> StartMessage:
    """Connect to an RDA server, return its START message and disconnect.

    Raises
    ------
    ConnectionError, StreamTimeoutError, BrokenStreamError
        With a message saying what to check.
    """
    client = Client(buffer_size=1)
    client.connect((host, port), timeout=timeout)
    try:
        return client._wait_for_start(timeout)
    finally:
        client.disconnect()
