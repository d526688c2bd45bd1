"""Sample sources for FileReplay: an lslacq/pyacq recording, or any file MNE-Python reads."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np

from .layout import PROPERTIES_FILE

__all__ = ["ReplaySource", "open_source", "MNE_EXTENSIONS"]

#: file endings FileReplay hands to ``mne.io.read_raw`` (anything else MNE reads works too)
MNE_EXTENSIONS = (".fif", ".fif.gz", ".edf", ".bdf", ".vhdr", ".set", ".gdf", ".cnt", ".mff", ".nxe", ".eeg")

_CODE = re.compile(r"(-?\d+)\s*$")


@dataclasses.dataclass
class ReplayEvents:
    """Events of a source: sample positions in the source (0 = its first sample) and their records' fields."""

    samples: np.ndarray
    durations: np.ndarray
    labels: list[str]
    types: list[str]
    codes: np.ndarray

    @classmethod
    def empty(cls) -> ReplayEvents:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), [], [], np.zeros(0, np.int32))


class ReplaySource:
    """Random access to a multichannel signal with a fixed sample rate, plus its events.

    Attributes
    ----------
    sample_rate : float
    n_samples : int
    dtype : numpy.dtype
    channel_names, channel_units, channel_types : list of str
    events : ReplayEvents
    description : str
        What is played, for log messages.
    """

    sample_rate: float
    n_samples: int
    dtype: np.dtype
    channel_names: list[str]
    channel_units: list[str]
    channel_types: list[str]
    events: ReplayEvents
    description: str

    def read(self, start: int, stop: int) -> np.ndarray:
        """Return samples ``[start, stop)`` as a ``(n, n_channels)`` array of :attr:`dtype`."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file (the source cannot be read afterwards)."""


class RecordingSource(ReplaySource):
    """One signal stream of a RawRecorder recording, with the events of its event streams."""

    def __init__(self, dirname: Path, stream: str | None = None):
        from .reader import read_recording

        recording = read_recording(dirname)
        signals = {k: s for k, s in recording.signal_streams().items() if s.sample_rate and s.data.ndim == 2}
        if not signals:
            raise ValueError(
                f"{os.fspath(dirname)!r} has no (time, channel) signal stream with a sample rate to replay"
            )
        if stream is None:
            stream = next(iter(signals))
        if stream not in signals:
            raise ValueError(
                f"{os.fspath(dirname)!r} has no signal stream {stream!r}; choose one of "
                f"{sorted(signals)} with stream=..."
            )
        s = signals[stream]
        self._data = s.data
        self.sample_rate = float(s.sample_rate)
        self.n_samples = len(s)
        self.dtype = s.dtype
        self.channel_names, self.channel_units, self.channel_types = s.channel_names, s.channel_units, s.channel_types
        self.description = f"stream {stream!r} of recording {os.fspath(dirname)!r}"
        self.events = self._collect_events(s, recording)

    @staticmethod
    def _collect_events(signal, recording) -> ReplayEvents:
        from ..core.stream.events import as_event_indexes, event_labels

        parts = []
        for ev in recording.event_streams().values():
            if ev.sample_rate and abs(ev.sample_rate - signal.sample_rate) > 1e-9 * signal.sample_rate:
                continue
            records = np.asarray(ev.data).reshape(-1)
            if not len(records):
                continue
            pos = signal.samples_of_indexes(as_event_indexes(records))
            keep = pos >= 0
            named = records.dtype.names or ()
            labels = event_labels(records) if "description" in named else [ev.name] * len(records)
            types = (
                [bytes(t).decode("ascii", "replace") for t in records["type"]]
                if "type" in named
                else ["event"] * len(records)
            )
            parts.append(
                ReplayEvents(
                    pos[keep],
                    (records["duration"] if "duration" in named else np.zeros(len(records), np.int64))[keep],
                    [x for x, k in zip(labels, keep, strict=True) if k],
                    [x for x, k in zip(types, keep, strict=True) if k],
                    (records["code"] if "code" in named else np.zeros(len(records), np.int32))[keep],
                )
            )
        return _merge(parts)

    def read(self, start: int, stop: int) -> np.ndarray:
        return np.array(self._data[start:stop], dtype=self.dtype)  # a copy out of the memory map


class MneSource(ReplaySource):
    """A file read by ``mne.io.read_raw`` (not preloaded: chunks are read as they are played)."""

    def __init__(self, path: Path, dtype="float64", microvolts: bool = True):
        try:
            import mne
        except ImportError:
            raise ImportError(f"replaying {path.name} needs mne: pip install 'lslacq[mne]'") from None
        from mne.io.constants import FIFF

        try:
            raw = mne.io.read_raw(path, preload=False, verbose="error")
        except Exception as exc:
            raise ValueError(f"MNE cannot read {os.fspath(path)!r}: {_reason(exc, path)}") from exc
        self._raw = raw
        self.sample_rate = float(raw.info["sfreq"])
        self.n_samples = int(raw.n_times)
        self.dtype = np.dtype(dtype)
        self.channel_names = list(raw.ch_names)
        self.channel_types = [
            t.upper() if t in ("eeg", "eog", "ecg", "emg", "seeg", "ecog") else t for t in raw.get_channel_types()
        ]
        volts = np.array([ch["unit"] == FIFF.FIFF_UNIT_V for ch in raw.info["chs"]])
        self._factors = np.where(volts, 1e6, 1.0) if microvolts else np.ones(len(volts))
        self.channel_units = ["microvolts" if v and microvolts else ("volts" if v else "") for v in volts]
        self.description = f"{os.fspath(path)!r} ({type(raw).__name__})"
        self.events = self._collect_events(raw, brainvision=type(raw).__name__ == "RawBrainVision")

    @staticmethod
    def _collect_events(raw, brainvision: bool = False) -> ReplayEvents:
        """Return the annotations as events; only BrainVision's ``'Stimulus/S  1'`` is split into type and label."""
        ann = raw.annotations
        if not len(ann):
            return ReplayEvents.empty()
        samples = np.asarray(raw.time_as_index(ann.onset, use_rounding=True, origin=ann.orig_time), dtype=np.int64)
        durations = np.round(np.asarray(ann.duration) * raw.info["sfreq"]).astype(np.int64)
        labels, types, codes = [], [], []
        for desc in ann.description:
            kind, label = "", str(desc)
            if brainvision:  # MNE reads BrainVision markers as 'TYPE/DESCRIPTION', e.g. 'Stimulus/S  1'
                kind, _, label = label.partition("/") if "/" in label else ("", "", label)
            labels.append(label)
            types.append(kind or "annotation")
            match = _CODE.search(label)
            codes.append(int(match.group(1)) if match and abs(int(match.group(1))) < 2**31 else 0)
        keep = (samples >= 0) & (samples < raw.n_times)
        return ReplayEvents(
            samples[keep],
            durations[keep],
            [x for x, k in zip(labels, keep, strict=True) if k],
            [x for x, k in zip(types, keep, strict=True) if k],
            np.asarray(codes, np.int32)[keep],
        )

    def read(self, start: int, stop: int) -> np.ndarray:
        data = self._raw.get_data(start=start, stop=stop, verbose="error") * self._factors[:, None]
        return np.ascontiguousarray(data.T, dtype=self.dtype)

    def close(self) -> None:
        self._raw = None


def _reason(exc: BaseException, path: Path) -> str:
    """Say what went wrong in an MNE reader, also for exceptions without a message (MNE asserts)."""
    text = str(exc).strip()
    if text:
        return text
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" in {Path(frames[-1].filename).name}:{frames[-1].lineno} ({frames[-1].name})" if frames else ""
    return (
        f"its reader for {''.join(path.suffixes) or 'extensionless'} files failed ({type(exc).__name__}{where}, "
        "without a message): the file is probably not in the format its extension says"
    )


def _merge(parts: list[ReplayEvents]) -> ReplayEvents:
    if not parts:
        return ReplayEvents.empty()
    samples = np.concatenate([p.samples for p in parts])
    order = np.argsort(samples, kind="stable")
    labels = sum((p.labels for p in parts), [])
    types = sum((p.types for p in parts), [])
    return ReplayEvents(
        samples[order],
        np.concatenate([p.durations for p in parts])[order],
        [labels[i] for i in order],
        [types[i] for i in order],
        np.concatenate([p.codes for p in parts]).astype(np.int32)[order],
    )


def open_source(
    filename: str | os.PathLike, stream: str | None = None, dtype=None, microvolts: bool = True
) -> ReplaySource:
    """Open ``filename``: a RawRecorder directory (its ``stream``) or a file MNE reads."""
    path = Path(filename)
    if not path.exists():
        raise FileNotFoundError(f"no such file or recording: {os.fspath(path)!r}")
    if path.is_dir():
        if not (path / PROPERTIES_FILE).exists():
            raise ValueError(
                f"{os.fspath(path)!r} is a directory without {PROPERTIES_FILE}: give a RawRecorder "
                "recording directory or a file MNE reads (FIF, EDF/BDF, BrainVision .vhdr...)"
            )
        source = RecordingSource(path, stream)
        if dtype is not None:
            source.dtype = np.dtype(dtype)
        return source
    if path.name.lower().endswith(".xdf"):
        raise ValueError(
            f"{os.fspath(path)!r} is an XDF file: replay it with XdfReplay (every stream, markers included)"
        )
    return MneSource(path, dtype="float64" if dtype is None else dtype, microvolts=microvolts)
