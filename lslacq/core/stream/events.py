"""The event stream format shared by triggers, device markers and LSL markers.

Its home is the stream layer (``lslacq.core.stream.events``) because devices,
DSP nodes, recorders and the LSL bridge all use it; ``lslacq.dsp.events`` and
``lslacq.dsp.EVENT_DTYPE`` re-export it.

An *event stream* is an lslacq stream whose ``streamtype`` is ``'event'`` and
whose samples are records of :data:`EVENT_DTYPE`; every ``send`` carries a 1-D
array of zero or more events. Producers in lslacq (AnalogTrigger,
DigitalTrigger, device marker outputs such as BrainAmp's, the LSL marker inlet)
emit it and consumers (TriggerAccumulator, the LSL marker outlet, recorders)
accept it.

Fields
------
index : int64
    Absolute sample index, in the *signal* stream the event refers to, of the
    sample at which the event happens (the first sample of the stream is 0,
    as in every lslacq stream). This is the only field a consumer must read.
duration : int64
    Length of the event in samples; 0 for an instantaneous event
    (BrainVision's "points" minus one is not used: a one-sample marker is 0).
channel : int32
    Channel (or, for a digital trigger, bit) the event was detected on;
    -1 when it refers to all channels.
code : int32
    Integer descriptor of the event (the "value" of the pyacq manual's
    (time, value) events): +1 rising / -1 falling for triggers, the stimulus
    number for device markers (``'S  1'`` -> 1), 0 when there is none.
type : bytes (S16)
    ASCII category: ``b'analog'``, ``b'digital'``, ``b'Stimulus'``,
    ``b'Response'``, ``b'marker'``...
description : bytes (S32)
    ASCII free label, e.g. ``b'S  1'`` or ``b'ch2+'``; this is what an LSL
    marker outlet publishes (see :func:`event_labels`).

pyacq's triggers sent plain ``int64`` arrays of indexes, and pyacq's (and the
RDA client's) marker records name the sample index ``'pos'``;
:func:`as_event_indexes` accepts all three forms so consumers work with any.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "EVENT_DTYPE",
    "EVENT_STREAM_SPEC",
    "make_events",
    "as_event_indexes",
    "event_labels",
    "is_event_dtype",
]

EVENT_DTYPE = np.dtype(
    [
        ("index", "<i8"),
        ("duration", "<i8"),
        ("channel", "<i4"),
        ("code", "<i4"),
        ("type", "S16"),
        ("description", "S32"),
    ]
)
"""numpy dtype of one event (72 bytes)."""

EVENT_STREAM_SPEC = {"streamtype": "event", "dtype": EVENT_DTYPE.descr, "shape": (-1,)}
"""Output spec entries of an event stream (``output.spec.update(EVENT_STREAM_SPEC)``).

The dtype is given as its ``descr`` list so the spec serialises to JSON/msgpack;
``np.dtype(spec['dtype'])`` rebuilds :data:`EVENT_DTYPE`.
"""


def _as_bytes_array(values, size: int, name: str, n: int) -> np.ndarray:
    """Encode str/bytes (scalar or sequence) as an ASCII bytes array of length n."""
    if isinstance(values, (str, bytes)):
        values = [values] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(
            f"make_events: {name} has {len(values)} items but there are {n} indexes; "
            "pass one per event or a single value"
        )
    out = np.empty(n, dtype=f"S{size}")
    for i, v in enumerate(values):
        b = v.encode("ascii", errors="replace") if isinstance(v, str) else bytes(v)
        if len(b) > size:
            raise ValueError(f"make_events: {name} {b!r} is longer than {size} bytes; shorten it")
        out[i] = b
    return out


def make_events(
    indexes: Iterable[int] | int,
    type: str | bytes | Sequence = b"",
    description: str | bytes | Sequence = b"",
    code: int | Sequence[int] = 0,
    channel: int | Sequence[int] = -1,
    duration: int | Sequence[int] = 0,
) -> np.ndarray:
    """Build an array of :data:`EVENT_DTYPE` records.

    Parameters
    ----------
    indexes : int or iterable of int
        Absolute sample index of each event.
    type, description : str, bytes or sequence of them
        ASCII category and label (one value for all events, or one per event).
    code, channel, duration : int or sequence of int
        See the module docstring.

    Returns
    -------
    numpy.ndarray
        1-D array of :data:`EVENT_DTYPE`.
    """
    idx = np.atleast_1d(np.asarray(indexes, dtype=np.int64))
    if idx.ndim != 1:
        raise ValueError(f"make_events: indexes must be 1-D, got shape {idx.shape}")
    n = idx.size
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["index"] = idx
    ev["duration"] = duration
    ev["channel"] = channel
    ev["code"] = code
    ev["type"] = _as_bytes_array(type, 16, "type", n)
    ev["description"] = _as_bytes_array(description, 32, "description", n)
    return ev


_INDEX_FIELDS = ("index", "pos")


def _index_field(dtype: np.dtype) -> str | None:
    names = dtype.names or ()
    return next((f for f in _INDEX_FIELDS if f in names), None)


def is_event_dtype(dtype) -> bool:
    """Return True if ``dtype`` is a structured dtype with an ``'index'`` (or pyacq's ``'pos'``) field."""
    dt = np.dtype(dtype) if not isinstance(dtype, np.dtype) else dtype
    return _index_field(dt) is not None


def as_event_indexes(events) -> np.ndarray:
    """Return the absolute sample indexes of ``events`` as a 1-D int64 array.

    Accepts an array of :data:`EVENT_DTYPE` (or any structured dtype with an
    ``'index'`` or ``'pos'`` field) and pyacq's plain integer arrays of indexes.
    """
    arr = np.asarray(events)
    if arr.dtype.names is not None:
        field = _index_field(arr.dtype)
        if field is None:
            raise ValueError(
                f"event records have no 'index' field (fields: {arr.dtype.names}); "
                "use lslacq.core.stream.events.EVENT_DTYPE"
            )
        return np.ascontiguousarray(arr[field].reshape(-1), dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"events must be EVENT_DTYPE records or integer sample indexes, got dtype {arr.dtype}")
    return arr.reshape(-1).astype(np.int64, copy=False)


def event_labels(events) -> list[str]:
    """Return one marker string per event: its description, else its type, else its code.

    This is what an LSL marker outlet sends for each event.
    """
    arr = np.asarray(events)
    labels = []
    for ev in arr.reshape(-1):
        desc = bytes(ev["description"]).decode("ascii", errors="replace")
        if desc:
            labels.append(desc)
            continue
        typ = bytes(ev["type"]).decode("ascii", errors="replace")
        labels.append(typ if typ else str(int(ev["code"])))
    return labels
