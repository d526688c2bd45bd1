"""LslInlet: bring an LSL stream into a graph (LSL -> graph).

The stream is resolved in :meth:`LslInlet.configure` (so the output specs are
known before the outputs are configured, as pyacq requires). Two outputs:

* ``signals``: the samples, ``(n, channel_count)`` in the stream's dtype, with
  ``sample_rate``, ``channel_names``/``channel_units``/``channel_types`` and
  the LSL identity (``lsl_name``, ``lsl_type``, ``lsl_source_id``,
  ``lsl_hostname``) in the spec. String (marker) streams become event
  streams of :data:`lslacq.core.stream.events.EVENT_DTYPE` records: ``index`` is the
  marker's position in this stream, ``description`` its text (ASCII, cut to
  32 bytes), ``code`` its integer value when the text is a number,
  ``type`` ``b'marker'``.
* ``timestamps`` (optional: leave it unconfigured if unused): one float64
  LSL timestamp per sample of ``signals``, with the same indexes (connect it
  to an LslOutlet's ``timestamps`` input to republish with the original
  times, or buffer it next to the signal).

When the outlet disappears, liblsl keeps the inlet and reconnects when an
outlet with the same source_id comes back; the node notices the silence
(``stall_timeout``) and the jump in timestamps when data resumes, logs both,
and counts them in :attr:`LslInlet.n_gaps` / :attr:`LslInlet.gaps`. The
output indexes skip the samples missing in a gap (estimated from the LSL
timestamps), so a recorder sees the gap as a discontinuity and marker indexes
stay on the signal's time axis. Streams
without a source_id cannot be recovered by liblsl; the node then resolves the
same query again and opens a new inlet (:attr:`LslInlet.reconnects`). The
pull loop is the device read loop of :class:`lslacq.devices.reader.BlockingDevice`.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import time

import numpy as np
import pylsl

from lslacq.core.configargs import Arg
from lslacq.devices.reader import BlockingDevice
from lslacq.errors import LslacqError, StreamTimeoutError

from ._liblsl import ChunkPuller
from ._pylsl import LostError, LslTimeoutError
from .metadata import StreamDescription, describe_stream
from .resolve import build_predicate, resolve_stream
from .stream_watcher import processing_flags

__all__ = ["LslInlet", "Gap"]

logger = logging.getLogger(__name__)


_time_maps: dict[str, LslInlet] = {}
_time_maps_lock = threading.Lock()
#: seconds a marker inlet holds markers that came before its reference inlet's first sample
_REFERENCE_WAIT_S = 5.0


@dataclasses.dataclass(frozen=True)
class Gap:
    """A hole in an LSL stream seen by an LslInlet.

    Attributes
    ----------
    index : int
        Output index of the first sample after the gap (the output indexes
        skip the ``missing`` samples).
    duration : float
        Seconds between the last sample before and the first after the gap
        (LSL timestamps), minus one sample period.
    missing : int
        Estimated samples that never arrived (``duration * sample_rate``).
    """

    index: int
    duration: float
    missing: int


class _BufferPool:
    """Pull buffers that are reused once nothing else references them.

    A chunk sent downstream is a view of its pull buffer (no copy), held by
    the readers until they are done with it; a new buffer per pull would be
    fresh memory each time (a page fault per 4 kB, more kernel CPU than the
    pull). A buffer whose only references are the pool's is free again.
    """

    def __init__(self, shape: tuple, dtype: np.dtype, size: int = 16):
        self.shape = shape
        self.dtype = dtype
        self.size = size
        self.buffers: list[np.ndarray] = []
        self._next = 0

    def take(self) -> np.ndarray:
        """Return a buffer nobody else holds (a new one if all are in use)."""
        buffers = self.buffers
        for k in range(len(buffers)):
            i = (self._next + k) % len(buffers)
            # references: the list's and getrefcount's argument: nothing outside the pool holds it
            if sys.getrefcount(buffers[i]) <= 2:
                self._next = i + 1
                return buffers[i]
        buf = np.empty(self.shape, dtype=self.dtype)
        if len(buffers) < self.size:
            buffers.append(buf)
        return buf


class _NotBackYet(LslacqError):
    """A lost stream is not found again yet (the reconnection goes on)."""


class LslInlet(BlockingDevice):
    """Read an LSL stream into the ``signals`` and ``timestamps`` outputs.

    Configure with :meth:`configure`:

    Parameters
    ----------
    name, type, source_id : str, optional
        Stream properties to match (at least one of these or ``predicate``).
    predicate : str, optional
        Extra XPath predicate, e.g. ``"starts-with(name, 'EEG')"``.
    resolve_timeout : float
        Seconds to wait for the stream in ``configure`` (default 5).
    max_buflen : int
        liblsl queue length in seconds (x100 samples for irregular streams).
    clocksync, dejitter, monotonize : bool
        liblsl post-processing of timestamps (clocksync and dejitter on by default).
    max_chunk : int, optional
        Largest chunk sent downstream, in samples (default 1024; with
        ``pull_interval``, default: each pull is one chunk).
    pull_interval : float
        Seconds between pulls of a numeric stream. 0 (the default) waits for
        each chunk as it arrives (lowest latency: a wake-up per LSL chunk);
        > 0 takes everything queued every ``pull_interval`` seconds (few
        wake-ups, big chunks: what a recorder wants, e.g. 0.5 as LabRecorder;
        ``lslacq record -o DIR`` uses 0.1). Data then reaches the outputs up
        to ``pull_interval`` late.
    stall_timeout : float
        Seconds without data (on a regular stream) before the outlet is
        reported as gone (default 2).
    reference : str, optional
        For marker (string) streams: the node name or LSL source_id of an
        LslInlet in this process reading a regular signal. Each marker's
        event ``index`` is then the index, in that inlet's ``signals``
        output, of the sample nearest to the marker's timestamp, so
        TriggerAccumulator & co. can cut epochs of LSL EEG at LSL markers.
        Markers that come before that inlet's first sample are held (see
        :attr:`held_markers`) until it has one, for up to 5 s; after that
        they take their position in the marker stream, with a warning.
    """

    # paced by the LSL outlet it reads: never waits for a reader (BlockingDevice)
    lost_errors = (LostError,)
    open_errors = (_NotBackYet, StreamTimeoutError)
    read_context = "pulling from LSL"
    reconnect = True  # a stream liblsl cannot recover is resolved again, always
    reconnect_interval = 0.0  # each attempt waits up to 1 s for the stream itself
    restarts_count = False  # the output indexes go on across stop/start (the LSL stream's own samples)

    _input_specs: dict = {}
    _output_specs = {"signals": {}, "timestamps": {"optional": True}}

    #: types and ranges of the configure() arguments (checked by configure() and `lslacq check`)
    configure_args = {
        "name": Arg(str, doc="LSL stream name"),
        "type": Arg(str, doc="LSL content type"),
        "source_id": Arg(str),
        "predicate": Arg(str, doc="an XPath predicate, e.g. \"name='EEG' and type='EEG'\""),
        "resolve_timeout": Arg(float, gt=0, doc="seconds"),
        "max_buflen": Arg(int, ge=1, doc="seconds (irregular streams: samples x 100) liblsl buffers"),
        "clocksync": Arg(bool),
        "dejitter": Arg(bool),
        "monotonize": Arg(bool),
        "max_chunk": Arg(int, ge=1, doc="samples per pull"),
        "pull_interval": Arg(float, ge=0, doc="seconds between pulls (0: wait for each chunk)"),
        "stall_timeout": Arg(float, gt=0, doc="seconds"),
        "reference": Arg(str, doc="name of the LslInlet whose clock markers use"),
    }

    def __init__(self, name: str = "", parent=None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        self.inlet: pylsl.StreamInlet | None = None
        self._puller: ChunkPuller | None = None  # holds the inlet too: cleared with it
        self.description: StreamDescription | None = None
        self.n_received = 0
        self._index = 0  # output index: n_received plus the samples missing in gaps
        self.n_gaps = 0
        self.gaps: list[Gap] = []
        self.n_stalls = 0
        self.n_truncated_markers = 0
        self._last_t: float | None = None
        self._stalled = False
        self._time_ref: tuple[int, float] | None = None
        self._reference_warned = False
        self._held_markers: list[tuple[list, list]] = []  # markers waiting for the reference's first sample
        self._held_since: float | None = None
        self._reference_given_up = False
        self._latency: float | None = None
        self._send_timestamps = False

    def _configure(
        self,
        name: str | None = None,
        type: str | None = None,
        source_id: str | None = None,
        predicate: str | None = None,
        resolve_timeout: float = 5.0,
        max_buflen: int = 360,
        clocksync: bool = True,
        dejitter: bool = True,
        monotonize: bool = False,
        max_chunk: int | None = None,
        stall_timeout: float = 2.0,
        reference: str | None = None,
        pull_interval: float = 0.0,
    ) -> None:
        if not any((name, type, source_id, predicate)):
            raise ValueError(
                f"{self.name}: say which LSL stream to read: configure(name=..., type=..., "
                "source_id=... or predicate=...)"
            )
        if max_chunk is not None and int(max_chunk) < 1:
            raise ValueError(f"{self.name}: max_chunk must be >= 1 sample, got {max_chunk!r}")
        if stall_timeout <= 0:
            raise ValueError(f"{self.name}: stall_timeout must be > 0 s, got {stall_timeout!r}")
        if not 0 <= pull_interval <= 1:
            raise ValueError(
                f"{self.name}: pull_interval must be between 0 and 1 s, got {pull_interval!r} (0: wait "
                "for each chunk; 0.5 suits a recorder, as LabRecorder)"
            )
        self.pull_interval = float(pull_interval)
        self.query = {
            k: v
            for k, v in dict(name=name, type=type, source_id=source_id, predicate=predicate).items()
            if v is not None
        }
        self.resolve_timeout = resolve_timeout
        self.max_buflen = max_buflen
        self.flags = processing_flags(clocksync, dejitter, monotonize)
        self.max_chunk = 1024 if max_chunk is None else int(max_chunk)
        self._split = self.max_chunk if max_chunk is not None or not pull_interval else None
        self.stall_timeout = float(stall_timeout)
        self.reference = reference
        if self.inlet is not None:  # configured again: drop the previous stream
            self.inlet.close_stream()
            self.inlet = self._puller = None
        self.description = None
        self._open_inlet(resolve_stream(timeout=resolve_timeout, **self.query))
        self._set_output_specs()

    def _open_inlet(self, info: pylsl.StreamInfo) -> None:
        inlet = pylsl.StreamInlet(info, max_buflen=self.max_buflen, recover=True, processing_flags=self.flags)
        try:
            full = inlet.info(timeout=self.resolve_timeout)
        except LslTimeoutError:
            raise StreamTimeoutError(
                f"{self.name}: LSL stream {describe_stream(info).summary()} was found but its host did not answer "
                f"within {self.resolve_timeout:g} s; check the network between the hosts"
            ) from None
        description = describe_stream(full)
        if self.description is not None and (description.channel_count, description.channel_format) != (
            self.description.channel_count,
            self.description.channel_format,
        ):
            raise LslacqError(
                f"{self.name}: the LSL stream came back as {description.summary()}, which no longer matches "
                f"{self.description.summary()}; reconfigure the graph"
            )
        self.inlet = inlet
        self.description = description
        self.is_markers = description.channel_format == "string"
        self._n_ch = description.channel_count
        self._dtype = description.dtype
        self._puller = None if self.is_markers else ChunkPuller(inlet, self._n_ch, description.channel_format)

    def _set_output_specs(self) -> None:
        from lslacq.core.stream.events import EVENT_DTYPE

        d = self.description
        common = dict(
            lsl_name=d.name,
            lsl_type=d.type,
            lsl_source_id=d.source_id,
            lsl_hostname=d.hostname,
            lsl_channel_format=d.channel_format,
        )
        srate = None if d.irregular else d.nominal_srate
        sig = self.outputs["signals"].spec
        if self.is_markers:
            sig.update(streamtype="event", dtype=EVENT_DTYPE.descr, shape=(-1,), **common)
        else:
            sig.update(
                streamtype="analogsignal",
                dtype=self._dtype.str,
                shape=(-1, d.channel_count),
                channel_names=list(d.channel_names),
                channel_units=list(d.channel_units),
                channel_types=list(d.channel_types),
                **common,
            )
            if d.manufacturer:
                sig["manufacturer"] = d.manufacturer
        if srate:
            sig["sample_rate"] = srate
        ts = self.outputs["timestamps"].spec
        ts.update(streamtype="analogsignal", dtype="float64", shape=(-1,), units="s", **common)
        if srate:
            ts["sample_rate"] = srate

    # -- lifecycle (BlockingDevice hooks) ------------------------------------------
    @property
    def n_reconnects(self) -> int:
        """Times a stream liblsl could not recover was resolved again (the device counter ``reconnects``)."""
        return self.reconnects

    def _start(self) -> None:
        self._send_timestamps = self.outputs["timestamps"].configured
        self._latency = None
        if not self.is_markers:
            self._data = np.empty((self.max_chunk, self._n_ch), dtype=self._dtype)
            self._ts = np.empty(self.max_chunk, dtype=np.float64)
        # pull_interval: room for two intervals of data per pull (more waiting is taken by the next, at once)
        rate = 0.0 if self.is_markers else self.description.nominal_srate
        self._pull_rows = max(self.max_chunk, int(2 * self.pull_interval * rate) + 1)
        self._pool = None if self.is_markers else _BufferPool((self._pull_rows, self._n_ch), self._dtype)
        self._next_pull = 0.0
        self._behind = False
        self._last_data = time.monotonic()
        super()._start()
        self._reader = self.workers[-1]  # the DeviceReader: its sleep() wakes on stop()

    def _open(self, reopening: bool = False) -> None:
        if reopening:
            found = pylsl.resolve_bypred(build_predicate(**self.query), 1, 1.0)
            if not found:
                raise _NotBackYet(f"{self.name}: LSL stream {self.description.name!r} is not back yet")
            self._open_inlet(found[0])
        # subscribe now: every sample pushed after start() returns reaches the outputs
        self.inlet.open_stream(timeout=self.resolve_timeout)
        self._last_data = time.monotonic()
        if not reopening and not self.description.irregular:
            with _time_maps_lock:
                for key in (self.name, self.description.source_id):
                    if key:
                        _time_maps[key] = self

    def _stop(self) -> None:
        pass  # the inlet stays subscribed to its stream until close(): start() again reads on

    def _close_device(self) -> None:
        self.inlet = self._puller = None  # a lost inlet (before it is resolved again); close() closes a live one

    def _close(self) -> None:
        with _time_maps_lock:
            for key in [k for k, v in _time_maps.items() if v is self]:
                del _time_maps[key]
        inlet, self.inlet, self._puller = self.inlet, None, None
        if inlet is not None:
            inlet.close_stream()

    def device_description(self) -> str:
        """Name the stream in messages: its LSL name and source_id."""
        return f"LSL stream {self.description.name!r} (source_id {self.description.source_id!r})"

    def lost_error(self, exc: BaseException) -> BaseException:
        """Count a stall and return the error a lost inlet raises (the node resolves the stream again).

        Parameters
        ----------
        exc : BaseException
            What liblsl raised.

        Returns
        -------
        LslacqError
            The error naming the stream.
        """
        if not self._stalled:
            self._stalled = True
            self.n_stalls += 1
        return LslacqError(
            f"{self.name}: {self.device_description()} was lost and cannot be recovered by liblsl; resolving it again"
        )

    def gap_rate(self) -> float:
        """Return 0: the gap is not derived from a rate but measured on the LSL timestamps."""
        return 0.0  # the gap is measured on the LSL timestamps when data resumes (_check_gap)

    @property
    def stalled(self) -> bool:
        """True while a regular stream has sent nothing for ``stall_timeout`` seconds."""
        return self._stalled

    # -- the reader thread ------------------------------------------------------------
    def read(self):
        """Wait up to 0.1 s for data (with ``pull_interval``: until the next pull).

        Returns
        -------
        tuple or None
            ``(samples, LSL timestamps)``, or None if nothing came (a stall is
            noticed and logged once after ``stall_timeout`` s).
        """
        if self.is_markers:
            pulled = self._release_held(self._pull_markers(0.1))
        elif self.pull_interval:
            pulled = self._pull_queued()
        else:
            pulled = self._pull_numeric(0.1)
        if pulled is not None:
            self._last_data = time.monotonic()
            return pulled
        silent_for = time.monotonic() - self._last_data
        if not self.description.irregular and not self._stalled and silent_for >= self.stall_timeout:
            self._stalled = True
            self.n_stalls += 1
            logger.warning(
                "%s: no data from LSL stream %r for %.1f s; waiting for the outlet to come back (same source_id %r)",
                self.name,
                self.description.name,
                silent_for,
                self.description.source_id,
            )
        return None

    def handle(self, pulled) -> None:
        """Send the pulled samples (markers as events, held until the reference inlet has a clock).

        Parameters
        ----------
        pulled : tuple
            ``(samples, LSL timestamps)`` as :meth:`read` returned them.
        """
        data, ts = pulled
        if self.is_markers:
            if self._hold_markers(data, ts):
                return
            data = self._marker_events(data, ts)
        ts = np.asarray(ts, dtype=np.float64)
        step = self._split
        if step is None or len(ts) <= step:
            self._emit(data, ts)
            return
        for k in range(0, len(ts), step):  # a pull_interval's worth, max_chunk given: chunks of at most that
            self._emit(data[k : k + step], ts[k : k + step])

    def _pull_numeric(self, wait: float):
        puller = self._puller
        data, ts = self._data, self._ts
        # wait for one sample, then take whatever else is queued, without a busy loop
        if not puller.pull_array(data, ts, 0, 1, timeout=wait):
            return None
        n = 1 + (puller.pull_array(data, ts, 1) if self.max_chunk > 1 else 0)
        return data[:n].copy(), ts[:n].copy()

    def _pull_queued(self):
        """Every ``pull_interval`` s: every queued sample, pulled into a free buffer (sent without a copy)."""
        if not self._behind:
            delay = self._next_pull - time.monotonic()
            if delay > 0 and self._reader.sleep(delay):
                return None  # stopping
        now = time.monotonic()
        self._next_pull = max(self._next_pull + self.pull_interval, now)
        rows = self._pull_rows
        data = self._pool.take()
        ts = np.empty(rows, dtype=np.float64) if self._send_timestamps else self._ts_buffer(rows)
        n = self._puller.pull_array(data, ts)
        self._behind = n == rows  # more may be waiting: pull again at once
        if not n:
            return None
        return data[:n], ts[:n]

    def _ts_buffer(self, rows: int) -> np.ndarray:
        """Return a reused timestamp buffer (the timestamps are not sent: only the gap check reads them)."""
        if len(self._ts) < rows:
            self._ts = np.empty(rows, dtype=np.float64)
        return self._ts

    def _pull_markers(self, wait: float):
        sample, t = self.inlet.pull_sample(timeout=wait)
        if t is None:
            return None
        samples, times = [sample], [t]
        more, more_t = self.inlet.pull_chunk(timeout=0.0, max_samples=self.max_chunk - 1)
        samples.extend(more)
        times.extend(more_t)
        return samples, times

    @property
    def held_markers(self) -> int:
        """Markers held until the ``reference`` inlet's first sample (their index needs its clock)."""
        return sum(len(times) for _, times in self._held_markers)

    def _reference_signal(self) -> LslInlet | None:
        """Return the reference inlet once it has received a sample (None before, or without a reference)."""
        with _time_maps_lock:
            signal = _time_maps.get(self.reference) if self.reference else None
        return signal if signal is not None and signal._time_ref is not None else None

    def _hold_markers(self, samples: list, times: list) -> bool:
        """Keep markers that came before the reference's first sample (True); their index needs its clock.

        They are held for up to ``_REFERENCE_WAIT_S`` (the reference inlet may start after this one, or its
        outlet send later); after that they take their position in the marker stream, with a warning.
        """
        if (
            not self.reference
            or self._reference_given_up
            or (not self._held_markers and self._reference_signal() is not None)
        ):
            return False
        if self._held_since is None:
            self._held_since = time.monotonic()
        if not self._waited_too_long() and self.held_markers < 10000:
            self._held_markers.append((samples, times))
            return True
        self._reference_given_up = True
        held = self._take_held()  # emit what waited, in order, then this batch (placed as before)
        if held is not None:
            self._emit_markers(*held)
        return False

    def _waited_too_long(self) -> bool:
        return self._held_since is not None and time.monotonic() - self._held_since >= _REFERENCE_WAIT_S

    def _take_held(self) -> tuple[list, list] | None:
        if not self._held_markers:
            return None
        samples = [s for batch, _ in self._held_markers for s in batch]
        times = [t for _, batch in self._held_markers for t in batch]
        self._held_markers, self._held_since = [], None
        return samples, times

    def _release_held(self, pulled):
        """Prepend the held markers to ``pulled`` once the reference has data or the wait is over."""
        if not self._held_markers:
            return pulled
        if self._reference_signal() is None:
            if not self._waited_too_long():
                return pulled
            self._reference_given_up = True  # handle() places them without the reference (and warns)
        samples, times = self._take_held()
        if pulled is not None:
            samples += pulled[0]
            times += pulled[1]
        return samples, times

    def _emit_markers(self, samples: list, times: list) -> None:
        self._emit(self._marker_events(samples, times), np.asarray(times, dtype=np.float64))

    def _marker_events(self, samples: list, times: list) -> np.ndarray:
        from lslacq.core.stream.events import make_events

        texts = [s[0] for s in samples]
        codes = []
        descriptions = []
        for text in texts:
            raw = text.encode("ascii", errors="replace")
            if len(raw) > 32:
                self.n_truncated_markers += 1
                if self.n_truncated_markers == 1:
                    logger.warning(
                        "%s: marker %r is longer than 32 bytes; events keep its first 32 (the full text is in LSL)",
                        self.name,
                        text,
                    )
                raw = raw[:32]
            descriptions.append(raw)
            try:
                codes.append(int(text.strip()))
            except ValueError:
                codes.append(0)
        return make_events(self._marker_indexes(times), type="marker", description=descriptions, code=codes)

    def index_at(self, t) -> np.ndarray | None:
        """Index in ``signals`` of the sample nearest LSL time(s) ``t`` (None before the first sample).

        Extrapolated from the newest sample at the nominal rate, so it also
        works for times a little ahead of the data received so far.
        """
        ref = self._time_ref
        if ref is None:
            return None
        index, t_ref = ref
        return np.rint(index + (np.asarray(t, dtype=np.float64) - t_ref) * self.description.nominal_srate).astype(
            np.int64
        )

    def _marker_indexes(self, times: list) -> np.ndarray:
        start = self._index
        own = np.arange(start, start + len(times))
        if not self.reference:
            return own
        with _time_maps_lock:
            signal = _time_maps.get(self.reference)
        mapped = signal.index_at(times) if signal is not None else None
        if mapped is None:
            if not self._reference_warned:
                self._reference_warned = True
                logger.warning(
                    "%s: reference %r is not a running LslInlet with data in this process; marker "
                    "events use their position in the marker stream",
                    self.name,
                    self.reference,
                )
            return own
        return mapped

    def _emit(self, data: np.ndarray, ts: np.ndarray) -> None:
        n = len(ts)
        if not self.description.irregular:
            self._check_gap(ts)
        self._last_t = float(ts[-1])
        self.n_received += n
        self._index += n
        self._time_ref = (self._index - 1, self._last_t)
        if self.flags & pylsl.proc_clocksync:  # timestamps are in this host's clock: how old the newest sample is
            self._latency = pylsl.local_clock() - self._last_t
        self.outputs["signals"].send(data, index=self._index)
        if self._send_timestamps:
            self.outputs["timestamps"].send(ts, index=self._index)

    def counters(self) -> dict:
        """Node counters: ``samples_in`` received from LSL, ``lost_samples`` estimated in gaps, ``latency`` s.

        ``latency`` is the age of the newest sample when it was received
        (LSL clock, needs ``clocksync``; None otherwise or before any data).
        """
        counters = super().counters()
        counters["samples_in"] = self.n_received
        counters["lost_samples"] += sum(gap.missing for gap in list(self.gaps))
        counters["latency"] = self._latency
        return counters

    def _check_gap(self, ts: np.ndarray) -> None:
        period = 1.0 / self.description.nominal_srate
        was_stalled, self._stalled = self._stalled, False
        if self._last_t is None:
            return
        dt = float(ts[0]) - self._last_t
        # a sample period late by more than 0.1 s and 5 periods is a gap, not jitter
        if dt > period + max(0.1, 5 * period) or was_stalled:
            missing = max(0, int(round(dt / period)) - 1)
            self._index += missing  # the outputs skip the missing samples: the gap stays a gap downstream
            gap = Gap(index=self._index, duration=dt - period, missing=missing)
            self.gaps.append(gap)
            self.n_gaps += 1
            logger.warning(
                "%s: LSL stream %r resumed after a gap of %.3f s (~%d samples missing) at index %d",
                self.name,
                self.description.name,
                gap.duration,
                gap.missing,
                gap.index,
            )

    def __repr__(self) -> str:
        what = self.description.summary() if self.description else "unresolved"
        return f"<LslInlet {self.name!r} {self._state_name()} {what}>"
