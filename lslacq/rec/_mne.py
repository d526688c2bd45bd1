"""Conversion of recorded streams to MNE-Python objects (imports mne: used lazily)."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .reader import RecordedStream

__all__ = ["stream_to_raw", "volts_per_unit", "mne_channel_type", "event_annotations", "time_axis"]

logger = logging.getLogger(__name__)

_VOLT_UNITS = {
    "v": 1.0,
    "volt": 1.0,
    "volts": 1.0,
    "mv": 1e-3,
    "millivolt": 1e-3,
    "millivolts": 1e-3,
    "uv": 1e-6,
    "µv": 1e-6,
    "μv": 1e-6,
    "microvolt": 1e-6,
    "microvolts": 1e-6,
    "nv": 1e-9,
    "nanovolt": 1e-9,
    "nanovolts": 1e-9,
}


def volts_per_unit(unit: str) -> float | None:
    """Factor converting ``unit`` to volts (None if it is not a voltage unit)."""
    return _VOLT_UNITS.get(str(unit).strip().lower())


def _import_mne():
    try:
        import mne
    except ImportError:
        raise ImportError("exporting to MNE needs mne: pip install 'lslacq[mne]'") from None
    return mne


def mne_channel_type(channel_type: str, unit: str) -> str:
    """MNE channel type for a stream's ``channel_types`` entry (``'EEG'`` -> ``'eeg'``); ``'misc'`` if unknown."""
    valid = _valid_types()
    kind = str(channel_type).strip().lower()
    if kind in valid:
        return kind
    if kind in ("markers", "trigger", "triggers"):
        return "stim"
    if not kind and volts_per_unit(unit) is not None:
        return "eeg"
    return "misc"


def _valid_types() -> set[str]:
    from mne.io import get_channel_type_constants

    return set(get_channel_type_constants())


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            name = f"{name}-{seen[name]}"
        seen.setdefault(name, 0)
        out.append(name)
    return out


def time_axis(stream: RecordedStream) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """Where each recorded run of samples goes on the MNE time axis, and what marks the joins.

    Returns ``(runs, marks)``: ``runs`` is an ``(n, 3)`` int64 array of
    ``[first file sample, end file sample, first position on the axis]``;
    ``marks`` lists ``(onset s, duration s, description)`` annotations. When
    the stream indexes only jump forward (samples lost, a source that
    stopped and came back), every sample sits at ``index - start_index``:
    the missing span is left as zeros and annotated ``BAD_ACQ_SKIP`` (MNE's
    convention; its filters and epochs skip it). When they jump back (a
    source restarted from index 0), the runs are put end to end with
    ``mne.concatenate_raws``'s ``BAD boundary`` / ``EDGE boundary`` marks.
    """
    n = len(stream)
    seg = stream._segments()
    seg = seg[seg[:, 0] < n] if len(seg) else seg
    if not len(seg):
        return np.array([[0, n, 0]], dtype=np.int64), []
    ends = np.append(seg[1:, 0], n)
    lengths = ends - seg[:, 0]
    rate = stream.sample_rate
    # one run ends at index seg[k,1] + lengths[k]: the next must start there or later to keep the time axis
    forward = bool(np.all(seg[1:, 1] >= seg[:-1, 1] + lengths[:-1])) if len(seg) > 1 else True
    marks: list[tuple[float, float, str]] = []
    if forward:
        dest = seg[:, 1] - seg[0, 1]
        for k in range(1, len(seg)):
            gap_start = dest[k - 1] + lengths[k - 1]
            if dest[k] > gap_start:
                marks.append((gap_start / rate, (dest[k] - gap_start) / rate, "BAD_ACQ_SKIP"))
    else:
        dest = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        for k in range(1, len(seg)):
            marks.append((dest[k] / rate, 0.0, "BAD boundary"))
            marks.append((dest[k] / rate, 0.0, "EDGE boundary"))
    return np.stack([seg[:, 0], ends, dest], axis=1).astype(np.int64), marks


def _axis_positions(stream: RecordedStream, runs: np.ndarray, indexes: np.ndarray) -> np.ndarray:
    """Positions on the time axis of ``runs`` of stream ``indexes`` (-1 outside the recorded span)."""
    if np.array_equal(runs[:, 0], runs[:, 2]):  # no gap filled: axis position = file sample
        return stream.samples_of_indexes(indexes)
    seg = stream._segments()
    n_axis = int(runs[-1, 2] + runs[-1, 1] - runs[-1, 0])
    pos = np.asarray(indexes, dtype=np.int64).reshape(-1) - int(seg[0, 1])
    return np.where((pos >= 0) & (pos < n_axis), pos, -1)


def event_annotations(stream: RecordedStream, event_streams: list[RecordedStream], runs: np.ndarray | None = None):
    """Return (onsets s, durations s, descriptions) of the events falling in ``stream``.

    Onsets are on the time axis of :func:`time_axis` (gaps included), from
    the first recorded sample.
    """
    from ..core.stream.events import as_event_indexes, event_labels

    if runs is None:
        runs = time_axis(stream)[0]
    rate = stream.sample_rate
    onsets: list[np.ndarray] = []
    durations: list[np.ndarray] = []
    labels: list[str] = []
    for ev_stream in event_streams:
        ev_rate = ev_stream.sample_rate
        if ev_rate and abs(ev_rate - rate) > 1e-9 * rate:
            continue  # those events index another signal stream
        events = np.asarray(ev_stream.data).reshape(-1)
        if not len(events):
            continue
        indexes = as_event_indexes(events)
        pos = _axis_positions(stream, runs, indexes)
        keep = pos >= 0
        if not keep.all():
            logger.warning(
                "%s: %d events of %s fall outside the recorded samples; not annotated",
                stream.name,
                int((~keep).sum()),
                ev_stream.name,
            )
        if events.dtype.names is not None and "description" in events.dtype.names:
            text = event_labels(events)
        else:
            text = [str(ev_stream.name)] * len(events)
        dur = (
            events["duration"] / rate
            if events.dtype.names and "duration" in events.dtype.names
            else np.zeros(len(events))
        )
        onsets.append(pos[keep] / rate)
        durations.append(np.asarray(dur, dtype=float)[keep])
        labels.extend(t for t, k in zip(text, keep, strict=True) if k)
    if not onsets:
        return np.zeros(0), np.zeros(0), []
    return np.concatenate(onsets), np.concatenate(durations), labels


_BLOCK_BYTES = 1 << 21  # converted per block of about this many output bytes (stays in the CPU caches)


def _to_volts(
    samples: np.ndarray, scale: float | None, offset: float | None, factors: np.ndarray, runs: np.ndarray | None = None
) -> np.ndarray:
    """(channel, time) float64 array of ``(samples * scale + offset) * factors``, in one pass over ``samples``.

    ``samples`` is (time, channel), typically a memory map: it is read once,
    block by block, and each block is transposed, converted and scaled while
    in cache (the same operations, in the same order, as whole-array numpy).
    ``runs`` (from :func:`time_axis`) places runs of samples on a longer
    axis, zeros between them.
    """
    n, n_ch = samples.shape
    if runs is None or len(runs) <= 1 and (not len(runs) or runs[0, 2] == 0):
        runs = np.array([[0, n, 0]], dtype=np.int64)
    n_axis = int(runs[-1, 2] + runs[-1, 1] - runs[-1, 0])
    out = (np.empty if n_axis == n else np.zeros)((n_ch, n_axis), dtype=np.float64)
    step = max(1, _BLOCK_BYTES // max(1, 8 * n_ch))
    gain = factors[:, None] if np.any(factors != 1.0) else None
    for a, b, d in runs.tolist():
        _convert_run(samples, out, a, b, d, step, scale, offset, gain)
    return out


def _convert_run(samples, out, a: int, b: int, d: int, step: int, scale, offset, gain) -> None:
    for start in range(a, b, step):
        stop = min(b, start + step)
        block = out[:, d + start - a : d + stop - a]
        block[...] = samples[start:stop].T
        if scale is not None:
            block *= float(scale)
        if offset is not None:
            block += float(offset)
        if gain is not None:
            block *= gain


def stream_to_raw(
    stream: RecordedStream, event_streams: list[RecordedStream], annotations: dict, verbose: str | bool = "error"
):
    """Build an :class:`mne.io.RawArray` from one recorded signal stream.

    Data is ``raw * scale + offset`` (when the stream has them), then
    converted to volts for channels in a voltage unit. ``first_samp`` is the
    stream index of the first sample, so several streams share one time axis.
    Gaps in the indexes are zeros annotated ``BAD_ACQ_SKIP`` (see
    :func:`time_axis`).
    """
    mne = _import_mne()
    rate = stream.sample_rate
    if not rate:
        raise ValueError(f"stream {stream.name!r} has no sample_rate: MNE needs one")
    if stream.is_event or stream.data.ndim > 2:
        raise ValueError(
            f"stream {stream.name!r} ({stream.streamtype}, shape {stream.data.shape}) is not a (time, channel) signal"
        )
    units = stream.channel_units
    factors = np.array([volts_per_unit(u) or 1.0 for u in units])
    runs, marks = time_axis(stream)
    data = _to_volts(
        stream.data.reshape(len(stream), -1),
        stream.properties.get("scale"),
        stream.properties.get("offset"),
        factors,
        runs,
    )
    types = [mne_channel_type(t, u) for t, u in zip(stream.channel_types, units, strict=True)]
    info = mne.create_info(_unique(stream.channel_names), rate, types, verbose=verbose)
    if annotations:
        info["description"] = json.dumps(annotations, sort_keys=True)
    raw = mne.io.RawArray(data, info, first_samp=int(stream.start_index or 0), verbose=verbose)
    onsets, durations, labels = event_annotations(stream, event_streams, runs)
    if marks:
        onsets = np.concatenate([onsets, [m[0] for m in marks]])
        durations = np.concatenate([durations, [m[1] for m in marks]])
        labels = list(labels) + [m[2] for m in marks]
    if labels:
        raw.set_annotations(mne.Annotations(onsets, durations, labels), verbose=verbose)
    return raw
