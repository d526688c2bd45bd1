"""BrainAmpSocket: BrainAmp EEG from BrainVision Recorder's RDA server, as a Node."""

from __future__ import annotations

import logging
import time

import numpy as np

from ..core.stream.events import EVENT_DTYPE, EVENT_STREAM_SPEC
from ..errors import BrokenStreamError, NodeStateError, StreamTimeoutError
from .rda.client import Client, fetch_start_message
from .rda.protocol import DEFAULT_PORT_FLOAT32, StartMessage
from .reader import BlockingDevice

__all__ = ["BrainAmpSocket", "TRIGGER_DTYPE", "markers_to_events"]

logger = logging.getLogger(__name__)

#: dtype of the ``triggers`` output: lslacq's event records
#: (:data:`lslacq.core.stream.events.EVENT_DTYPE`).
TRIGGER_DTYPE = EVENT_DTYPE


def markers_to_events(markers: np.ndarray) -> np.ndarray:
    """Convert RDA marker records (:data:`~lslacq.devices.rda.MARKER_DTYPE`) to event records.

    ``index`` = absolute sample position, ``duration`` = ``points`` for
    markers longer than one sample (0 for one-sample markers), ``channel`` as
    is (-1 = all), ``code`` = the number in Recorder's ``'S  1'`` / ``'R 12'``
    descriptions (0 when there is none), ``type`` and ``description`` as
    ASCII (truncated to 16 and 32 bytes).
    """
    events = np.zeros(len(markers), dtype=EVENT_DTYPE)
    if not len(markers):
        return events
    events["index"] = markers["pos"]
    events["duration"] = np.where(markers["points"] > 1, markers["points"], 0)
    events["channel"] = markers["channel"]
    events["type"] = [bytes(t)[:16] for t in markers["type"]]
    events["description"] = [bytes(d)[:32] for d in markers["description"]]
    for i, desc in enumerate(markers["description"]):
        digits = bytes(desc)[1:].strip()
        if bytes(desc)[:1].isalpha() and digits.isdigit():
            events["code"][i] = int(digits)
    return events


class BrainAmpSocket(BlockingDevice):
    """BrainAmp EEG amplifier from Brain Products, through BrainVision Recorder's RDA server.

    This node bridges lslacq and the socket-based data streaming (RDA) of the
    Vision Recorder acquisition software (or ``lslacq rda-emulator``). Both
    16-bit (port 51234) and 32-bit float (port 51244) RDA streams are
    accepted.

    Outputs
    -------
    signals : analogsignal, float32, shape (-1, n_channels)
        Microvolts (``raw * resolution``). The spec holds ``sample_rate``,
        ``channel_names``, ``nb_channel``, ``units='microvolts'`` (and
        ``channel_units``, ``manufacturer``, ``model`` for LSL metadata).
        Indices count samples from ``start()``. Blocks the server dropped,
        and the time Recorder was stopped (STOP ... START, e.g. an impedance
        check: the node keeps running and resumes by itself), are gaps in the
        indices, so times derived from indices (LSL timestamps) stay right.
    triggers : event, :data:`lslacq.core.stream.events.EVENT_DTYPE`
        Recorder markers (see :func:`markers_to_events`); ``index`` is the
        absolute sample index in ``signals``, ``code`` the stimulus/response
        number, ``type`` e.g. ``b'Stimulus'``, ``description`` e.g. ``b'S  1'``.

    ``triggers`` is optional: leave it unconfigured when no one needs the
    markers.

    Why acquisition stopped while the node was running (server closed the
    connection, corrupted stream...) is reported through the node contract:
    :attr:`error`, :attr:`failed`, :meth:`counters`. As for every
    :class:`~lslacq.devices.reader.BlockingDevice`, ``lost_samples`` counts
    the samples of blocks the server skipped and, with ``reconnect=True``,
    the time without the server; ``reconnects`` the reconnections.
    """

    _output_specs = {
        "signals": dict(
            streamtype="analogsignal",
            dtype="float32",
            shape=(-1, 32),
            compression="",
            sample_rate=512.0,
            units="microvolts",
        ),
        "triggers": dict(EVENT_STREAM_SPEC, optional=True),
    }

    #: the connection failed or the stream broke (reopened with ``reconnect=True``)
    lost_errors = (BrokenStreamError,)
    read_context = "receiving from the RDA server (acquisition stopped)"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.client: Client | None = None
        self.start_msg: StartMessage | None = None
        self._paused_at: float | None = None  # set while the server is not streaming
        self._pause_lost = False  # the pause counts as lost samples (the wait for START after a reconnection)

    def _configure(
        self,
        brainamp_host: str = "127.0.0.1",
        brainamp_port: int = DEFAULT_PORT_FLOAT32,
        timeout: float = 10.0,
        reconnect: bool = False,
        **kwargs,
    ) -> None:
        """Ask Recorder for its stream layout (START message) and set the outputs from it.

        Parameters
        ----------
        brainamp_host : str
            Address of the computer running Vision Recorder (RDA enabled).
        brainamp_port : int
            RDA port: 51244 for 32-bit float data (default), 51234 for 16-bit.
        timeout : float
            Seconds to wait for the connection and Recorder's START message
            (Recorder sends it only while monitoring or recording).
        reconnect : bool
            When the connection is lost (Recorder closed or restarted, network
            cut, corrupted stream), keep the node running and connect again
            every second until the server is back, instead of failing. The
            time without data is a gap in the sample indices, counted in
            ``lost_samples`` (``reconnects`` counts the reconnections).
        """
        if kwargs:
            raise TypeError(
                f"{self.name}: unexpected configure() arguments {sorted(kwargs)}; accepted: "
                "brainamp_host, brainamp_port, timeout, reconnect"
            )
        self.reconnect = bool(reconnect)
        self.brainamp_host = str(brainamp_host)
        self.brainamp_port = int(brainamp_port)
        self.timeout = float(timeout)
        start = fetch_start_message(self.brainamp_host, self.brainamp_port, self.timeout)
        self.start_msg = start
        self.nb_channel = start.n_channels
        self.sample_rate = start.sample_rate
        self.channel_names = list(start.channel_names)
        self.resolutions = start.resolutions.copy()
        spec = self.outputs["signals"].spec
        spec["shape"] = (-1, self.nb_channel)
        spec["sample_rate"] = self.sample_rate
        spec["nb_channel"] = self.nb_channel
        spec["channel_names"] = self.channel_names
        spec["units"] = "microvolts"  # the LSL/XDF meta-data spelling of uV
        spec["channel_units"] = ["microvolts"] * self.nb_channel
        spec["manufacturer"] = "Brain Products"
        spec["model"] = "BrainAmp (BrainVision Recorder RDA)"
        logger.info("%s: RDA server %s:%d sends %s", self.name, self.brainamp_host, self.brainamp_port, start)

    # -- BlockingDevice hooks: the client receives, the reader follows its STOP/START cycles ----------
    def _start(self) -> None:
        self._send_triggers = self.outputs["triggers"].configured
        self._paused_at = None
        super()._start()

    def _open(self, reopening: bool = False) -> None:
        """Connect (and at start, wait for START); a reopened connection waits for START in :meth:`read`."""
        client = Client(buffer_size=max(int(self.sample_rate), 1024), double=False, on_block=self._send_block)
        client.failed.connect(lambda exc: None)  # read() raises it in the reader thread: the node reports it, once
        client.connect(
            (self.brainamp_host, self.brainamp_port), timeout=min(self.timeout, 2.0) if reopening else self.timeout
        )
        if not reopening:
            try:
                client.start_streaming(timeout=self.timeout)
                self._check_layout(client)
            except BaseException:
                client.close()
                raise
        self.client = client

    def _check_layout(self, client: Client) -> None:
        if not client.start_msg.same_layout(self.start_msg):
            client.disconnect()  # no block of another layout goes out
            raise NodeStateError(
                f"{self.name}: the RDA server now sends {client.start_msg}, but the node was configured for "
                f"{self.start_msg}; create and configure a new node for the new layout"
            )

    def read(self) -> None:
        """Wait while the client streams; raise its failure; restart it after Recorder's STOP (a pause)."""
        client = self.client
        if not client.wait_until_stopped(0.2):
            return None
        if client.error is not None:
            raise client.error  # lost_errors: reopened with reconnect=True, else the node fails
        if self._paused_at is None:  # the first block after the pause turns it into a gap
            self._paused_at = time.monotonic()
            self._pause_lost = client.start_msg is None  # reconnected, no START yet: still the outage
            logger.info(
                "%s: %s; waiting for the RDA server to start again", self.name, client.stop_reason or "reconnected"
            )
        try:
            client.start_streaming(timeout=0.5)
        except StreamTimeoutError:
            return None
        self._check_layout(client)
        logger.info("%s: the RDA server started again: %s", self.name, client.start_msg)
        return None

    def _send_block(self, index: int, data: np.ndarray, markers: np.ndarray) -> None:
        samples = self.samples
        if self._paused_at is not None:
            # the pause is a gap in the sample indices, so index-derived times (LSL) stay right; done here,
            # in the receiver thread, so that no block of the new run goes out before it
            gap = int(round((time.monotonic() - self._paused_at) * self.sample_rate))
            samples.offset += gap
            if not self._pause_lost:
                samples.next_index += gap  # Recorder was stopped: nothing was acquired, nothing lost
            self._paused_at = None
            logger.info("%s: %d samples of pause before index %d", self.name, gap, samples.offset + index)
        for _, _, end in samples.runs(np.arange(index - len(data), index)):  # blocks the server skipped: lost
            self.outputs["signals"].send(data, index=end)
        if len(markers) and self._send_triggers:
            events = markers_to_events(markers)
            events["index"] += samples.offset
            self.outputs["triggers"].send(events)

    def device_description(self) -> str:
        """Name the RDA server in messages (host and port)."""
        return f"the RDA server at {self.brainamp_host}:{self.brainamp_port}"

    def lost_error(self, exc: BaseException) -> BrokenStreamError:
        """Return the BrokenStreamError a lost connection fails the node with (it says how to reconnect)."""
        return BrokenStreamError(
            f"{self.name}: lost {self.device_description()} ({exc}); stop() and start() the "
            "node to connect again, or configure it with reconnect=True"
        )

    def _close_device(self) -> None:
        if self.client is not None:
            self.client.close()  # kept: stop_reason and the markers stay readable

    def _close(self) -> None:
        super()._close()
        self.client = None

    @property
    def is_streaming(self) -> bool:
        """True while data is being received (False after a failure or a STOP from the server)."""
        return self.client is not None and self.client.is_streaming

    @property
    def stop_reason(self) -> str:
        """Why the data stopped arriving ("" while streaming)."""
        return self.client.stop_reason if self.client is not None else ""
