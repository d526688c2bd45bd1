"""Read a RawRecorder recording back (memory-mapped), export it to MNE-Python."""

from __future__ import annotations

import dataclasses
import datetime
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..core.stream.spec import normalize_dtype
from .layout import ANNOTATIONS_FILE, PROPERTIES_FILE, VERSION_KEY, raw_path, read_json

__all__ = ["read_recording", "Recording", "RecordedStream"]


@dataclasses.dataclass
class RecordedStream:
    """One recorded stream.

    Attributes
    ----------
    name : str
        Stream (and file) name, e.g. ``'input0'``.
    data : numpy.ndarray
        ``(n_samples, *frame_shape)`` samples, memory-mapped read-only (the
        file is not loaded until the data is used).
    properties : dict
        Its entry of ``stream_properties.json`` (see :mod:`lslacq.rec.layout`).
    complete : bool
        True if the recorder stopped cleanly and the file holds whole samples only.
    end_note : str
        Where and why the file ends (says so when the recording was killed).
    partial_bytes : int
        Bytes of an incomplete last sample (ignored), left by an interrupted write.
    """

    name: str
    data: np.ndarray
    properties: dict
    complete: bool
    end_note: str
    partial_bytes: int = 0

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def dtype(self) -> np.dtype:
        """The samples' numpy dtype."""
        return self.data.dtype

    @property
    def streamtype(self) -> str:
        """The stream type in pyacq's terms (``'analogsignal'`` when the properties do not say)."""
        return self.properties.get("streamtype", "analogsignal")

    @property
    def is_event(self) -> bool:
        """True for event streams (records with an ``index`` field, or streamtype ``'event'``)."""
        return self.streamtype in ("event", "events") or self.dtype.names is not None

    @property
    def sample_rate(self) -> float | None:
        """Samples per second (None for a stream without a rate)."""
        rate = self.properties.get("sample_rate")
        return float(rate) if rate else None

    @property
    def start_index(self) -> int | None:
        """Stream index of the first sample in the file (None if nothing was recorded)."""
        value = self.properties.get("start_index")
        return int(value) if value is not None else None

    @property
    def nb_channel(self) -> int:
        """Values per sample (channels; the product of the frame shape)."""
        return int(np.prod(self.data.shape[1:], dtype=np.int64)) if self.data.ndim > 1 else 1

    @property
    def channel_names(self) -> list[str]:
        """One name per channel (from the stream spec or pyacq's ``channel_info``; else ``ch0``, ``ch1``...)."""
        names = self.properties.get("channel_names")
        if not names and isinstance(self.properties.get("channel_info"), list):  # pyacq's form
            names = [c.get("name", "") for c in self.properties["channel_info"] if isinstance(c, dict)]
        if not names or len(names) != self.nb_channel:
            names = [f"ch{i}" for i in range(self.nb_channel)]
        return [str(n) for n in names]

    @property
    def channel_units(self) -> list[str]:
        """One unit per channel (the stream's ``units`` for all, or ``''``, when the spec has none)."""
        units = self.properties.get("channel_units")
        if isinstance(units, str):
            units = [units] * self.nb_channel
        if not units or len(units) != self.nb_channel:
            units = [str(self.properties.get("units") or "")] * self.nb_channel
        return [str(u) for u in units]

    @property
    def channel_types(self) -> list[str]:
        """One type per channel (``'EEG'``...; ``''`` when the spec has none)."""
        types = self.properties.get("channel_types")
        if isinstance(types, str):
            types = [types] * self.nb_channel
        if not types or len(types) != self.nb_channel:
            types = [""] * self.nb_channel
        return [str(t) for t in types]

    def _segments(self) -> np.ndarray:
        disc = self.properties.get("discontinuities") or []
        if not disc and self.start_index is not None:
            disc = [[0, self.start_index]]
        return np.asarray(disc, dtype=np.int64).reshape(-1, 2)

    @property
    def indexes(self) -> np.ndarray:
        """Stream index of every sample in the file (int64), gaps and restarts included."""
        n = len(self)
        seg = self._segments()
        if n == 0 or len(seg) == 0:
            return np.arange(n, dtype=np.int64)
        out = np.arange(n, dtype=np.int64)
        which = np.searchsorted(seg[:, 0], out, side="right") - 1
        which = np.clip(which, 0, None)
        return out - seg[which, 0] + seg[which, 1]

    @property
    def times(self) -> np.ndarray | None:
        """Seconds of every sample on the stream's time axis (``index / sample_rate``); None without a rate."""
        rate = self.sample_rate
        return self.indexes / rate if rate else None

    def samples_of_indexes(self, indexes) -> np.ndarray:
        """File sample positions of stream ``indexes`` (-1 where the index is not in the file)."""
        indexes = np.asarray(indexes, dtype=np.int64).reshape(-1)
        all_indexes = self.indexes
        if len(all_indexes) and np.all(np.diff(all_indexes) == 1):  # the usual case: one contiguous run
            pos = indexes - all_indexes[0]
            return np.where((pos >= 0) & (pos < len(all_indexes)), pos, -1)
        out = np.full(len(indexes), -1, dtype=np.int64)
        lookup = {int(k): i for i, k in enumerate(all_indexes)}  # last occurrence wins after a restart
        for j, k in enumerate(indexes):
            out[j] = lookup.get(int(k), -1)
        return out

    def to_mne(self, recording: Recording | None = None, verbose: str | bool = "error"):
        """Return this signal stream as an :class:`mne.io.RawArray` (see :meth:`Recording.to_mne`)."""
        from ._mne import stream_to_raw

        events = [s for s in recording.streams.values() if s.is_event] if recording is not None else []
        return stream_to_raw(self, events, recording.annotations if recording is not None else {}, verbose)


@dataclasses.dataclass
class Recording:
    """A recording read by :func:`read_recording`.

    Attributes
    ----------
    dirname : Path
    streams : dict of RecordedStream
        By name, in recording order.
    annotations : dict
        What ``RawRecorder.add_annotations()`` stored.
    version : str
        The ``pyacq_version`` entry (which program wrote the files).
    """

    dirname: Path
    streams: dict[str, RecordedStream]
    annotations: dict
    version: str = ""

    def __getitem__(self, name: str) -> RecordedStream:
        try:
            return self.streams[name]
        except KeyError:
            raise KeyError(
                f"recording {os.fspath(self.dirname)!r} has no stream {name!r}; it has {sorted(self.streams)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.streams)

    def __len__(self) -> int:
        return len(self.streams)

    def close(self) -> None:
        """Drop this object's memory maps (the files close once no array of yours still uses them)."""
        for stream in self.streams.values():
            stream.data = np.empty((0,) + tuple(stream.data.shape[1:]), dtype=stream.data.dtype)

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def complete(self) -> bool:
        """True if every stream was closed cleanly."""
        return all(s.complete for s in self.streams.values())

    @property
    def end_note(self) -> str:
        """One line per stream: where its file ends and whether the recording finished cleanly."""
        return "\n".join(f"{name}: {s.end_note}" for name, s in self.streams.items())

    def signal_streams(self) -> dict[str, RecordedStream]:
        """Return ``{name: stream}`` of the signal (non-event) streams."""
        return {k: s for k, s in self.streams.items() if not s.is_event}

    def event_streams(self) -> dict[str, RecordedStream]:
        """Return ``{name: stream}`` of the event streams."""
        return {k: s for k, s in self.streams.items() if s.is_event}

    def to_mne(self, verbose: str | bool = "error") -> dict:
        """Return ``{stream name: mne.io.RawArray}``, one per (time, channel) signal stream with a sample rate.

        Channel names, types and units come from the stream metadata; data in
        a voltage unit (µV, mV, V...) is converted to volts, as MNE stores it.
        Events of every event stream become :class:`mne.Annotations` of each
        signal stream with the event stream's ``sample_rate`` (or of every
        signal stream when the event stream has none): onset at the event's
        sample, duration from its ``duration``, description its label.
        """
        out = {}
        for name, stream in self.signal_streams().items():
            if stream.sample_rate and stream.data.ndim == 2:  # (time, channel); not 1-D timestamps or video
                out[name] = stream.to_mne(self, verbose=verbose)
        if not out:
            raise ValueError(
                f"recording {os.fspath(self.dirname)!r} has no (time, channel) signal stream with a "
                "sample rate to export to MNE"
            )
        return out

    def to_bids(
        self,
        root: str | os.PathLike,
        subject: str,
        task: str,
        session: str | None = None,
        run: int | str | None = None,
        stream: str | None = None,
        format: str = "BrainVision",
        overwrite: bool = False,
    ) -> Path:
        """Write a signal stream as an EEG-BIDS entry (BrainVision or EDF, sidecars, events from the markers).

        See :func:`lslacq.rec.bids.to_bids` (needs mne-bids: ``pip install 'lslacq[bids]'``).
        """
        from .bids import to_bids

        return to_bids(
            self, root, subject, task, session=session, run=run, stream=stream, format=format, overwrite=overwrite
        )

    def save_fif(self, dirname: str | os.PathLike | None = None, overwrite: bool = False) -> list[Path]:
        """Write each signal stream as ``NAME_raw.fif`` in ``dirname`` (default: the recording's directory).

        Returns the paths written.
        """
        target = Path(dirname) if dirname is not None else self.dirname
        target.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, raw in self.to_mne().items():
            path = target / f"{name}_raw.fif"
            raw.save(path, overwrite=overwrite, verbose="error")
            paths.append(path)
        return paths


def read_recording(dirname: str | os.PathLike, mmap: bool = True) -> Recording:
    """Open a recording written by :class:`~lslacq.rec.RawRecorder` (or pyacq's).

    Parameters
    ----------
    dirname : str or path
        The recording directory (it holds ``stream_properties.json``).
    mmap : bool
        Memory-map the data (default; opening is instant whatever the size).
        False reads it into memory.

    Returns
    -------
    Recording
        ``recording.streams[name].data`` etc.; ``recording.complete`` and
        ``recording.end_note`` say whether the recording finished cleanly and
        where each file ends. Use it as a context manager (or call
        ``close()``) to release the memory maps.
    """
    dirname = Path(dirname)
    props_path = dirname / PROPERTIES_FILE
    if not props_path.exists():
        raise FileNotFoundError(
            f"{os.fspath(dirname)!r} is not a recording: it has no {PROPERTIES_FILE} "
            "(give the directory passed to RawRecorder.configure(dirname=...))"
        )
    props = read_json(props_path)
    if not isinstance(props, dict):
        raise ValueError(
            f"{props_path} holds a JSON {type(props).__name__}, not an object of streams; was it "
            "written by RawRecorder?"
        )
    annotations = read_json(dirname / ANNOTATIONS_FILE) if (dirname / ANNOTATIONS_FILE).exists() else {}
    streams = {}
    for name, prop in props.items():
        if name == VERSION_KEY or not isinstance(prop, dict):
            continue
        try:
            streams[name] = _open_stream(dirname, name, prop, mmap)
        except (TypeError, ValueError, OverflowError, IndexError) as exc:  # a value of the wrong type or range
            if PROPERTIES_FILE in str(exc):
                raise
            raise ValueError(
                f"{props_path}: stream {name!r} has a malformed entry ({type(exc).__name__}: "
                f"{str(exc)[:200]}); was it written by RawRecorder?"
            ) from None
    return Recording(dirname, streams, annotations, str(props.get(VERSION_KEY, "")))


def _open_stream(dirname: Path, name: str, prop: dict, mmap: bool) -> RecordedStream:
    try:
        dtype = normalize_dtype(prop["dtype"])
    except KeyError:
        raise ValueError(f"{dirname / PROPERTIES_FILE}: stream {name!r} has no 'dtype'") from None
    frame = tuple(int(x) for x in (prop.get("shape") or [-1])[1:])
    frame_bytes = dtype.itemsize * int(np.prod(frame, dtype=np.int64))
    path = raw_path(dirname, name)
    size = path.stat().st_size if path.exists() else 0
    n, partial = divmod(size, frame_bytes) if frame_bytes else (0, 0)
    if n == 0:
        data = np.empty((0,) + frame, dtype=dtype)
    elif mmap:
        data = np.memmap(path, dtype=dtype, mode="r", shape=(n,) + frame)
    else:
        data = np.fromfile(path, dtype=dtype, count=n * int(np.prod(frame, dtype=np.int64))).reshape((n,) + frame)
    state = prop.get("state", "stopped")  # pyacq's files have no state: nothing says they are incomplete
    complete = state == "stopped" and partial == 0
    rate = prop.get("sample_rate")
    span = ""
    if n and prop.get("start_index") is not None:
        probe = RecordedStream(name, data, prop, complete, "")
        seg = probe._segments()
        last = int(seg[-1, 1] + (n - 1 - seg[-1, 0])) if len(seg) else n - 1  # no index array: files can be huge
        span = f" (indexes {int(prop['start_index'])}..{int(last)}" + (
            f", {(int(last) + 1) / float(rate):.3f} s)" if rate and not probe.is_event else ")"
        )
    if complete:
        note = f"complete: {n} samples{span}"
    else:
        why = {
            "recording": "the recorder did not stop cleanly (its process was killed or crashed)",
            "failed": f"the recording failed: {prop.get('error', 'unknown error')}",
            "initialized": "the recorder was never started",
            "stopping": "stop() returned while a stalled disk was still taking the last samples (still in "
            "progress, or the recording process ended first)",
        }.get(state, f"state {state!r}")
        note = f"{why}; the file ends after {n} samples{span}"
        if prop.get("flush_time"):
            when = datetime.datetime.fromtimestamp(float(prop["flush_time"])).isoformat(timespec="milliseconds")
            note += f"; last flush noted at {when} ({int(prop.get('nb_sample', 0))} samples)"
        if partial:
            note += f"; an incomplete last sample ({partial} bytes) is ignored"
    return RecordedStream(name, data, prop, complete, note, int(partial))
