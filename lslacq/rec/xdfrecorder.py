"""XdfRecorder: record graph streams to one XDF file (LabRecorder's format), crash-safe."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..core.node import Node
from ..core.stream import InputStream
from ..core.workers import Worker
from ..errors import BrokenStreamError, StreamClosedError, StreamTimeoutError
from .deadlines import WriteDeadlines
from .layout import connect_recorded, named_streams
from .xdf_format import channel_format_of, stream_info_xml
from .xdf_writer import XdfWriter

__all__ = ["XdfRecorder"]

logger = logging.getLogger(__name__)


class _IndexClock:
    """Timestamps of a regular stream from its sample indexes: ``t(k) = t_anchor + (k - k_anchor) / rate``."""

    def __init__(self, rate: float, clock: Callable[[], float]):
        self.rate = rate
        self.clock = clock
        self.anchor: tuple[int, float] | None = None
        self.next_index: int | None = None
        self._lock = threading.Lock()

    def times(self, stop: int, n: int) -> np.ndarray:
        start = stop - n
        with self._lock:
            if self.anchor is None or (self.next_index is not None and start < self.next_index):
                self.anchor = (stop - 1, self.clock())  # first chunk, or the source restarted: anchor again
            self.next_index = stop
        return self.time_of(np.arange(start, stop))

    def anchor_if_needed(self, index: int) -> None:
        """Anchor the clock at ``index`` now if it has no anchor (an event of that sample came before any sample)."""
        with self._lock:
            if self.anchor is None:
                self.anchor = (int(index), self.clock())

    def time_of(self, index) -> np.ndarray:
        k, t = self.anchor
        return t + (np.asarray(index, dtype=np.float64) - k) / self.rate


#: bytes of samples per XDF chunk, at most (a batch bigger than that is split)
_BATCH_BYTES = 4_000_000


class _RecordLoop(Worker):
    """The recorder's one thread: every chunk waiting in every input, then a write, on fixed deadlines.

    A recorder needs no low latency, and one wake-up per cycle (instead of
    one per chunk, or per input) is most of its CPU. The cycles follow
    :class:`~lslacq.rec.deadlines.WriteDeadlines`: what arrived is on disk
    at most ``interval`` s later, the cycle's own time and its wake-up's
    lateness included. On stop what is still waiting is received too (the
    node's ``_stop`` writes it).
    """

    def __init__(self, recorder: XdfRecorder, interval: float):
        super().__init__(f"{recorder.name}-xdf", context=f"recording to {recorder.filename}")
        self.recorder = recorder
        self.interval = float(interval)

    def run(self) -> None:
        rec = self.recorder
        deadlines = WriteDeadlines(self.interval)
        while not self.sleep(deadlines.delay()):
            rec._receive_all()
            rec._add_offsets()
            rec.writer.tick()
            deadlines.done()
        rec._receive_all()


class XdfRecorder(Node):
    """Record streams to one XDF file, as LabRecorder does for LSL streams, readable after a crash.

    Each input becomes an XDF stream with a LabRecorder-grade header (name,
    type, channel count and format, nominal rate, source_id, channel labels,
    units and types, manufacturer; taken from the stream spec and its LSL
    identity keys when it has them). Timestamps come from the sample indexes
    through the stream's sample clock: the first chunk anchors index to
    ``clock()`` (default :func:`time.monotonic`, which is LSL's
    ``local_clock`` on Linux and macOS), and every sample is then exactly
    ``1/sample_rate`` after the previous one, so lost samples leave gaps in
    the timestamps. Event streams
    (:data:`~lslacq.core.stream.events.EVENT_DTYPE`) become string marker
    streams (the event's label) stamped with the time of the sample they
    refer to, on the clock of the first recorded signal stream with the
    event stream's ``sample_rate`` (arrival time otherwise; an event that
    arrives before any sample of its signal anchors that signal's clock).

    Crash safety: one thread receives everything waiting in the inputs and
    writes it, in whole chunks, on deadlines that put it on disk at most
    ``flush_interval`` seconds after it arrived, the cycle's own time
    included (:class:`~lslacq.rec.deadlines.WriteDeadlines`: about one
    wake-up per interval, which keeps the recorder's CPU low), so after a
    kill the file loads in pyxdf as it is (no repair needed) missing less
    than the last ``flush_interval``. StreamFooters are written by :meth:`close`; ``lslacq xdf repair``
    adds them to a file whose recorder was killed.

    Parameters
    ----------
    streams : list of streams, or dict {name: stream}
        Streams to record; with a list the XDF streams are named after the
        streams' ``lsl_name`` (else ``input0``, ``input1``...).
    autoconnect : bool
        Connect the inputs now (otherwise connect ``rec.inputs[name]``
        before ``initialize()``).
    filename : str or path
        The ``.xdf`` file to create (never overwritten).
    flush_interval : float
        Longest time (s) received data waits in memory (default 1.0).
    fsync : bool
        Also ``os.fsync`` at each flush.
    clock : callable, optional
        Returns the time (s) that anchors the sample clocks (default
        :func:`time.monotonic`; pass ``pylsl.local_clock`` to be sure to share
        LSL's clock).
    max_buffered : float, optional
        With ``autoconnect``: seconds of data each stream may hold for this
        recorder while it is stalled.
    """

    _input_specs: dict = {}
    _output_specs: dict = {}
    _dynamic_streams = True
    #: longest time (s) between a chunk's arrival and its write (the cycles take every chunk waiting in the
    #: inputs, then write them); None: the flush interval
    receive_interval: float | None = None

    def _configure(
        self,
        streams: Sequence | Mapping = (),
        autoconnect: bool = True,
        filename: str | os.PathLike | None = None,
        flush_interval: float = 1.0,
        fsync: bool = False,
        clock: Callable[[], float] | None = None,
        max_buffered: float | None = None,
    ) -> None:
        if filename is None:
            raise ValueError(f"{self.name}: configure() needs filename=..., the .xdf file to create")
        if os.path.exists(filename):
            raise FileExistsError(
                f"{self.name}: {os.fspath(filename)!r} already exists; XdfRecorder never "
                "overwrites a recording: choose a new filename"
            )
        if not isinstance(flush_interval, (int, float)) or isinstance(flush_interval, bool) or not flush_interval > 0:
            raise ValueError(f"{self.name}: flush_interval must be a number of seconds > 0, got {flush_interval!r}")
        named = named_streams(self.name, streams, "input")
        self.filename = Path(filename)
        self.flush_interval = float(flush_interval)
        self.fsync = bool(fsync)
        self.clock = clock or time.monotonic
        self.inputs = connect_recorded(self, named, autoconnect, max_buffered)
        self.writer: XdfWriter | None = None

    # -- lifecycle -------------------------------------------------------------------
    def _initialize(self) -> None:
        layouts = {name: self._layout(name, inp) for name, inp in self.inputs.items()}
        self.writer = XdfWriter(self.filename, flush_interval=self.flush_interval, fsync=self.fsync)
        self._ids: dict[str, int] = {}
        self._clocks: dict[str, _IndexClock | None] = {}
        for name, (xml, fmt, n_ch, rate) in layouts.items():
            self._ids[name] = self.writer.add_stream(xml, fmt, n_ch, name=name)
            self._clocks[name] = _IndexClock(rate, self.clock) if rate and fmt != "string" else None
        self._reference: dict[str, str | None] = {}
        for name, inp in self.inputs.items():
            if self._is_event(inp):
                rate = inp.params.get("sample_rate")
                self._reference[name] = next(
                    (
                        k
                        for k, c in self._clocks.items()
                        if c is not None and rate and abs(c.rate - float(rate)) <= 1e-9 * c.rate
                    ),
                    None,
                )
        self._warned: set[str] = set()

    @staticmethod
    def _is_event(inp: InputStream) -> bool:
        params = inp.params
        return params.streamtype in ("event", "events") or params.np_dtype.names is not None

    def _layout(self, name: str, inp: InputStream) -> tuple[bytes, str, int, float | None]:
        """Return the XDF header of one input: (xml, channel format, channel count, nominal rate)."""
        params = inp.params
        spec = dict(params.items()) if hasattr(params, "items") else {}
        get = spec.get
        lsl_name = get("lsl_name") or name
        source_id = get("lsl_source_id") or f"{socket.gethostname()}:{self.name}:{name}"
        if self._is_event(inp):
            xml = stream_info_xml(lsl_name, get("lsl_type") or "Markers", 1, 0.0, "string", source_id)
            return xml, "string", 1, None
        frame = tuple(params.frame_shape)
        if len(frame) > 1:
            raise ValueError(
                f"{self.name}: stream {name!r} has frames of shape {frame}; XDF records (time, channel) "
                "signals: record images and video with AviRecorder"
            )
        n_ch = int(frame[0]) if frame else 1
        try:
            fmt = channel_format_of(params.np_dtype)
        except TypeError as exc:
            raise TypeError(f"{self.name}: stream {name!r}: {exc}") from None
        rate = float(get("sample_rate") or 0.0)
        labels, units, types = (list(get(k) or []) for k in ("channel_names", "channel_units", "channel_types"))
        if isinstance(get("channel_units"), str):
            units = [get("channel_units")] * n_ch
        if not units and get("units"):
            units = [str(get("units"))] * n_ch
        labels = labels if len(labels) == n_ch else [f"ch{i}" for i in range(n_ch)]
        units = units if len(units) == n_ch else [""] * n_ch
        types = types if len(types) == n_ch else [""] * n_ch
        kinds = {t for t in types if t}
        kind = get("lsl_type") or (kinds.pop() if len(kinds) == 1 else "")
        xml = stream_info_xml(
            lsl_name, kind, n_ch, rate, fmt, source_id, labels, units, types, manufacturer=get("manufacturer")
        )
        return xml, fmt, n_ch, rate or None

    def _start(self) -> None:
        self._closed_inputs: set[str] = set()
        self._next_offsets = 0.0
        self._add_offsets()
        self.writer.flush()
        self.add_worker(_RecordLoop(self, self.receive_interval or self.flush_interval))

    def _stop(self) -> None:
        try:
            self.writer.flush()
        except OSError as exc:
            self._report_error(exc, context=f"writing {self.filename}")

    def _close(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()  # the StreamFooters
            except OSError as exc:
                self._report_error(exc, context=f"closing {self.filename}")

    def _add_offsets(self) -> None:
        """Every 5 s (as LabRecorder): a ClockOffset of 0 per stream, since all share this recorder's clock."""
        now = self.clock()
        if now < self._next_offsets:
            return
        self._next_offsets = now + 5.0
        for stream_id in self._ids.values():
            self.writer.add_clock_offset(stream_id, now, 0.0)

    # -- the recording thread ----------------------------------------------------------------
    def _receive_all(self) -> None:
        """Hand on every chunk waiting in every input, in batches of at most ``_BATCH_BYTES``.

        Signals first: the events received after them refer to samples already stamped.
        """
        order = sorted(self.inputs.items(), key=lambda item: self._is_event(item[1]))
        for name, inp in order:
            if name in self._closed_inputs:
                continue
            handler = self._on_event_batch if self._is_event(inp) else self._on_sample_batch
            while True:
                batch: list = []
                size = 0
                try:
                    while size < _BATCH_BYTES:
                        try:
                            pos, data = inp.recv(return_data=True, timeout=0)
                        except StreamTimeoutError:
                            break
                        except BrokenStreamError:
                            continue  # already logged and counted by the stream
                        batch.append((pos, data))
                        size += getattr(data, "nbytes", 0)
                except StreamClosedError as exc:  # its source closed: what came before is recorded
                    logger.info("%s: %s", self.name, exc)
                    self._closed_inputs.add(name)
                finally:
                    if batch:
                        handler(name, batch)
                if size < _BATCH_BYTES or name in self._closed_inputs:
                    break

    def _on_sample_batch(self, name: str, batch: list) -> None:
        """Chunks received together: each run of consecutive ones becomes one XDF chunk (copied in once)."""
        run: list = []
        stop = None
        for pos, data in batch:
            n = len(data)
            if run and pos - n != stop:
                self._on_samples(name, stop, run)
                run = []
            if n:
                run.append(np.asarray(data).reshape(n, -1))
                stop = pos
        if run:
            self._on_samples(name, stop, run)

    def _on_event_batch(self, name: str, batch: list) -> None:
        records = [np.asarray(data).reshape(-1) for _, data in batch]
        self._on_events(name, batch[-1][0], records[0] if len(records) == 1 else np.concatenate(records))

    def _on_samples(self, name: str, pos: int, pieces: list) -> None:
        """Consecutive chunks ending at index ``pos``: one XDF chunk."""
        n = sum(len(p) for p in pieces)
        if not n:
            return
        clock = self._clocks[name]
        times = clock.times(pos, n) if clock is not None else np.full(n, self.clock())
        self.writer.add_samples(self._ids[name], pieces, times)

    def _on_events(self, name: str, pos: int, data: np.ndarray) -> None:
        from ..core.stream.events import as_event_indexes, event_labels

        records = np.asarray(data).reshape(-1)
        if not len(records):
            return
        ref = self._reference.get(name)
        clock = self._clocks.get(ref) if ref else None
        if clock is not None:
            indexes = as_event_indexes(records)
            clock.anchor_if_needed(int(indexes[-1]))
            times = clock.time_of(indexes)
        else:
            if name not in self._warned:
                self._warned.add(name)
                logger.info(
                    "%s: events of %r are stamped on arrival (no recorded signal stream with their "
                    "sample_rate has data yet)",
                    self.name,
                    name,
                )
            times = np.full(len(records), self.clock())
        labels = event_labels(records) if records.dtype.names else [str(int(x)) for x in records]
        self.writer.add_samples(self._ids[name], [[label] for label in labels], times)

    def counters(self) -> dict:
        """Node counters plus ``samples_written`` (queued for the file) and ``bytes_written`` (on disk)."""
        counters = super().counters()
        writer = self.writer
        counters["samples_written"] = writer.samples_written if writer is not None else 0
        counters["bytes_written"] = writer.bytes_written if writer is not None else 0
        return counters
