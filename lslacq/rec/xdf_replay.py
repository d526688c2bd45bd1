"""XdfReplay: play every stream of an XDF file (LabRecorder's format) into a graph, markers included.

pyxdf is imported when a file is configured, never by ``import lslacq.rec``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

import numpy as np

from ..core.node import Node
from ..core.pacing import PacedLoop, check_speed
from ..core.signal import Signal
from ..core.stream import OutputStream
from ..core.stream.events import EVENT_DTYPE, EVENT_STREAM_SPEC

__all__ = ["XdfReplay", "XdfStream", "load_xdf_streams"]

logger = logging.getLogger(__name__)

_FORMATS = {
    "float32": "float32",
    "double64": "float64",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
}
_CODE = re.compile(r"(-?\d+)\s*$")


class XdfStream:
    """One stream of an XDF file, ready to be played.

    Attributes
    ----------
    output : str
        Name of the XdfReplay output carrying it.
    name, type, source_id : str
        The LSL identity recorded in the file.
    is_marker : bool
        A string (marker) stream: played as an event stream.
    sample_rate : float or None
        Nominal rate (None for irregular streams).
    data : ndarray
        Samples ``(n, n_channels)`` (numeric streams) or marker strings ``(n,)``.
    timestamps : ndarray
        XDF timestamps (seconds) of each sample.
    channel_names, channel_units, channel_types : list of str
    """

    def __init__(self, output: str, raw: dict):
        info = raw["info"]
        self.output = output
        self.name = _first(info.get("name"), "")
        self.type = _first(info.get("type"), "")
        self.source_id = _first(info.get("source_id"), "")
        fmt = _first(info.get("channel_format"), "float32")
        self.channel_format = fmt
        self.is_marker = fmt == "string"
        rate = float(_first(info.get("nominal_srate"), 0) or 0)
        self.sample_rate = rate if rate > 0 else None
        n_ch = int(_first(info.get("channel_count"), 1) or 1)
        self.timestamps = np.asarray(raw["time_stamps"], dtype=np.float64).reshape(-1)
        series = raw["time_series"]
        if self.is_marker:
            self.data = np.array([str(row[0]) if len(row) else "" for row in series], dtype=object)
        else:
            dtype = np.dtype(_FORMATS.get(fmt, "float64"))
            self.data = np.asarray(series, dtype=dtype).reshape(len(self.timestamps), n_ch)
        self.channel_names, self.channel_units, self.channel_types = _channels(info, n_ch)

    def __len__(self) -> int:
        return len(self.timestamps)


def _first(value, default):
    if isinstance(value, list):
        return value[0] if value else default
    return default if value is None else value


def _channels(info: dict, n: int) -> tuple[list[str], list[str], list[str]]:
    names, units, types = [f"ch{i}" for i in range(n)], [""] * n, [""] * n
    try:
        channels = info["desc"][0]["channels"][0]["channel"]
    except (KeyError, IndexError, TypeError):
        return names, units, types
    if len(channels) != n:
        return names, units, types
    for i, ch in enumerate(channels):
        if not isinstance(ch, dict):
            continue
        names[i] = str(_first(ch.get("label"), names[i]) or names[i])
        units[i] = str(_first(ch.get("unit"), "") or "")
        types[i] = str(_first(ch.get("type"), "") or "")
    return names, units, types


def load_xdf_streams(
    filename: str | os.PathLike, synchronize_clocks: bool = True, dejitter_timestamps: bool = True
) -> list[XdfStream]:
    """Read an XDF file with pyxdf; return its non-empty streams, with unique output names."""
    try:
        import pyxdf
    except ImportError:
        raise ImportError("replaying XDF files needs pyxdf: pip install pyxdf") from None
    path = Path(filename)
    if not path.is_file():
        raise FileNotFoundError(f"no such XDF file: {os.fspath(path)!r}")
    try:
        raw_streams, _header = pyxdf.load_xdf(
            os.fspath(path),
            synchronize_clocks=synchronize_clocks,
            dejitter_timestamps=dejitter_timestamps,
            verbose=False,
        )
    except Exception as exc:
        raise ValueError(f"pyxdf cannot read {os.fspath(path)!r}: {exc}") from exc
    streams: list[XdfStream] = []
    used: set[str] = set()
    for raw in raw_streams:
        if not len(raw.get("time_stamps", ())):
            continue
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", _first(raw["info"].get("name"), "") or "stream") or "stream"
        name, k = base, 1
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        streams.append(XdfStream(name, raw))
    if not streams:
        raise ValueError(f"{os.fspath(path)!r} holds no stream with samples")
    return streams


class XdfReplay(Node):
    """Play every stream of an XDF file, keeping their relative timing: one output per stream.

    Numeric streams become signal outputs (``sample_rate`` = the stream's
    nominal rate, channel names/units/types from its description); marker
    (string) streams become event outputs of
    :data:`~lslacq.core.stream.events.EVENT_DTYPE` records whose ``index`` is the
    sample of the *reference* signal stream nearest to the marker's
    timestamp (``description``: the marker text, ``code``: its trailing
    integer). A marker is sent once its reference sample has been sent. A
    marker before the first or after the last reference sample is kept (and
    logged): its index is extrapolated at the reference's rate, so it keeps
    its time.
    Output names are the XDF stream names (characters other than letters,
    digits, ``_.-`` replaced by ``_``); the specs keep the LSL identity
    (``lsl_name``, ``lsl_type``, ``lsl_source_id``).

    configure() parameters
    ----------------------
    filename : str or path
        The ``.xdf`` file.
    speed : float or 'max'
        Playback speed (1.0: real time). ``'max'``: as fast as the graph
        downstream takes the data, losslessly (the outputs wait for their
        readers; indexes and marker positions are those of real time): the
        offline evaluation of a pipeline.
    n_repeat : int or None
        Times the file is played (None: forever); indexes keep increasing.
    reference : str
        Output (stream) name whose samples marker indexes refer to; default
        the regular-rate numeric stream with the highest rate.
    tick : float
        Seconds of file time sent per step (default 0.01).
    synchronize_clocks, dejitter_timestamps : bool
        Passed to ``pyxdf.load_xdf`` (both on by default, as in pyxdf).

    Attributes
    ----------
    streams : dict of XdfStream
        By output name.
    finished : Signal
        Emitted when the last repeat has been sent.
    """

    live_source = True  # real time by default (speed="max" is not live: set in _configure)

    _output_specs: dict = {}
    _dynamic_streams = True

    def __init__(self, name: str = "", parent=None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        self.finished = Signal()
        self.streams: dict[str, XdfStream] = {}
        self._loop: PacedLoop | None = None
        self._done = threading.Event()

    def _configure(
        self,
        filename: str | os.PathLike | None = None,
        speed: float = 1.0,
        n_repeat: int | None = 1,
        reference: str | None = None,
        tick: float = 0.01,
        synchronize_clocks: bool = True,
        dejitter_timestamps: bool = True,
    ) -> None:
        if filename is None:
            raise ValueError(f"{self.name}: configure() needs filename=..., the XDF file to replay")
        speed = check_speed(self.name, speed)
        if n_repeat is not None and (not isinstance(n_repeat, (int, np.integer)) or n_repeat < 1):
            raise ValueError(
                f"{self.name}: n_repeat must be an integer >= 1, or None to loop forever; got {n_repeat!r}"
            )
        if not isinstance(tick, (int, float)) or not tick > 0:
            raise ValueError(f"{self.name}: tick must be > 0 s, got {tick!r}")
        streams = {s.output: s for s in load_xdf_streams(filename, synchronize_clocks, dejitter_timestamps)}
        regular = [s for s in streams.values() if not s.is_marker and s.sample_rate]
        if reference is None:
            ref = max(regular, key=lambda s: s.sample_rate) if regular else None
        else:
            ref = streams.get(reference)
            if ref is None or ref.is_marker or not ref.sample_rate:
                raise ValueError(
                    f"{self.name}: reference={reference!r} is not a regular-rate signal stream of "
                    f"{os.fspath(filename)!r}; choose one of {sorted(s.output for s in regular)}"
                )
        self.filename = filename
        self.speed = speed
        self.live_source = speed != "max"  # as fast as possible: the sends wait for the readers (lossless)
        self.n_repeat = None if n_repeat is None else int(n_repeat)
        self.tick = float(tick)
        self.streams = streams
        self.reference = ref.output if ref is not None else None
        self.outputs = {}
        for s in streams.values():
            out = OutputStream(node=self, name=s.output)
            spec = out.spec
            if s.is_marker:
                spec.update(EVENT_STREAM_SPEC)
                if ref is not None:
                    spec["sample_rate"] = ref.sample_rate
                    spec["reference"] = ref.output
            else:
                spec.update(
                    streamtype="analogsignal",
                    dtype=s.data.dtype.str,
                    shape=(-1, s.data.shape[1]),
                    channel_names=s.channel_names,
                    channel_units=s.channel_units,
                    channel_types=s.channel_types,
                )
                if s.sample_rate:
                    spec["sample_rate"] = s.sample_rate
            spec.update(lsl_name=s.name, lsl_type=s.type, lsl_source_id=s.source_id)
            self.outputs[s.output] = out
        self.optional_outputs = set(self.outputs)  # configure the outputs you use; the others are skipped
        self._prepare_markers(ref)
        self._t0 = min(float(s.timestamps[0]) for s in streams.values())
        self._duration = max(float(s.timestamps[-1]) for s in streams.values()) - self._t0 + self.tick
        logger.info(
            "%s: replaying %s: %s",
            self.name,
            os.fspath(filename),
            ", ".join(f"{s.output} ({len(s)} {'markers' if s.is_marker else 'samples'})" for s in streams.values()),
        )

    def _prepare_markers(self, ref: XdfStream | None) -> None:
        """Marker -> reference sample index, and when it may be sent (not before that sample)."""
        self._marker_index: dict[str, np.ndarray] = {}
        self._send_times: dict[str, np.ndarray] = {}
        for s in self.streams.values():
            if not s.is_marker:
                self._send_times[s.output] = s.timestamps
                continue
            if ref is None:  # no signal to refer to: the marker's ordinal
                self._marker_index[s.output] = np.arange(len(s), dtype=np.int64)
                self._send_times[s.output] = s.timestamps
                continue
            ts = ref.timestamps
            right = (
                np.clip(np.searchsorted(ts, s.timestamps), 1, len(ts) - 1)
                if len(ts) > 1
                else np.zeros(len(s), dtype=np.int64)
            )
            if len(ts) > 1:
                left = right - 1
                nearest = np.where(np.abs(ts[left] - s.timestamps) <= np.abs(ts[right] - s.timestamps), left, right)
            else:
                nearest = right
            nearest = nearest.astype(np.int64)
            # markers before the first or after the last reference sample keep their time: their index is
            # extrapolated at the nominal rate (the last marker often comes a few ms after the last sample)
            before, after = s.timestamps < ts[0], s.timestamps > ts[-1]
            index = nearest.copy()
            index[before] = np.rint((s.timestamps[before] - ts[0]) * ref.sample_rate).astype(np.int64)
            index[after] = len(ts) - 1 + np.rint((s.timestamps[after] - ts[-1]) * ref.sample_rate).astype(np.int64)
            outside = int(np.count_nonzero(index != nearest))
            if outside:
                logger.warning(
                    "%s: %d marker(s) of %r fall outside the samples of %r (before its first or after "
                    "its last); they are sent at their own time, with indexes extrapolated at %g Hz "
                    "(%s)",
                    self.name,
                    outside,
                    s.output,
                    ref.output,
                    ref.sample_rate,
                    ", ".join(
                        f"{label!r} at index {k}" for label, k, n in zip(s.data, index, nearest, strict=True) if k != n
                    ),
                )
            self._marker_index[s.output] = index
            self._send_times[s.output] = np.maximum.accumulate(np.maximum(s.timestamps, ts[nearest]))

    # -- lifecycle -----------------------------------------------------------------
    def _start(self) -> None:
        self._done.clear()
        self._k = 0
        self._repeat = 0
        self._pointers = {name: 0 for name in self.streams}
        self._sent = {name: 0 for name in self.streams}
        for out in self.outputs.values():
            if out.configured:
                out.reset_buffer_index()
        period = 0.0 if self.speed == "max" else self.tick / self.speed
        self._loop = PacedLoop(self._step, period, name=f"{self.name}-xdf-replay", max_catch_up=1.0)
        self._loop.failed.connect(lambda exc: self._report_error(exc, context=f"replaying {self.filename}"))
        self._loop.start()

    def _stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()
            self._loop = None

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Wait until every repeat has been sent; return True if it has."""
        return self._done.wait(timeout)

    @property
    def n_sent(self) -> dict[str, int]:
        """Samples (or markers) sent per output since start."""
        return dict(getattr(self, "_sent", {}))

    # -- the paced step -------------------------------------------------------------------
    def _step(self) -> None:
        if self._done.is_set():
            return
        self._k += 1
        now = self._t0 + self._k * self.tick - self._repeat * self._duration  # file time reached
        ref_len = len(self.streams[self.reference]) if self.reference else 0
        finished = True
        for name, s in self.streams.items():
            i = self._pointers[name]
            times = self._send_times[name]
            j = int(np.searchsorted(times, now, side="right"))
            if j > i:
                self._send(s, i, j, ref_len)
                self._pointers[name] = j
            finished &= j >= len(s)
        if finished:
            self._repeat += 1
            if self.n_repeat is not None and self._repeat >= self.n_repeat:
                self._done.set()
                self._loop.stop()  # from the loop thread: ends the loop after this step, without joining
                logger.info("%s: replay finished (%s)", self.name, self._sent)
                self.finished.emit()
            else:
                self._pointers = {name: 0 for name in self.streams}

    def _send(self, s: XdfStream, i: int, j: int, ref_len: int) -> None:
        out = self.outputs[s.output]
        if not out.configured:
            self._sent[s.output] += j - i
            return
        if s.is_marker:
            labels = s.data[i:j]
            records = np.zeros(j - i, dtype=EVENT_DTYPE)
            per_repeat = ref_len if self.reference else len(s)  # indexes keep increasing across repeats
            records["index"] = self._marker_index[s.output][i:j] + self._repeat * per_repeat
            records["channel"] = -1
            records["type"] = b"marker"
            records["description"] = [str(x).encode("ascii", "replace")[:32] for x in labels]
            codes = []
            for x in labels:
                match = _CODE.search(str(x))
                codes.append(int(match.group(1)) if match and abs(int(match.group(1))) < 2**31 else 0)
            records["code"] = codes
            self._sent[s.output] += j - i
            out.send(records)
        else:
            self._sent[s.output] += j - i
            out.send(s.data[i:j], index=self._sent[s.output])
