"""Training data the way it runs: ``(X, y)`` from a recording or an XDF file through the Epocher's engine."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.stream.events import make_events
from .engine import EpochingEngine

__all__ = ["epochs_from_recording"]


def epochs_from_recording(
    path: str | os.PathLike,
    signal: str | None = None,
    events: str | None = None,
    event_id=None,
    tmin: float = -0.2,
    tmax: float = 0.5,
    baseline: Sequence | None = None,
    reject: float | None = None,
    picks: Sequence | None = None,
    dtype: str | None = None,
    return_events: bool = False,
):
    """Cut the epochs of a recording with the Epocher's own code; return ``(X, y)``.

    Parameters
    ----------
    path : str or path
        A RawRecorder directory (``stream_properties.json`` inside) or an
        XDF file (``.xdf``, LabRecorder's or XdfRecorder's).
    signal, events : str, optional
        The signal stream and the event (marker) stream: recording stream
        names (``'input0'``...) or, in an XDF file, LSL stream names. Default:
        the only (else the first) signal stream and event stream.
    event_id, tmin, tmax, baseline, reject, picks, dtype
        As :class:`~lslacq.bci.Epocher`'s configure() (``dtype`` defaults to
        the Epocher's: float32, float64 for a float64 signal).
    return_events : bool
        Also return the labels records (trigger index, label, code), as the
        Epocher's ``labels`` output.

    Returns
    -------
    X : ndarray, shape (n_epochs, n_channels, n_times)
        Exactly the epochs an Epocher with the same settings cuts online.
    y : ndarray of str
        The label (key of ``event_id``) of each epoch.
    labels : ndarray of EVENT_DTYPE
        Only with ``return_events=True``.

    Notes
    -----
    In a recording, event indexes are samples of the signal stream (as
    recorded). In an XDF file, markers are placed on the signal's samples
    through their timestamps (pyxdf's clock synchronisation and dejitter
    applied), to the nearest sample, as the online Epocher does with
    ``timestamps=True``.
    """
    if event_id is None:
        raise ValueError(
            "epochs_from_recording: give event_id={label: marker} (str: matched against the event's "
            "description, int: its code)"
        )
    p = Path(path)
    if p.is_dir():
        X, labels = _from_recording(p, signal, events, event_id, tmin, tmax, baseline, reject, picks, dtype)
    elif p.suffix.lower() == ".xdf" or p.is_file():
        X, labels = _from_xdf(p, signal, events, event_id, tmin, tmax, baseline, reject, picks, dtype)
    else:
        raise FileNotFoundError(
            f"epochs_from_recording: {os.fspath(p)!r} is neither a recording directory nor an XDF file"
        )
    y = np.array([bytes(d).decode("ascii", "replace") for d in labels["description"]], dtype=str)
    order = np.argsort(labels["index"], kind="stable")  # trigger order (the online order for equal windows)
    X, y, labels = X[order], y[order], labels[order]
    return (X, y, labels) if return_events else (X, y)


def _pick(streams: dict, wanted: str | None, kind: str, where: str):
    if wanted is not None:
        if wanted not in streams:
            raise ValueError(
                f"epochs_from_recording: {where} has no {kind} stream {wanted!r}; its {kind} streams: {sorted(streams)}"
            )
        return wanted, streams[wanted]
    if not streams:
        raise ValueError(f"epochs_from_recording: {where} has no {kind} stream")
    name = next(iter(streams))
    return name, streams[name]


def _engine(n_ch, rate, event_id, tmin, tmax, baseline, reject, picks, names, dtype, in_dtype, **kw):
    dtype = dtype or ("float64" if np.dtype(in_dtype) == np.float64 else "float32")
    return EpochingEngine(
        n_ch,
        float(rate),
        event_id,
        tmin,
        tmax,
        baseline,
        reject,
        picks,
        names,
        dtype,
        owner="epochs_from_recording",
        **kw,
    )


def _runs(indexes: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) positions of the contiguous runs of ``indexes``."""
    if not len(indexes):
        return []
    breaks = np.nonzero(np.diff(indexes) != 1)[0] + 1
    edges = np.concatenate([[0], breaks, [len(indexes)]])
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def _from_recording(p, signal, events, event_id, tmin, tmax, baseline, reject, picks, dtype):
    from ..rec import read_recording

    with read_recording(p) as rec:
        where = f"recording {os.fspath(p)!r}"
        sig_name, sig = _pick(rec.signal_streams(), signal, "signal", where)
        _, evs = _pick(rec.event_streams(), events, "event", where)
        if not sig.sample_rate:
            raise ValueError(f"epochs_from_recording: signal stream {sig_name!r} has no sample_rate")
        props = sig.properties
        scale, offset = props.get("scale"), props.get("offset")
        if sig.dtype.kind == "f" and scale in (None, 1, 1.0) and offset in (None, 0, 0.0):
            scale = offset = None
        eng = _engine(
            sig.nb_channel,
            sig.sample_rate,
            event_id,
            tmin,
            tmax,
            baseline,
            reject,
            picks,
            sig.channel_names,
            dtype,
            sig.dtype,
            scale=scale,
            offset=offset,
        )
        parts = [eng.add_events(np.asarray(evs.data))]
        data = sig.data.reshape(len(sig), -1)
        indexes = sig.indexes
        for a, b in _runs(indexes):
            parts.append(eng.feed(int(indexes[b - 1]) + 1, np.asarray(data[a:b])))
    return np.concatenate([x for x, _ in parts]), np.concatenate([lab for _, lab in parts])


def _from_xdf(p, signal, events, event_id, tmin, tmax, baseline, reject, picks, dtype):
    from ..rec.xdf_replay import load_xdf_streams

    streams = load_xdf_streams(p)
    where = f"XDF file {os.fspath(p)!r}"
    signals = {s.name or s.output: s for s in streams if not s.is_marker and s.sample_rate}
    markers = {s.name or s.output: s for s in streams if s.is_marker}
    sig_name, sig = _pick(signals, signal, "signal", where)
    _, mk = _pick(markers, events, "marker", where)
    n = len(sig)
    eng = _engine(
        sig.data.shape[1],
        sig.sample_rate,
        event_id,
        tmin,
        tmax,
        baseline,
        reject,
        picks,
        sig.channel_names,
        dtype,
        sig.data.dtype,
        timestamps_size=max(n, 2),
    )  # every timestamp of the file
    texts = [str(t) for t in mk.data]
    codes = []
    for t in texts:
        try:
            codes.append(int(t.strip()))
        except ValueError:
            codes.append(0)
    descriptions = [t.encode("ascii", "replace")[:32] for t in texts]
    ev = make_events(np.arange(len(texts)), type="marker", description=descriptions, code=codes)
    parts = [eng.add_timed_events(ev, mk.timestamps), eng.feed_timestamps(n, sig.timestamps), eng.feed(n, sig.data)]
    return np.concatenate([x for x, _ in parts]), np.concatenate([lab for _, lab in parts])
