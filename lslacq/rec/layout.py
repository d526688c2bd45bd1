"""The on-disk layout of a RawRecorder recording (shared by the recorder and the reader).

A recording is a directory::

    DIRNAME/
        stream_properties.json   one entry per stream + "pyacq_version" (pyacq's layout)
        annotations.json         what RawRecorder.add_annotations() was given (if called)
        input0.raw               raw samples of stream "input0", C order, no header
        input1.raw               ...

Each ``NAME.raw`` holds the samples of one stream back to back, exactly as
they were streamed (``dtype`` and frame ``shape[1:]`` from its entry): it can
be read with ``np.fromfile(path, dtype).reshape(-1, *shape[1:])`` or
``np.memmap``. The entry of each stream has pyacq's keys (``streamtype``,
``dtype``, ``shape``, ``sample_rate``, ``channel_info`` when the stream has
it, ``start_index``: the stream index of the first sample in the file) and
lslacq's additions, which pyacq readers ignore:

``channel_names``, ``channel_units``, ``channel_types``, ``units``, ``scale``, ``offset``
    Copied from the stream spec when present.
``discontinuities``
    ``[[file_sample, stream_index], ...]``: where the sample indexes jump
    (samples lost upstream, or a restarted source). Sample ``k`` of the file
    has index ``stream_index + (k - file_sample)`` for the last entry with
    ``file_sample <= k``; the first entry is ``[0, start_index]``.
``nb_sample``
    Samples known to be on disk at the last flush.
``state``
    ``"recording"`` while the recorder runs (a file left in this state was
    not closed cleanly: the process was killed or crashed), ``"stopped"``
    after a clean stop, ``"failed"`` when writing failed (``error`` says why).
``flush_time``
    Wall-clock time (Unix seconds) of the last flush.

The JSON files are replaced atomically (written to a temporary file, then
``os.replace``), so a killed recording always has a complete description.
``stream_properties.json`` ends with a few kB of spaces (JSON ignores them):
on a full disk, where no new file fits, its last update (the ``"failed"``
state and the error) overwrites it in place.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "PROPERTIES_FILE",
    "ANNOTATIONS_FILE",
    "VERSION_KEY",
    "raw_path",
    "write_json_atomic",
    "read_json",
    "jsonable",
    "check_stream_name",
    "named_streams",
    "connect_recorded",
]

PROPERTIES_FILE = "stream_properties.json"
ANNOTATIONS_FILE = "annotations.json"
VERSION_KEY = "pyacq_version"


def raw_path(dirname: str | os.PathLike, name: str) -> Path:
    """Path of the raw data file of stream ``name``."""
    return Path(dirname) / f"{name}.raw"


def check_stream_name(name: str) -> str:
    """Return ``name`` if it can name a stream file; raise ValueError naming the fix otherwise."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or name == VERSION_KEY
        or any(c in name for c in "/\\\0:")
    ):
        raise ValueError(
            f"invalid recorded stream name {name!r}: use a non-empty file name without '/', '\\' or "
            f"':' (and not {VERSION_KEY!r})"
        )
    return name


def named_streams(owner: str, streams, prefix: str) -> list[tuple[str, Any]]:
    """Return a recorder's ``streams`` argument as ``[(name, stream)]``.

    The names are a mapping's keys (checked), or ``prefix0, prefix1...`` for
    a sequence; ValueError naming ``owner`` when there is nothing to record.
    """
    if isinstance(streams, Mapping):
        named = [(check_stream_name(str(k)), v) for k, v in streams.items()]
    else:
        named = [(f"{prefix}{i}", s) for i, s in enumerate(streams)]
    if not named:
        raise ValueError(f"{owner}: configure() needs streams=[...] (or {{name: stream}}): nothing to record")
    return named


def connect_recorded(node, named: list, autoconnect: bool, max_buffered: float | None = None) -> dict:
    """One InputStream of ``node`` per recorded stream (connected unless ``autoconnect`` is False)."""
    from ..core.stream import InputStream

    inputs = {}
    for name, stream in named:
        inp = InputStream(spec={}, node=node, name=name)
        inputs[name] = inp
        if autoconnect:
            inp.connect(stream, **({} if max_buffered is None else {"max_buffered": max_buffered}))
    return inputs


def write_json_atomic(path: str | os.PathLike, obj: Any, room: int = 0) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file and ``os.replace``.

    Readers see either the previous content or the new one, never a partial
    file, whatever happens to this process. Raises OSError (e.g. a full
    disk) leaving the previous file intact.

    With ``room`` > 0, the file ends with ``room`` spaces (ignored by JSON
    readers), and when the disk is full (no room for the temporary file) a
    text that fits in the existing file's size overwrites it in place: its
    blocks are already allocated, so the update (e.g. the error that
    stopped a recording) still reaches the disk.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    data = json.dumps(obj, indent=4, separators=(",", ": "), ensure_ascii=False).encode("utf8") + b"\n"
    try:
        with open(tmp, "wb") as f:
            f.write(data + b" " * room)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if not (room and isinstance(exc, OSError) and exc.errno == errno.ENOSPC):
            raise
        try:
            size = os.path.getsize(path)
        except OSError:
            raise exc from None
        if len(data) > size:
            raise
        with open(path, "r+b") as f:  # same size: no new block needed
            f.write(data + b" " * (size - len(data)))


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays, tuples and bytes as plain JSON types (recursively).

    Parameters
    ----------
    obj : object
        Stream properties or annotations: mappings (keys become str), lists,
        tuples, numpy arrays and scalars, bytes (decoded as UTF-8), JSON types.

    Returns
    -------
    object
        What :func:`json.dumps` takes; anything else is returned as it is.
    """
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, bytes):
        return obj.decode("utf8", errors="replace")
    return obj


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file of a recording; errors name the file."""
    try:
        with open(path, encoding="utf8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); was it written by RawRecorder?") from None
