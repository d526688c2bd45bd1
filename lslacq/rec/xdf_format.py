"""The XDF 1.0 format (LabRecorder's files, read by pyxdf): chunk encoding and stream-header XML.

A file is ``XDF:`` then chunks ``[NumLengthBytes][Length][Tag][Content]``
(``Length`` counts the 2-byte tag and the content). Numbers are little
endian; variable-length integers are a byte saying 1, 4 or 8, then the value.
Pure numpy: nothing here imports pyxdf or pylsl.
"""

from __future__ import annotations

import datetime
import socket
import struct
import time
import uuid
from collections.abc import Callable
from xml.sax.saxutils import escape

import numpy as np

__all__ = [
    "MAGIC",
    "BOUNDARY_UUID",
    "TAG_FILE_HEADER",
    "TAG_STREAM_HEADER",
    "TAG_SAMPLES",
    "TAG_CLOCK_OFFSET",
    "TAG_BOUNDARY",
    "TAG_STREAM_FOOTER",
    "FORMAT_DTYPES",
    "channel_format_of",
    "varlen",
    "chunk",
    "file_header_chunk",
    "stream_header_chunk",
    "samples_chunk",
    "samples_chunk_buffer",
    "string_samples_chunk",
    "clock_offset_chunk",
    "boundary_chunk",
    "stream_footer_chunk",
    "stream_info_xml",
    "file_header_xml",
]

MAGIC = b"XDF:"
TAG_FILE_HEADER, TAG_STREAM_HEADER, TAG_SAMPLES, TAG_CLOCK_OFFSET, TAG_BOUNDARY, TAG_STREAM_FOOTER = 1, 2, 3, 4, 5, 6
#: the fixed UUID of Boundary chunks (readers scan for it to resynchronise after a damaged region)
BOUNDARY_UUID = bytes([0x43, 0xA5, 0x46, 0xDC, 0xCB, 0xF5, 0x41, 0x0F, 0xB3, 0x0E, 0xD5, 0x46, 0x73, 0x83, 0xCB, 0xE4])

#: XDF channel formats and the numpy dtype of their values (little endian)
FORMAT_DTYPES = {
    "float32": np.dtype("<f4"),
    "double64": np.dtype("<f8"),
    "int8": np.dtype("i1"),
    "int16": np.dtype("<i2"),
    "int32": np.dtype("<i4"),
    "int64": np.dtype("<i8"),
}
_WIDER = {"b": "int8", "u1": "int16", "u2": "int32", "u4": "int64"}


def channel_format_of(dtype) -> str:
    """XDF channel format carrying ``dtype`` without loss (unsigned and bool widened to the next signed format).

    Raises
    ------
    TypeError
        For dtypes XDF cannot carry (complex, uint64, structured...).
    """
    dt = np.dtype(dtype)
    if dt.kind in "USO":
        return "string"
    for name, fmt_dtype in FORMAT_DTYPES.items():
        if dt.kind == fmt_dtype.kind and dt.itemsize == fmt_dtype.itemsize:
            return name
    key = "b" if dt.kind == "b" else f"u{dt.itemsize}" if dt.kind == "u" else None
    if key in _WIDER:
        return _WIDER[key]
    raise TypeError(
        f"XDF has no channel format for dtype {dt} (it carries float32/64, int8/16/32/64 and strings); "
        "convert the stream (e.g. StreamConverter to float64) before recording it"
    )


def varlen(n: int) -> bytes:
    """Encode a variable-length integer: 1 byte saying how many bytes follow (1, 4 or 8), then the value."""
    if n < 0:
        raise ValueError(f"XDF lengths are >= 0, got {n}")
    if n <= 0xFF:
        return struct.pack("<BB", 1, n)
    if n <= 0xFFFFFFFF:
        return struct.pack("<BI", 4, n)
    return struct.pack("<BQ", 8, n)


def chunk(tag: int, content: bytes) -> bytes:
    """One chunk: its length (tag + content), the tag, the content."""
    return varlen(len(content) + 2) + struct.pack("<H", tag) + content


def _xml(body: str) -> bytes:
    return ('<?xml version="1.0"?>\n<info>\n' + body + "</info>\n").encode("utf-8")


def file_header_xml(extra: dict | None = None) -> bytes:
    """Return the FileHeader XML: ``<info><version>1.0</version><datetime>...</datetime>...</info>``."""
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    fields = {"version": "1.0", "datetime": now, **{k: str(v) for k, v in (extra or {}).items()}}
    return _xml("".join(f"\t<{k}>{escape(v)}</{k}>\n" for k, v in fields.items()))


def file_header_chunk(extra: dict | None = None) -> bytes:
    """Return the FileHeader chunk (:func:`file_header_xml` with ``extra`` fields)."""
    return chunk(TAG_FILE_HEADER, file_header_xml(extra))


def stream_info_xml(
    name: str,
    type: str,
    channel_count: int,
    nominal_srate: float,
    channel_format: str,
    source_id: str = "",
    channel_labels=None,
    channel_units=None,
    channel_types=None,
    manufacturer: str | None = None,
    created_at: float | None = None,
    hostname: str | None = None,
) -> bytes:
    """Return a stream header's XML, in LSL's ``StreamInfo.as_xml()`` layout (what LabRecorder writes).

    ``desc`` holds ``channels/channel`` (label, unit, type) and
    ``acquisition/manufacturer`` when given; ``channel_units`` and
    ``channel_types`` are one per label, or one string for every channel.
    """

    def tag(key, value, indent="\t"):
        return f"{indent}<{key}>{escape(str(value))}</{key}>\n" if value not in (None, "") else f"{indent}<{key} />\n"

    body = "".join(
        [
            tag("name", name),
            tag("type", type),
            tag("channel_count", int(channel_count)),
            tag("channel_format", channel_format),
            tag("source_id", source_id),
            tag("nominal_srate", f"{float(nominal_srate):.15g}"),
            tag("version", "1.1000000000000001"),
            tag("created_at", f"{time.monotonic() if created_at is None else created_at:.15g}"),
            tag("uid", str(uuid.uuid4())),
            tag("session_id", "default"),
            tag("hostname", hostname or socket.gethostname()),
        ]
    )
    desc = ""
    labels = list(channel_labels or [])
    if labels:
        # one string (``"uV"``, ``"EEG"``) is every channel's unit or type
        units = (
            [channel_units] * len(labels)
            if isinstance(channel_units, str)
            else list(channel_units or [""] * len(labels))
        )
        types = (
            [channel_types] * len(labels)
            if isinstance(channel_types, str)
            else list(channel_types or [""] * len(labels))
        )
        desc += "\t\t<channels>\n"
        if len(units) != len(labels) or len(types) != len(labels):
            raise ValueError(
                f"stream {name!r}: {len(labels)} channel labels but {len(units)} units and {len(types)} types; "
                "give one unit and one type per label (or none)"
            )
        for label, unit, kind in zip(labels, units, types, strict=True):
            desc += (
                "\t\t\t<channel>\n"
                + tag("label", label, "\t\t\t\t")
                + tag("unit", unit, "\t\t\t\t")
                + tag("type", kind, "\t\t\t\t")
                + "\t\t\t</channel>\n"
            )
        desc += "\t\t</channels>\n"
    if manufacturer:
        desc += "\t\t<acquisition>\n" + tag("manufacturer", manufacturer, "\t\t\t") + "\t\t</acquisition>\n"
    body += "\t<desc>\n" + desc + "\t</desc>\n" if desc else "\t<desc />\n"
    return _xml(body)


def stream_header_chunk(stream_id: int, xml: bytes | str) -> bytes:
    """Return a StreamHeader chunk: the stream id and its XML (e.g. an LSL ``info.as_xml()``)."""
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    return chunk(TAG_STREAM_HEADER, struct.pack("<I", stream_id) + xml)


def samples_chunk_buffer(
    stream_id: int,
    values,
    timestamps: np.ndarray,
    channel_format: str,
    alloc: Callable[[int], np.ndarray] | None = None,
) -> np.ndarray:
    """:func:`samples_chunk` as a ``uint8`` array, built in one buffer (no bytes copies; what XdfWriter queues).

    ``values`` is an ``(n, n_channels)`` array, or a list of such arrays
    (consecutive pieces, copied straight into the chunk: no concatenation).
    Each sample is ``[8][timestamp, f8][values]``: the three columns are
    copied into a ``(n, 9 + row bytes)`` view of the chunk. ``alloc(nbytes)``
    returns the ``uint8`` array to build it in (default: a new one).
    """
    n = len(timestamps)
    dtype = FORMAT_DTYPES[channel_format]
    is_pieces = isinstance(values, list) and values and all(isinstance(v, np.ndarray) and v.ndim == 2 for v in values)
    pieces = values if is_pieces else [np.asarray(values).reshape(n, -1)]
    pieces = [np.ascontiguousarray(p, dtype=dtype) for p in pieces]
    n_values = pieces[0].shape[1] if pieces else 0
    if sum(len(p) for p in pieces) != n or any(p.shape[1] != n_values for p in pieces):
        raise ValueError(f"samples_chunk_buffer: {n} timestamps but values of shapes {[p.shape for p in pieces]}")
    row = n_values * dtype.itemsize
    count = varlen(n)
    content = 4 + len(count) + n * (9 + row)
    head = varlen(content + 2) + struct.pack("<HI", TAG_SAMPLES, stream_id) + count
    out = (alloc or _new_bytes)(len(head) + n * (9 + row))
    out[: len(head)] = np.frombuffer(head, dtype=np.uint8)
    rows = out[len(head) :].reshape(n, 9 + row)
    rows[:, 0] = 8
    # the timestamps as one strided float64 column (a (n, 8) byte copy costs 3x more)
    rows[:, 1:9].view("<f8")[:, 0] = timestamps
    start = 0
    for p in pieces:
        rows[start : start + len(p), 9:] = p.view(np.uint8).reshape(len(p), row)
        start += len(p)
    return out


def _new_bytes(nbytes: int) -> np.ndarray:
    return np.empty(nbytes, dtype=np.uint8)


def samples_chunk(stream_id: int, values: np.ndarray, timestamps: np.ndarray, channel_format: str) -> bytes:
    """Return a Samples chunk of numeric ``values`` ``(n, n_channels)``, each with its 8-byte timestamp."""
    return samples_chunk_buffer(stream_id, values, timestamps, channel_format).tobytes()


def string_samples_chunk(stream_id: int, values, timestamps: np.ndarray) -> bytes:
    """Return a Samples chunk of a string stream: ``values`` holds samples, each a sequence of strings."""
    values = values if hasattr(values, "__len__") else list(values)
    if len(values) != len(timestamps):
        raise ValueError(
            f"XDF string stream {stream_id}: {len(values)} samples but {len(timestamps)} timestamps; "
            "give one timestamp per sample"
        )
    parts = [struct.pack("<I", stream_id), varlen(len(timestamps))]
    for sample, t in zip(values, timestamps, strict=True):
        parts.append(struct.pack("<Bd", 8, float(t)))
        for text in sample:
            raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
            parts.append(varlen(len(raw)))
            parts.append(raw)
    return chunk(TAG_SAMPLES, b"".join(parts))


def clock_offset_chunk(stream_id: int, collection_time: float, offset: float) -> bytes:
    """Return a ClockOffset chunk: when the offset was measured (local clock) and its value (s)."""
    return chunk(TAG_CLOCK_OFFSET, struct.pack("<Idd", stream_id, collection_time, offset))


def boundary_chunk() -> bytes:
    """Return a Boundary chunk (XDF's fixed UUID: where a reader of a damaged file can resume)."""
    return chunk(TAG_BOUNDARY, BOUNDARY_UUID)


def stream_footer_chunk(
    stream_id: int, first_timestamp: float | None, last_timestamp: float | None, sample_count: int, clock_offsets=()
) -> bytes:
    """Return a StreamFooter chunk (LabRecorder's XML: first/last timestamp, sample count, clock offsets)."""
    offsets = "".join(f"\t\t<offset><time>{t:.15g}</time><value>{v:.15g}</value></offset>\n" for t, v in clock_offsets)
    body = (
        f"\t<first_timestamp>{(first_timestamp or 0.0):.15g}</first_timestamp>\n"
        f"\t<last_timestamp>{(last_timestamp or 0.0):.15g}</last_timestamp>\n"
        f"\t<sample_count>{int(sample_count)}</sample_count>\n"
        f"\t<clock_offsets>\n{offsets}\t</clock_offsets>\n"
    )
    return chunk(TAG_STREAM_FOOTER, struct.pack("<I", stream_id) + _xml(body))
