"""LslOutlet: publish a graph stream as an LSL outlet (graph -> LSL).

Signals become a regular-rate LSL stream whose metadata LabRecorder and XDF
readers understand; event streams (records of :data:`lslacq.core.stream.events.EVENT_DTYPE`
or pyacq-style integer index arrays) become irregular-rate marker streams
with one sample and one timestamp per event.

Timestamps
----------
* Regular streams: ``t(k) = t_anchor + (k - k_anchor) / sample_rate`` for the
  absolute sample index ``k``, anchored on ``pylsl.local_clock()`` when the
  first chunk arrives (its newest sample is taken to be "now"). Consecutive
  chunks are exactly ``1/sample_rate`` apart, whatever the delivery jitter; a
  gap in the indexes (lost samples upstream) is a gap in time.
* With ``timestamps_input=True`` the node has a second input ``timestamps``;
  connect it to an :class:`~lslacq_lsl.LslInlet`'s ``timestamps`` output and
  the original LSL timestamps are passed through unchanged (matched by
  sample index, so nodes in between must keep indexes, as filters do).
* Events: the timestamp of the signal sample the event refers to. Give
  ``reference`` (the name or source_id of the LslOutlet publishing that
  signal, in the same process) to use its clock; or a ``timestamps`` input;
  otherwise the marker outlet anchors its own clock on the first event using
  the ``sample_rate`` of the event stream's spec (or stamps events on arrival
  when it has none).
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pylsl

from lslacq.core.configargs import Arg
from lslacq.core.node import Node
from lslacq.core.stream.merging import deliver_merged
from lslacq.core.tools import join_thread
from lslacq.errors import StreamClosedError, StreamTimeoutError

from ._liblsl import ChunkPusher
from .clock import SampleClock, get_clock, register_clock, unregister_clock
from .metadata import build_stream_info, channel_format_for_dtype, dtype_for_channel_format, stable_source_id

__all__ = ["LslOutlet"]

logger = logging.getLogger(__name__)

_EVENT_STREAMTYPES = ("event", "events")


class LslOutlet(Node):
    """Publish the ``signals`` input as an LSL stream.

    Configure with :meth:`configure` (all arguments optional):

    Parameters
    ----------
    name : str
        LSL stream name (default: the node name).
    type : str
        LSL content type (default ``'EEG'``, ``'Markers'`` for event streams).
    source_id : str
        Stable source id (default derived from node name, stream name and
        host, so LabRecorder picks a restarted outlet up again).
    channel_names, channel_units, channel_types : list of str or str
        Default: ``channel_names`` / ``channel_units`` (or ``units``) /
        ``channel_types`` of the input stream's spec.
    chunk_size : int
        liblsl transmission chunk size in samples (default: one chunk per push).
    max_buffered : float
        Seconds of data liblsl keeps for slow consumers (default 360).
    manufacturer, model, serial_number : str
        ``desc/acquisition`` metadata (default from the input spec's keys of
        the same names).
    nominal_srate : float
        Override the input's ``sample_rate``.
    marker_format : {'string', 'int32'}
        Channel format of event streams: the event label (description, else
        type, else code) or its integer ``code``.
    timestamps_input : bool
        Add a ``timestamps`` input whose values replace the computed
        timestamps (connect an LslInlet's ``timestamps`` output).
    reference : str
        For event streams: name or source_id of the LslOutlet (same process)
        whose sample clock the event indexes refer to.
    extra_desc : dict
        More ``desc`` elements (nested dicts become nested elements).
    push_interval : float
        Seconds between pushes to liblsl (default 0: push every chunk as
        soon as it arrives). Chunks arriving meanwhile are merged into one
        push, which saves CPU (in this node and in liblsl's sender thread) at
        high chunk rates, at the cost of up to ``push_interval`` s of added
        latency. Chunks that queued up while the node was busy are always
        merged (up to ``max_push_samples``), whatever this setting.
    max_clock_drift : float or None
        Seconds the index-derived timestamps may drift from the LSL clock
        (a source whose real rate is off its nominal rate) before they are
        shifted back; None never corrects. See :class:`SampleClock`.

    Attributes
    ----------
    n_pushed : int
        Samples (or events) pushed to LSL.
    clock : SampleClock or None
        The sample clock of a regular stream.
    """

    _input_specs = {"signals": {}}
    _output_specs: dict = {}
    _dynamic_streams = True
    #: largest merged push, in samples (catch-up batching and ``push_interval``)
    max_push_samples: int = 65536

    #: types and ranges of the configure() arguments (checked by configure() and `lslacq check`)
    configure_args = {
        "name": Arg(str, doc="LSL stream name"),
        "type": Arg(str, doc="LSL content type, e.g. 'EEG'"),
        "source_id": Arg(str),
        "chunk_size": Arg(int, ge=0, doc="samples per LSL chunk, 0 for the incoming chunks"),
        "max_buffered": Arg(float, gt=0, doc="seconds"),
        "manufacturer": Arg(str),
        "model": Arg(str),
        "serial_number": Arg(str),
        "nominal_srate": Arg(float, ge=0, doc="Hz, 0 for an irregular stream"),
        "marker_format": Arg(str, choices=("string", "int32")),
        "timestamps_input": Arg(bool),
        "reference": Arg(str, doc="name of the LslOutlet whose clock events use"),
        "extra_desc": Arg(dict),
        "max_clock_drift": Arg(float, gt=0, none=True, doc="seconds, None never corrects"),
        "push_interval": Arg(float, ge=0, doc="seconds, 0 to push every chunk"),
    }

    def __init__(self, name: str = "", parent=None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        self.n_pushed = 0
        self.clock: SampleClock | None = None
        self.outlet: pylsl.StreamOutlet | None = None
        self.info: pylsl.StreamInfo | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._reference_clock: SampleClock | None = None
        self._last_index: int | None = None
        self._last_ts: float | None = None
        self._pusher: ChunkPusher | None = None

    def _configure(
        self,
        name: str | None = None,
        type: str | None = None,
        source_id: str | None = None,
        channel_names=None,
        channel_units=None,
        channel_types=None,
        chunk_size: int | None = None,
        max_buffered: float = 360,
        manufacturer: str | None = None,
        model: str | None = None,
        serial_number: str | None = None,
        nominal_srate: float | None = None,
        marker_format: str = "string",
        timestamps_input: bool = False,
        reference: str | None = None,
        extra_desc: dict | None = None,
        max_clock_drift: float | None = 0.02,
        push_interval: float = 0.0,
    ) -> None:
        if marker_format not in ("string", "int32"):
            raise ValueError(f"{self.name}: marker_format must be 'string' or 'int32', got {marker_format!r}")
        if chunk_size is not None and int(chunk_size) < 0:
            raise ValueError(f"{self.name}: chunk_size must be >= 0 samples, got {chunk_size!r}")
        if nominal_srate is not None and nominal_srate < 0:
            raise ValueError(f"{self.name}: nominal_srate must be >= 0 Hz, got {nominal_srate!r}")
        self.stream_name = name or self.name
        self.stream_type = type
        self.source_id = source_id
        self._user_meta = dict(
            channel_names=channel_names,
            channel_units=channel_units,
            channel_types=channel_types,
            manufacturer=manufacturer,
            model=model,
            serial_number=serial_number,
        )
        self.chunk_size = int(chunk_size or 0)
        self.max_buffered = max_buffered
        self.nominal_srate = nominal_srate
        self.marker_format = marker_format
        self.reference = reference
        self.extra_desc = extra_desc
        if max_clock_drift is not None and max_clock_drift <= 0:
            raise ValueError(f"{self.name}: max_clock_drift must be > 0 s or None, got {max_clock_drift!r}")
        self.max_clock_drift = max_clock_drift
        if not isinstance(push_interval, (int, float)) or not push_interval >= 0:
            raise ValueError(
                f"{self.name}: push_interval must be a number of seconds >= 0 (0: push every chunk "
                f"as it arrives), got {push_interval!r}"
            )
        self.push_interval = float(push_interval)
        self.timestamps_input = bool(timestamps_input)
        if self.timestamps_input and "timestamps" not in self.inputs:
            from lslacq.core.stream import InputStream

            self.inputs["timestamps"] = InputStream(spec={}, node=self, name="timestamps")

    # -- input inspection ---------------------------------------------------
    def after_input_connect(self, inputname: str) -> None:
        """Read the LSL channel format and count from the connected ``signals`` stream.

        Events (a structured dtype, or an event stream type) become a
        one-channel marker stream in ``marker_format``.

        Parameters
        ----------
        inputname : str
            The input just connected (only ``'signals'`` is inspected).
        """
        if inputname != "signals":
            return
        params = self.inputs["signals"].params
        dtype = params.np_dtype
        self.is_events = dtype.names is not None or params.streamtype in _EVENT_STREAMTYPES
        if self.is_events:
            if dtype.names is not None and "index" not in dtype.names:
                raise ValueError(
                    f"{self.name}: event records need an 'index' field (fields: {dtype.names}); "
                    "use lslacq.core.stream.events.EVENT_DTYPE"
                )
            self.n_channels = 1
            self.channel_format = self.marker_format
        else:
            frame = params.frame_shape
            self.n_channels = int(np.prod(frame)) if frame else 1
            self.channel_format = channel_format_for_dtype(dtype)
        self.lsl_dtype = dtype_for_channel_format(self.channel_format)

    def check_input_specs(self) -> None:
        """Raise ValueError if the inputs cannot be published.

        A regular stream needs a sample rate (its own or ``nominal_srate``);
        the ``timestamps`` input, if used, must carry floats.
        """
        params = self.inputs["signals"].params
        srate = self.nominal_srate if self.nominal_srate is not None else params.sample_rate
        if not self.is_events and srate is None:
            raise ValueError(
                f"{self.name}: the input stream has no sample_rate; configure the LslOutlet with "
                "nominal_srate=... (or 0 for an irregular stream)"
            )
        if self.timestamps_input:
            ts_params = self.inputs["timestamps"].params
            if ts_params.np_dtype.kind != "f":
                raise ValueError(
                    f"{self.name}: the timestamps input must carry float timestamps, got dtype "
                    f"{ts_params.np_dtype}; connect it to an LslInlet's 'timestamps' output"
                )

    # -- lifecycle ------------------------------------------------------------
    def _initialize(self) -> None:
        params = self.inputs["signals"].params
        meta = {k: v for k, v in self._user_meta.items()}
        if self.is_events:  # configure() may have come after connect(): take marker_format now
            self.channel_format = self.marker_format
            self.lsl_dtype = dtype_for_channel_format(self.channel_format)
        if self.is_events:
            srate = pylsl.IRREGULAR_RATE
            stream_type = self.stream_type or "Markers"
            meta["channel_names"] = meta["channel_names"] or ["marker"]
        else:
            srate = float(self.nominal_srate if self.nominal_srate is not None else params.sample_rate)
            stream_type = self.stream_type or "EEG"
            for key in ("channel_names", "channel_units", "channel_types"):
                if meta[key] is None:
                    meta[key] = params.get(key) or None
            if meta["channel_units"] is None and params.get("units"):
                meta["channel_units"] = params.get("units")
            if meta["channel_types"] is None:
                meta["channel_types"] = stream_type
        for key in ("manufacturer", "model", "serial_number"):
            if meta[key] is None and params.get(key):
                meta[key] = str(params.get(key))
        names = meta["channel_names"]
        if names is not None and len(names) != self.n_channels:
            raise ValueError(f"{self.name}: {len(names)} channel_names for {self.n_channels} channels")
        self.sample_rate = srate
        self.source_id = self.source_id or stable_source_id(self.name, self.stream_name, stream_type)
        self.info = build_stream_info(
            self.stream_name,
            stream_type,
            self.n_channels,
            srate,
            self.channel_format,
            self.source_id,
            extra_desc=self.extra_desc,
            **meta,
        )
        self.outlet = pylsl.StreamOutlet(self.info, chunk_size=self.chunk_size, max_buffered=self.max_buffered)
        self._pusher = ChunkPusher(self.outlet, self.channel_format) if self.channel_format != "string" else None
        if srate:
            self.clock = SampleClock(srate, max_drift=self.max_clock_drift)
            for key in (self.source_id, self.name, self.stream_name):
                register_clock(key, self.clock)
        elif self.is_events and params.sample_rate:
            self.clock = SampleClock(params.sample_rate, max_drift=None)  # marker clock of last resort
        if self.timestamps_input:
            ts_in = self.inputs["timestamps"]
            ts_in.set_buffer(size=max(int((params.sample_rate or 1000) * 60), 100_000), double=False)
        logger.info(
            "%s: LSL outlet %r (%s, %d ch %s, %s) source_id=%r",
            self.name,
            self.stream_name,
            stream_type,
            self.n_channels,
            self.channel_format,
            f"{srate:g} Hz" if srate else "irregular",
            self.source_id,
        )

    def _start(self) -> None:
        self._stop_event.clear()
        if self.clock is not None:
            self.clock.reset()  # the first chunk after (re)start anchors the time axis again
        self._last_index = None
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-lsl-outlet", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        self._stop_event.set()
        join_thread(self._thread, 10, f"{self.name}: push thread", logger)
        self._thread = None

    def _close(self) -> None:
        if self.clock is not None:
            for key in (self.source_id, self.name, self.stream_name):
                unregister_clock(key, self.clock)
        self._pusher = None
        self.outlet = None  # liblsl destroys the outlet (consumers see it vanish)

    # -- LSL side helpers ---------------------------------------------------------
    def have_consumers(self) -> bool:
        """Return True if at least one LSL inlet (LabRecorder, a viewer...) is connected."""
        return bool(self.outlet is not None and self.outlet.have_consumers())

    def wait_for_consumers(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for an LSL consumer; return whether one connected."""
        if self.outlet is None:
            raise StreamClosedError(f"{self.name}: the outlet exists from initialize() until close()")
        return bool(self.outlet.wait_for_consumers(timeout))

    # -- push thread ----------------------------------------------------------------
    def _run(self) -> None:
        signals = self.inputs["signals"]
        stop = self._stop_event
        deliver = self._push_events if self.is_events else self._push_signal
        interval = self.push_interval
        next_push = 0.0
        try:
            while not stop.is_set():
                if interval:
                    delay = next_push - time.monotonic()
                    if delay > 0 and stop.wait(delay):
                        break
                if not signals.poll(timeout=100):
                    continue
                index, data = signals.recv(return_data=True)
                if data is None or len(data) == 0:
                    continue
                deliver_merged(signals, index, data, self.max_push_samples, deliver)
                if interval:
                    next_push = time.monotonic() + interval
        except StreamClosedError as exc:
            if not stop.is_set():
                logger.info("%s: input closed (%s); outlet stays open", self.name, exc)
        except Exception as exc:
            self._report_error(exc, context="pushing to LSL")

    def counters(self) -> dict:
        """Node counters; ``samples_out`` counts the samples (or events) pushed to LSL."""
        counters = super().counters()
        counters["samples_out"] = self.n_pushed
        return counters

    def _timestamps_from_input(self, start: int, stop: int) -> np.ndarray:
        ts_in = self.inputs["timestamps"]
        buf = ts_in.buffer
        while buf.index() < stop:
            if self._stop_event.is_set():
                raise StreamClosedError(f"{self.name}: stopped while waiting for timestamps")
            try:
                ts_in.recv(timeout=1000)
            except StreamTimeoutError:
                raise StreamTimeoutError(
                    f"{self.name}: the timestamps input has no timestamp for sample {stop - 1} after 1 s "
                    f"(it is at {buf.index()}); connect it to the same LslInlet as the signal"
                ) from None
        return np.asarray(ts_in.get_data(start, stop, copy=True), dtype=np.float64).reshape(-1)

    def _push_signal(self, index: int, data: np.ndarray) -> None:
        n = data.shape[0]
        start = index - n
        chunk = np.ascontiguousarray(data.reshape(n, self.n_channels), dtype=self.lsl_dtype)
        if self.timestamps_input:
            self._pusher.push_stamped(chunk, self._timestamps_from_input(start, index))
        elif self.clock is None:  # irregular-rate numeric stream: stamped on arrival
            self._pusher.push(chunk, pylsl.local_clock())
        else:
            clock = self.clock
            if self._last_index is not None and start < self._last_index:
                logger.info(
                    "%s: sample index went back from %d to %d (the source restarted); re-anchoring the timestamps",
                    self.name,
                    self._last_index,
                    start,
                )
                clock.reset()
            if not clock.anchored:
                now = pylsl.local_clock()
                if self._last_ts is not None:  # never go back in time across a re-anchoring
                    now = max(now, self._last_ts + n / clock.sample_rate)
                clock.anchor(index - 1, now)
            # one explicit timestamp (of the newest sample): liblsl derives the others at exactly 1/srate
            self._last_ts = clock.time_of_index(index - 1)
            self._pusher.push(chunk, self._last_ts)
            clock.observe(index)
        self._last_index = index
        self.n_pushed += n

    def _event_times(self, indexes: np.ndarray) -> np.ndarray:
        if self.timestamps_input:
            # the timestamps input is the signal's: event index k -> timestamp of sample k
            ts_in = self.inputs["timestamps"]
            stop = int(indexes.max()) + 1
            while ts_in.buffer.index() < stop and ts_in.poll(timeout=1000):
                ts_in.recv()
            first = ts_in.buffer.first_index()
            if indexes.min() >= first and stop <= ts_in.buffer.index():
                window = np.asarray(ts_in.get_data(int(indexes.min()), stop, copy=True)).reshape(-1)
                return window[indexes - int(indexes.min())]
            logger.warning("%s: no timestamps for event indexes %s; stamping them on arrival", self.name, indexes)
            return np.full(len(indexes), pylsl.local_clock())
        clock = self._reference_clock
        if clock is None and self.reference:
            clock = self._reference_clock = get_clock(self.reference)  # kept even if that outlet closes first
        if clock is not None and clock.anchored:
            return np.asarray(clock.time_of(indexes), dtype=np.float64)
        if self.reference and clock is None:
            logger.warning(
                "%s: no LslOutlet %r in this process to take event times from; using this node's own clock",
                self.name,
                self.reference,
            )
            self.reference = None
        if self.clock is not None:
            if not self.clock.anchored:
                self.clock.anchor(int(indexes[0]))
            return np.asarray(self.clock.time_of(indexes), dtype=np.float64)
        return np.full(len(indexes), pylsl.local_clock())

    def _push_events(self, index: int, data: np.ndarray) -> None:
        from lslacq.core.stream.events import as_event_indexes, event_labels

        events = np.asarray(data).reshape(-1)
        indexes = as_event_indexes(events)
        times = self._event_times(indexes)
        if self.marker_format == "string":
            labels = event_labels(events) if events.dtype.names else ["event"] * len(events)
            for label, t in zip(labels, times, strict=True):
                self.outlet.push_sample([label], float(t))
        else:
            if events.dtype.names and "code" in events.dtype.names:
                codes = events["code"].astype(np.int32)
            else:
                codes = np.ones(len(events), dtype=np.int32)
            self._pusher.push_stamped(np.ascontiguousarray(codes.reshape(-1, 1)), times)
        self.n_pushed += len(events)
