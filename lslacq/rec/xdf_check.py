"""Check and repair XDF files: what a file holds, where it ends, and the footers a killed recorder did not write.

:func:`scan_xdf` walks the chunks without loading the samples (numeric
chunks whose samples all carry a timestamp are measured from their length).
:func:`repair_xdf` cuts a torn last chunk (saved next to the file as
``FILE.tail``) and appends a StreamFooter for every stream without one, so
readers that want footers (and pyxdf, which cannot read some torn chunks)
load the file.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from .xdf_format import (
    FORMAT_DTYPES,
    MAGIC,
    TAG_BOUNDARY,
    TAG_CLOCK_OFFSET,
    TAG_FILE_HEADER,
    TAG_SAMPLES,
    TAG_STREAM_FOOTER,
    TAG_STREAM_HEADER,
    stream_footer_chunk,
)

__all__ = ["XdfStreamSummary", "XdfScan", "scan_xdf", "repair_xdf"]


@dataclasses.dataclass
class XdfStreamSummary:
    """One stream of a scanned XDF file."""

    stream_id: int
    name: str
    type: str
    channel_format: str
    channel_count: int
    nominal_srate: float
    sample_count: int = 0
    first_timestamp: float | None = None
    last_timestamp: float | None = None
    clock_offsets: list = dataclasses.field(default_factory=list)
    has_footer: bool = False


@dataclasses.dataclass
class XdfScan:
    """What :func:`scan_xdf` found.

    Attributes
    ----------
    size : int
        File size in bytes.
    end : int
        Offset just after the last whole chunk (== size for an intact file).
    problem : str
        Why the scan stopped before ``size`` ('' if it did not).
    streams : dict of XdfStreamSummary
        By stream id.
    n_chunks, n_boundaries : int
    boundary_times : list of float or None
        For each Boundary chunk, in file order, the latest sample timestamp
        written before it (None before any sample): where the Boundaries
        sit on the recording's time axis.
    """

    path: Path
    size: int
    end: int
    problem: str
    streams: dict
    n_chunks: int
    n_boundaries: int
    file_header: bool
    boundary_times: list = dataclasses.field(default_factory=list)

    @property
    def torn_bytes(self) -> int:
        """Bytes after the last whole chunk (an incomplete chunk: 0 when the writer stopped between chunks)."""
        return self.size - self.end

    @property
    def complete(self) -> bool:
        """Whole chunks only, and a footer for every stream (what a recorder leaves when it closes)."""
        return not self.torn_bytes and all(s.has_footer for s in self.streams.values())

    def _boundaries_note(self) -> str:
        """Say where the Boundary chunks are, in seconds from the first sample."""
        firsts = [s.first_timestamp for s in self.streams.values() if s.first_timestamp is not None]
        times = [t for t in self.boundary_times if t is not None]
        if not firsts or not times:
            return ""
        at = [t - min(firsts) for t in times]
        if len(at) <= 4:
            return " (at " + ", ".join(f"{t:.1f}" for t in at) + " s)"
        return f" (every {float(np.median(np.diff(at))):.1f} s, the first at {at[0]:.1f} s)"

    def report(self) -> str:
        """Return a human-readable summary (what ``lslacq xdf check`` prints)."""
        lines = [
            f"{os.fspath(self.path)}: {self.size} bytes, {self.n_chunks} chunks, {len(self.streams)} streams, "
            f"{self.n_boundaries} boundary chunks{self._boundaries_note()}"
        ]
        for s in self.streams.values():
            span = ""
            if s.first_timestamp is not None:
                span = (
                    f", t = {s.first_timestamp:.3f} .. {s.last_timestamp:.3f} s "
                    f"({s.last_timestamp - s.first_timestamp:.3f} s)"
                )
            rate = f"{s.nominal_srate:g} Hz" if s.nominal_srate else "irregular"
            lines.append(
                f"  stream {s.stream_id} {s.name!r} ({s.type or 'no type'}, {s.channel_count} ch "
                f"{s.channel_format}, {rate}): {s.sample_count} samples{span}, "
                f"{len(s.clock_offsets)} clock offsets, " + ("footer" if s.has_footer else "NO footer")
            )
        if self.torn_bytes:
            lines.append(
                f"ends with {self.torn_bytes} bytes of an incomplete chunk at offset {self.end} "
                f"({self.problem}); `lslacq xdf repair` cuts them"
            )
        elif not self.complete:
            lines.append(
                f"ends after a whole chunk at offset {self.end}, without the footers of "
                f"{[s.name for s in self.streams.values() if not s.has_footer]}: the recorder did not "
                "close the file (killed or crashed). pyxdf loads it as it is; `lslacq xdf repair` adds "
                "the footers"
            )
        else:
            lines.append("complete: every stream has its footer")
        return "\n".join(lines)


class _Torn(Exception):
    pass


def _varlen(buf: memoryview, pos: int) -> tuple[int, int]:
    if pos >= len(buf):
        raise _Torn("the file ends inside a length")
    nbytes = buf[pos]
    if nbytes not in (1, 4, 8):
        raise ValueError(f"invalid length byte {nbytes} at offset {pos}")
    if pos + 1 + nbytes > len(buf):
        raise _Torn("the file ends inside a length")
    value = int.from_bytes(buf[pos + 1 : pos + 1 + nbytes], "little")
    return value, pos + 1 + nbytes


def _text(root, tag: str, default: str = "") -> str:
    node = root.find(tag)
    return node.text or default if node is not None and node.text is not None else default


def _count_samples(content: memoryview, s: XdfStreamSummary) -> tuple[int, float | None, float | None]:
    """Count the samples of a Samples chunk's content (after the stream id); its first/last explicit timestamps."""
    n, pos = _varlen(content, 0)
    if n == 0:
        return 0, None, None
    if s.channel_format in FORMAT_DTYPES:
        item = FORMAT_DTYPES[s.channel_format].itemsize * s.channel_count
        if len(content) - pos == n * (9 + item):  # every sample with its 8-byte timestamp: the common case
            fields = [("n", "u1"), ("t", "<f8")] + ([("v", f"V{item}")] if item else [])
            rec = np.frombuffer(content, dtype=np.dtype(fields), count=n, offset=pos)
            if np.all(rec["n"] == 8):
                return n, float(rec["t"][0]), float(rec["t"][-1])
    first = last = None
    for _ in range(n):
        flag = content[pos]
        pos += 1
        if flag == 8:
            t = struct.unpack_from("<d", content, pos)[0]
            pos += 8
            first = t if first is None else first
            last = t
        if s.channel_format in FORMAT_DTYPES:
            pos += FORMAT_DTYPES[s.channel_format].itemsize * s.channel_count
        else:
            for _ in range(s.channel_count):
                length, pos = _varlen(content, pos)
                pos += length
    if pos != len(content):
        raise ValueError(f"samples of stream {s.stream_id} do not fill their chunk")
    return n, first, last


def scan_xdf(path: str | os.PathLike) -> XdfScan:
    """Walk the chunks of an XDF file; say what it holds and where (and why) it ends.

    Raises
    ------
    ValueError
        If the file does not start with ``XDF:``.
    """
    path = Path(path)
    data = path.read_bytes()
    buf = memoryview(data)
    if data[:4] != MAGIC:
        raise ValueError(f"{os.fspath(path)!r} is not an XDF file: it does not start with 'XDF:'")
    pos, end, problem = 4, 4, ""
    streams: dict[int, XdfStreamSummary] = {}
    n_chunks = n_boundaries = 0
    file_header = False
    latest: float | None = None  # the latest sample timestamp so far
    boundary_times: list[float | None] = []
    while pos < len(buf):
        try:
            length, body = _varlen(buf, pos)
            if length < 2 or body + length > len(buf):
                raise _Torn(f"a chunk of {length} bytes at offset {pos} is cut by the end of the file")
            tag = struct.unpack_from("<H", buf, body)[0]
            content = buf[body + 2 : body + length]
            if tag == TAG_FILE_HEADER:
                file_header = True
            elif tag in (TAG_STREAM_HEADER, TAG_SAMPLES, TAG_CLOCK_OFFSET, TAG_STREAM_FOOTER):
                stream_id = struct.unpack_from("<I", content, 0)[0]
                rest = content[4:]
                if tag == TAG_STREAM_HEADER:
                    root = ElementTree.fromstring(bytes(rest))
                    streams[stream_id] = XdfStreamSummary(
                        stream_id,
                        _text(root, "name"),
                        _text(root, "type"),
                        _text(root, "channel_format", "float32"),
                        int(_text(root, "channel_count", "1") or 1),
                        float(_text(root, "nominal_srate", "0") or 0),
                    )
                elif stream_id not in streams:
                    raise ValueError(
                        f"a chunk of tag {tag} at offset {pos} belongs to stream {stream_id}, which has "
                        "no header before it"
                    )
                elif tag == TAG_SAMPLES:
                    s = streams[stream_id]
                    n, first, last = _count_samples(rest, s)
                    s.sample_count += n
                    if first is not None:
                        s.first_timestamp = first if s.first_timestamp is None else s.first_timestamp
                        s.last_timestamp = last
                        latest = last if latest is None else max(latest, last)
                elif tag == TAG_CLOCK_OFFSET:
                    streams[stream_id].clock_offsets.append(struct.unpack_from("<dd", rest, 0))
                else:
                    streams[stream_id].has_footer = True
            elif tag == TAG_BOUNDARY:
                n_boundaries += 1
                boundary_times.append(latest)
        except _Torn as exc:
            problem = str(exc)
            break
        except (ValueError, struct.error, ElementTree.ParseError) as exc:
            problem = f"damaged chunk at offset {pos}: {exc}"
            break
        n_chunks += 1
        pos = end = body + length
    return XdfScan(path, len(buf), end, problem, streams, n_chunks, n_boundaries, file_header, boundary_times)


def repair_xdf(path: str | os.PathLike) -> list[str]:
    """Make a file left by a killed recorder complete: cut a torn tail, add the missing StreamFooters.

    The cut bytes are saved as ``FILE.tail`` (nothing is thrown away).
    Returns what was done, one line per action (empty if the file was
    complete).
    """
    path = Path(path)
    scan = scan_xdf(path)
    done = []
    if scan.torn_bytes:
        tail = path.with_name(path.name + ".tail")
        with open(path, "rb") as f:
            f.seek(scan.end)
            tail.write_bytes(f.read())
        os.truncate(path, scan.end)
        done.append(
            f"cut {scan.torn_bytes} bytes of an incomplete chunk at offset {scan.end} ({scan.problem}); "
            f"saved in {os.fspath(tail)}"
        )
    footers = [s for s in scan.streams.values() if not s.has_footer]
    if footers:
        with open(path, "ab") as f:
            for s in footers:
                f.write(
                    stream_footer_chunk(
                        s.stream_id, s.first_timestamp, s.last_timestamp, s.sample_count, s.clock_offsets
                    )
                )
            f.flush()
            os.fsync(f.fileno())
        done.append("added the footers of " + ", ".join(f"{s.name!r} ({s.sample_count} samples)" for s in footers))
    return done
