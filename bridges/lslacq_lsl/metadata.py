"""Mapping between lslacq stream specs and LSL stream metadata.

Three jobs, kept free of any node or stream object so every consumer (the
outlet and inlet nodes, :class:`~lslacq_lsl.StreamWatcher`, ``lslacq lsl
list``) shares one definition:

* numpy dtype <-> LSL ``channel_format`` (:func:`channel_format_for_dtype`,
  :func:`dtype_for_channel_format`);
* building a :class:`pylsl.StreamInfo` with the metadata LabRecorder and XDF
  readers expect (:func:`build_stream_info`): ``desc/channels/channel/{label,
  unit,type}``, ``desc/acquisition/{manufacturer,model}``, ``desc/created_by``;
* reading that metadata back into a plain :class:`StreamDescription`
  (:func:`describe_stream`), tolerant of partial or missing ``desc`` trees.
"""

from __future__ import annotations

import dataclasses
import hashlib
import socket
from collections.abc import Mapping, Sequence

import numpy as np
import pylsl

__all__ = [
    "CHANNEL_FORMATS",
    "StreamDescription",
    "build_stream_info",
    "channel_format_for_dtype",
    "describe_stream",
    "dtype_for_channel_format",
    "stable_source_id",
]

#: LSL channel format name -> numpy dtype of the samples (``object`` for strings).
CHANNEL_FORMATS: dict[str, np.dtype] = {
    "float32": np.dtype("float32"),
    "double64": np.dtype("float64"),
    "int8": np.dtype("int8"),
    "int16": np.dtype("int16"),
    "int32": np.dtype("int32"),
    "int64": np.dtype("int64"),
    "string": np.dtype(object),
}

_FORMAT_CODES = {
    "float32": pylsl.cf_float32,
    "double64": pylsl.cf_double64,
    "string": pylsl.cf_string,
    "int32": pylsl.cf_int32,
    "int16": pylsl.cf_int16,
    "int8": pylsl.cf_int8,
    "int64": pylsl.cf_int64,
}
_FORMAT_NAMES = {code: name for name, code in _FORMAT_CODES.items()}

# numpy dtypes LSL has no format for, mapped to the smallest lossless one.
_WIDENED = {
    np.dtype("bool"): "int8",
    np.dtype("uint8"): "int16",
    np.dtype("uint16"): "int32",
    np.dtype("uint32"): "int64",
    np.dtype("float16"): "float32",
}


def channel_format_for_dtype(dtype) -> str:
    """Return the LSL channel format name that carries ``dtype`` without loss.

    Parameters
    ----------
    dtype : numpy dtype-like
        The dtype of the samples (e.g. ``'float32'``, ``np.int16``, ``str``).

    Returns
    -------
    str
        One of ``float32, double64, int8, int16, int32, int64, string``.
        Unsigned integers and bool are widened to the next signed format;
        strings and ``object`` map to ``string``.

    Raises
    ------
    TypeError
        For dtypes LSL cannot carry (complex, uint64, structured, datetime).
    """
    dt = np.dtype(dtype)
    if dt.kind in "OUS":
        return "string"
    for name, candidate in CHANNEL_FORMATS.items():
        if candidate == dt and name != "string":
            return name
    if dt in _WIDENED:
        return _WIDENED[dt]
    raise TypeError(
        f"LSL has no channel format for dtype {dt!r}; convert the stream first "
        f"(e.g. with StreamConverter) to one of {', '.join(CHANNEL_FORMATS)}"
    )


def dtype_for_channel_format(channel_format) -> np.dtype:
    """Return the numpy dtype of samples in an LSL stream of ``channel_format``.

    Parameters
    ----------
    channel_format : str or int
        A format name (``'float32'``...) or a pylsl ``cf_*`` code.
    """
    name = _FORMAT_NAMES.get(channel_format, channel_format)
    try:
        return CHANNEL_FORMATS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown LSL channel format {channel_format!r}; expected one of {', '.join(CHANNEL_FORMATS)}"
        ) from None


def stable_source_id(*parts: str, host: str | None = None) -> str:
    """Return a source_id that is the same every time the same outlet is made.

    LabRecorder and LSL inlets recognise a restarted outlet by its source_id,
    so it must not change between runs: it is derived from ``parts`` (e.g. the
    node name and stream name) and the host name, never from a random uid.

    Parameters
    ----------
    *parts : str
        What identifies the stream on this host.
    host : str, optional
        Host name (default: :func:`socket.gethostname`).
    """
    host = host or socket.gethostname()
    key = "\x1f".join((host, *map(str, parts)))
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]
    readable = "-".join(str(p) for p in parts if p)
    return f"lslacq:{host}:{readable}:{digest}"


def _as_list(value, n: int, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value] * n
    values = [str(v) for v in value]
    if len(values) != n:
        raise ValueError(f"{what} has {len(values)} entries for {n} channels; give one per channel or a single string")
    return values


def build_stream_info(
    name: str,
    type: str = "",
    channel_count: int = 1,
    nominal_srate: float = pylsl.IRREGULAR_RATE,
    channel_format: str = "float32",
    source_id: str = "",
    *,
    channel_names: Sequence[str] | None = None,
    channel_units: Sequence[str] | str | None = None,
    channel_types: Sequence[str] | str | None = None,
    manufacturer: str | None = None,
    model: str | None = None,
    serial_number: str | None = None,
    extra_desc: Mapping | None = None,
) -> pylsl.StreamInfo:
    """Build a :class:`pylsl.StreamInfo` with full XDF-style metadata.

    Parameters
    ----------
    name, type : str
        LSL stream name and content type (``'EEG'``, ``'Markers'``...).
    channel_count : int
        Number of channels.
    nominal_srate : float
        Sampling rate in Hz, ``0`` (:data:`pylsl.IRREGULAR_RATE`) for events.
    channel_format : str
        One of :data:`CHANNEL_FORMATS`.
    source_id : str
        Stable identifier of the source (see :func:`stable_source_id`).
    channel_names, channel_units, channel_types : sequence of str or str, optional
        Written to ``desc/channels/channel/{label,unit,type}``; a single
        string applies to every channel. Labels default to ``ch_1..ch_N``.
    manufacturer, model, serial_number : str, optional
        Written to ``desc/acquisition``.
    extra_desc : mapping, optional
        Further ``desc`` children; nested mappings become nested elements.

    Returns
    -------
    pylsl.StreamInfo
    """
    if channel_format not in CHANNEL_FORMATS:
        raise ValueError(
            f"unknown LSL channel format {channel_format!r} for stream {name!r}; "
            f"expected one of {', '.join(CHANNEL_FORMATS)}"
        )
    channel_count = int(channel_count)
    if channel_count < 1:
        raise ValueError(f"stream {name!r} needs at least one channel, got channel_count={channel_count}")
    if nominal_srate < 0:
        raise ValueError(f"stream {name!r}: nominal_srate must be >= 0 (0 = irregular), got {nominal_srate}")
    labels = _as_list(channel_names, channel_count, f"channel_names of stream {name!r}")
    if labels is None:
        labels = [f"ch_{i + 1}" for i in range(channel_count)]
    units = _as_list(channel_units, channel_count, f"channel_units of stream {name!r}")
    types = _as_list(channel_types, channel_count, f"channel_types of stream {name!r}")

    info = pylsl.StreamInfo(
        name, type, channel_count, float(nominal_srate), _FORMAT_CODES[channel_format], source_id or ""
    )
    desc = info.desc()
    channels = desc.append_child("channels")
    for i in range(channel_count):
        ch = channels.append_child("channel")
        ch.append_child_value("label", labels[i])
        if units is not None:
            ch.append_child_value("unit", units[i])
        if types is not None:
            ch.append_child_value("type", types[i])
    if manufacturer or model or serial_number:
        acq = desc.append_child("acquisition")
        if manufacturer:
            acq.append_child_value("manufacturer", str(manufacturer))
        if model:
            acq.append_child_value("model", str(model))
        if serial_number:
            acq.append_child_value("serial_number", str(serial_number))
    from lslacq import __version__

    created = desc.append_child("created_by")
    created.append_child_value("software", "lslacq")
    created.append_child_value("version", __version__)
    created.append_child_value("liblsl", str(pylsl.library_version()))
    if extra_desc:
        _append_mapping(desc, extra_desc)
    return info


def _append_mapping(element, mapping: Mapping) -> None:
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            _append_mapping(element.append_child(str(key)), value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, Mapping):
                    _append_mapping(element.append_child(str(key)), item)
                else:
                    element.append_child_value(str(key), str(item))
        else:
            element.append_child_value(str(key), str(value))


@dataclasses.dataclass(frozen=True)
class StreamDescription:
    """What an LSL stream is, read from its (full) stream info.

    ``channel_names`` always has ``channel_count`` entries (missing labels
    become ``ch_1``..., as in dareplane-utils); ``channel_units``/``channel_types`` have one entry per
    channel, ``''`` where the stream does not say.
    """

    name: str
    type: str
    channel_count: int
    nominal_srate: float
    channel_format: str
    source_id: str
    hostname: str
    uid: str
    created_at: float
    channel_names: tuple[str, ...]
    channel_units: tuple[str, ...]
    channel_types: tuple[str, ...]
    manufacturer: str = ""
    model: str = ""

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of the samples (``object`` for string streams)."""
        return CHANNEL_FORMATS[self.channel_format]

    @property
    def irregular(self) -> bool:
        """True for irregular-rate (event/marker) streams."""
        return self.nominal_srate == pylsl.IRREGULAR_RATE

    def summary(self) -> str:
        """One human-readable line (used by ``lslacq lsl list``)."""
        rate = "irregular" if self.irregular else f"{self.nominal_srate:g} Hz"
        return (
            f"{self.name!r} type={self.type!r} {self.channel_count} ch {self.channel_format} {rate} "
            f"source_id={self.source_id!r} host={self.hostname!r}"
        )


def _channel_field(channels, field: str, n: int) -> list[str]:
    values = []
    ch = channels.child("channel")
    while not ch.empty() and len(values) < n:
        values.append(ch.child_value(field))
        ch = ch.next_sibling("channel")
    values.extend([""] * (n - len(values)))
    return values


def describe_stream(info: pylsl.StreamInfo) -> StreamDescription:
    """Read a :class:`pylsl.StreamInfo` into a :class:`StreamDescription`.

    Works on the short info a resolver returns (no ``desc``) and on the full
    info from ``inlet.info()``; a partial ``desc`` (some labels missing, no
    ``channels`` element, extra elements) never changes the channel count.
    """
    n = info.channel_count()
    desc = info.desc()
    channels = desc.child("channels")
    if channels.empty():
        labels = units = types = [""] * n
    else:
        labels = _channel_field(channels, "label", n)
        units = _channel_field(channels, "unit", n)
        types = _channel_field(channels, "type", n)
    names = [label or f"ch_{i + 1}" for i, label in enumerate(labels)]
    acq = desc.child("acquisition")
    return StreamDescription(
        name=info.name(),
        type=info.type(),
        channel_count=n,
        nominal_srate=info.nominal_srate(),
        channel_format=_FORMAT_NAMES.get(info.channel_format(), "undefined"),
        source_id=info.source_id(),
        hostname=info.hostname(),
        uid=info.uid(),
        created_at=info.created_at(),
        channel_names=tuple(names),
        channel_units=tuple(units),
        channel_types=tuple(types),
        manufacturer="" if acq.empty() else acq.child_value("manufacturer"),
        model="" if acq.empty() else acq.child_value("model"),
    )
