"""BIDS export of lslacq recordings and XDF files, through mne-bids (imported when used).

EEG-BIDS wants EDF or BrainVision data with sidecars (``_eeg.json``,
``_channels.tsv``, ``_events.tsv``); XDF is not a BIDS format, so the
original file goes under ``sourcedata/`` and the data is converted.
"""

from __future__ import annotations

import datetime
import os
import shutil
from pathlib import Path

import numpy as np

__all__ = ["to_bids", "xdf_to_raw"]

_FORMATS = {"brainvision": "BrainVision", "edf": "EDF"}


def _import_mne_bids():
    try:
        import mne_bids
    except ImportError:
        raise ImportError(
            "BIDS export needs mne-bids (and pybv for BrainVision, edfio for EDF): pip install 'lslacq[bids]'"
        ) from None
    return mne_bids


def _pick(raws: dict, stream: str | None, what: str):
    if stream is not None:
        if stream not in raws:
            raise ValueError(f"{what} has no signal stream {stream!r}; choose one of {sorted(raws)} with stream=...")
        return stream, raws[stream]
    eeg = [k for k, r in raws.items() if "eeg" in r.get_channel_types()]
    key = (eeg or list(raws))[0]
    return key, raws[key]


def xdf_to_raw(filename: str | os.PathLike, stream: str | None = None):
    """One regular signal stream of an XDF file as an :class:`mne.io.RawArray`, its markers as annotations.

    Voltage channels are converted to volts; every marker stream becomes
    annotations at the sample nearest its timestamp (markers outside the
    signal's span are left out). Returns ``(name, raw)``.
    """
    import mne

    from ._mne import mne_channel_type, volts_per_unit
    from .xdf_replay import load_xdf_streams

    streams = {s.output: s for s in load_xdf_streams(filename)}
    signals = {k: s for k, s in streams.items() if not s.is_marker and s.sample_rate}
    if not signals:
        raise ValueError(f"{os.fspath(filename)!r} has no regular-rate signal stream to export")
    if stream is None:
        eeg = [k for k, s in signals.items() if s.type.upper() == "EEG"]
        stream = (eeg or sorted(signals, key=lambda k: -signals[k].sample_rate))[0]
    elif stream not in signals:
        raise ValueError(
            f"{os.fspath(filename)!r} has no regular signal stream {stream!r}; choose one of {sorted(signals)}"
        )
    s = signals[stream]
    factors = np.array([volts_per_unit(u) or 1.0 for u in s.channel_units])
    types = [
        mne_channel_type(t or (s.type if s.type.upper() in ("EEG", "EOG", "ECG", "EMG") else ""), u)
        for t, u in zip(s.channel_types, s.channel_units, strict=True)
    ]
    names = list(s.channel_names)
    seen: dict[str, int] = {}
    for i, name in enumerate(names):  # MNE needs unique names
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[i] = f"{name}-{seen[name] - 1}"
    info = mne.create_info(names, s.sample_rate, types, verbose="error")
    raw = mne.io.RawArray((s.data.astype(np.float64) * factors).T, info, verbose="error")
    onsets, labels = [], []
    t0 = s.timestamps[0]
    for m in streams.values():
        if not m.is_marker:
            continue
        sample = np.rint((m.timestamps - t0) * s.sample_rate).astype(np.int64)
        keep = (sample >= 0) & (sample < len(s))
        onsets.extend(sample[keep] / s.sample_rate)
        labels.extend(str(x) for x in m.data[keep])
    if labels:
        raw.set_annotations(mne.Annotations(onsets, 0.0, labels))
    return stream, raw


def _for_bids(raw, meas_date: datetime.datetime):
    """Return a copy starting at sample 0 with a measurement date (BIDS onsets count from the file's first sample)."""
    import mne

    new = mne.io.RawArray(raw.get_data(), raw.info.copy(), verbose="error")
    new.set_meas_date(meas_date)
    ann = raw.annotations
    if len(ann):
        onsets = np.asarray(ann.onset) - raw.first_time  # stored onsets count from time 0, before first_samp
        onsets = np.rint(onsets * raw.info["sfreq"]) / raw.info["sfreq"]  # to the sample
        new.set_annotations(mne.Annotations(onsets, ann.duration, ann.description, orig_time=meas_date))
    return new


def to_bids(
    source,
    root: str | os.PathLike,
    subject: str,
    task: str,
    session: str | None = None,
    run: int | str | None = None,
    stream: str | None = None,
    format: str = "BrainVision",
    overwrite: bool = False,
) -> Path:
    """Write one signal stream of a recording (or XDF file) as an EEG-BIDS dataset entry.

    Parameters
    ----------
    source : Recording, str or path
        A :class:`~lslacq.rec.Recording`, a RawRecorder directory or an
        ``.xdf`` file.
    root : str or path
        The BIDS dataset root (made if missing).
    subject, task : str
        BIDS labels (letters and digits).
    session, run : optional
        BIDS session label and run index.
    stream : str, optional
        Which signal stream (default: the first with EEG channels).
    format : str
        ``'BrainVision'`` (default) or ``'EDF'``.
    overwrite : bool
        Replace an existing entry.

    Returns
    -------
    Path
        The data file written. Its ``_channels.tsv``, ``_events.tsv`` (the
        markers, onsets to the sample, and ``BAD_ACQ_SKIP`` gaps) and
        ``_eeg.json`` are next to it; the original recording is copied to
        ``sourcedata/sub-S/[ses-X/]eeg/``.
    """
    mne_bids = _import_mne_bids()
    fmt = _FORMATS.get(str(format).lower())
    if fmt is None:
        raise ValueError(f"format must be 'BrainVision' or 'EDF' (EEG-BIDS data formats), got {format!r}")
    from .reader import Recording, read_recording

    if isinstance(source, Recording):
        recording, original = source, Path(source.dirname)
    else:
        original = Path(source)
        recording = None
        if not original.exists():
            raise FileNotFoundError(f"no such recording or XDF file: {os.fspath(original)!r}")
        if original.is_dir():
            recording = read_recording(original)
    if recording is not None:
        stream, raw = _pick(recording.to_mne(), stream, f"recording {os.fspath(original)!r}")
        flush = [p.get("flush_time") for p in (s.properties for s in recording.streams.values()) if p.get("flush_time")]
        when = datetime.datetime.fromtimestamp(
            min(flush) if flush else original.stat().st_mtime, tz=datetime.timezone.utc
        )
    else:
        stream, raw = xdf_to_raw(original, stream)
        when = datetime.datetime.fromtimestamp(original.stat().st_mtime, tz=datetime.timezone.utc)
    raw = _for_bids(raw, when.replace(microsecond=0))
    bids_path = mne_bids.BIDSPath(subject=subject, session=session, task=task, run=run, root=root, datatype="eeg")
    mne_bids.write_raw_bids(raw, bids_path, format=fmt, allow_preload=True, overwrite=overwrite, verbose=False)
    source_dir = Path(root) / "sourcedata" / f"sub-{subject}"
    if session:
        source_dir = source_dir / f"ses-{session}"
    source_dir = source_dir / "eeg"
    source_dir.mkdir(parents=True, exist_ok=True)
    target = source_dir / f"{bids_path.basename}_{original.name}"
    if target.exists():
        if not overwrite:
            raise FileExistsError(f"{os.fspath(target)!r} exists; pass overwrite=True to replace it")
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    (shutil.copytree if original.is_dir() else shutil.copy2)(original, target)
    ext = ".vhdr" if fmt == "BrainVision" else ".edf"
    return bids_path.copy().update(suffix="eeg", extension=ext).fpath
