"""RawRecorder: record streams to raw binary files (pyacq's layout), crash-safe."""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..core.node import Node
from ..core.stream import InputStream
from ..core.stream.spec import dtype_to_params
from ..core.tools import ThreadPollInput, join_thread
from ..errors import BrokenStreamError, LslacqError, StreamClosedError
from .layout import ANNOTATIONS_FILE, PROPERTIES_FILE, VERSION_KEY, check_stream_name, raw_path, write_json_atomic

__all__ = ["RawRecorder", "DiskFullError"]

logger = logging.getLogger(__name__)

# spec keys copied to each stream's entry of stream_properties.json (pyacq's first, then lslacq's)
_PROPERTY_KEYS = ("streamtype", "dtype", "shape", "sample_rate", "channel_info", "channel_names", "channel_units",
                  "channel_types", "units", "scale", "offset")


class DiskFullError(LslacqError, OSError):
    """The disk filled up while recording (the data written before is intact)."""


def _open_data_file(path: Path) -> BinaryIO:
    """Open the raw file of one stream for appending, unbuffered (a seam the tests use to inject write errors)."""
    return open(path, "ab", buffering=0)


class _RawStreamFile:
    """Append-only raw file of one stream, flushed to the OS at a bounded cadence.

    Chunks of at least ``direct_bytes`` go to the OS at once (no copy); smaller
    ones are gathered in memory (up to ``buffer_bytes``) and written at the
    next flush, so tiny chunks at a high rate do not cost a system call each.
    """

    def __init__(self, path: Path, dtype: np.dtype, frame_shape: tuple, flush_interval: float, fsync: bool,
                 buffer_bytes: int = 1 << 20, direct_bytes: int = 1 << 16):
        self.path = path
        self.dtype = dtype
        self.frame_shape = frame_shape
        self.frame_bytes = dtype.itemsize * int(np.prod(frame_shape, dtype=np.int64))
        self.flush_interval = flush_interval
        self.fsync = fsync
        self.buffer_bytes = buffer_bytes
        self.direct_bytes = direct_bytes
        self.file = _open_data_file(path)
        self.n_written = os.path.getsize(path) // self.frame_bytes if self.frame_bytes else 0
        self.n_flushed = self.n_written
        self.last_flush = time.monotonic()
        self._pending = bytearray()

    def write(self, data: np.ndarray) -> None:
        data = np.ascontiguousarray(data, dtype=self.dtype)
        if data.shape[1:] != self.frame_shape:
            raise ValueError(f"{self.path.name}: a chunk of shape {data.shape} does not match the stream's frame "
                             f"shape {self.frame_shape}; the output sent data that contradicts its spec")
        raw = memoryview(data.reshape(-1).view(np.uint8))
        if not self._pending and raw.nbytes >= self.direct_bytes:
            self._write_all(raw, "writing")
        else:
            self._pending += raw  # a copy: the chunk's memory may be reused by the stream
            if len(self._pending) >= self.buffer_bytes:
                self._write_pending("writing")
        self.n_written += data.shape[0]

    def _write_pending(self, action: str) -> None:
        if self._pending:
            pending, self._pending = self._pending, bytearray()
            self._write_all(memoryview(pending), action)

    def _write_all(self, raw: memoryview, action: str) -> None:
        try:
            while raw.nbytes:
                n = self.file.write(raw)
                raw = raw[n:] if n is not None else raw[:0]
        except OSError as exc:
            raise self._explain(exc, action) from exc

    def due(self, now: float) -> bool:
        return self.n_written != self.n_flushed and now - self.last_flush >= self.flush_interval

    def flush(self) -> None:
        self._write_pending("flushing")
        try:
            if self.fsync:
                os.fsync(self.file.fileno())
        except OSError as exc:
            raise self._explain(exc, "flushing") from exc
        self.n_flushed = self.n_written
        self.last_flush = time.monotonic()

    def _explain(self, exc: OSError, action: str) -> OSError:
        if exc.errno == errno.ENOSPC:
            return DiskFullError(errno.ENOSPC, f"disk full while {action} {self.path}: the recording stopped; the "
                                               f"data written before is intact and readable. Free space or record "
                                               f"to another disk")
        return OSError(exc.errno, f"{action} {self.path} failed: {exc.strerror or exc}")

    def close(self) -> None:
        """Write what is gathered (what fits, on a full disk: the rest is logged as lost) and close."""
        try:
            self._write_pending("closing")
        except OSError as exc:
            logger.error("%s: could not write the last %d gathered samples: %s", self.path,
                         self.n_written - self.n_flushed, exc)
        finally:
            try:
                self.file.close()
            except OSError:
                pass


class _StreamWriter(ThreadPollInput):
    """Thread receiving one stream and appending it to its raw file."""

    def __init__(self, recorder: RawRecorder, name: str, input_stream: InputStream, file: _RawStreamFile,
                 flush_every_chunk: bool, expected_index: int | None):
        super().__init__(input_stream, timeout=100, return_data=True, name=f"{recorder.name}-rec-{name}")
        self.recorder = recorder
        self.stream_name = name
        self.file = file
        self.flush_every_chunk = flush_every_chunk
        self.expected_index = expected_index
        self.drain_timeout = 2.0

    def run(self) -> None:
        stream = self.input_stream
        try:
            while not self._stop_event.is_set():
                if stream.poll(timeout=self.timeout):
                    self._receive_one()
                if self.file.due(time.monotonic()):
                    self._flush()
            # what was already queued when stop() was called belongs to the recording
            deadline = time.monotonic() + self.drain_timeout
            while time.monotonic() < deadline and stream.poll(timeout=0):
                self._receive_one()
        except StreamClosedError as exc:  # the source closed: the recording of this stream is complete
            logger.info("%s: %s", self.name, exc)
        except BaseException:
            self.file.close()  # writes what it can of the buffered tail; keeps what is on disk
            raise
        try:
            self._flush()
        finally:
            self.file.close()

    def _receive_one(self) -> None:
        try:
            pos, data = self.input_stream.recv(return_data=True)
        except BrokenStreamError:
            return  # logged and counted by the stream
        self.process_data(pos, data)

    def process_data(self, pos: int, data: Any) -> None:
        data = np.asarray(data)
        n = data.shape[0] if data.ndim else 0
        if n == 0:
            return
        start = int(pos) - n
        if self.expected_index is None or start != self.expected_index:
            self.recorder._on_discontinuity(self.stream_name, self.file.n_written, start)
        self.file.write(data)
        self.expected_index = int(pos)
        if self.flush_every_chunk:
            self._flush()

    def _flush(self) -> None:
        if self.file.n_written != self.file.n_flushed:
            self.file.flush()
            self.recorder._on_flush(self.stream_name, self.file.n_flushed)


class RawRecorder(Node):
    """Record streams to one raw binary file each plus a JSON description (pyacq's RawRecorder).

    Usage (pyacq's)::

        rec = RawRecorder()
        rec.configure(streams=[dev.output, trig.output], autoconnect=True, dirname=path)
        rec.initialize()
        rec.start()

    The layout (``input0.raw``, ``input1.raw``... and ``stream_properties.json``)
    is pyacq's; see :mod:`lslacq.rec.layout`. Read it with
    :func:`lslacq.rec.read_recording`.

    Crash safety: data is handed to the operating system at least every
    ``flush_interval`` seconds (event streams after every chunk), and the
    JSON description is replaced atomically, so after a SIGKILL everything up
    to the last flush is readable. A full disk stops the recorder with
    :class:`DiskFullError` in :attr:`error` (and on :attr:`failed`); what was
    written before stays intact.

    Parameters
    ----------
    streams : list of streams, or dict {name: stream}
        The output streams to record (OutputStream, proxies of remote ones,
        or their params dicts). With a list, the inputs and files are named
        ``input0``, ``input1``...; with a dict, by its keys.
    autoconnect : bool
        Connect the inputs to ``streams`` now (otherwise connect
        ``rec.inputs[name]`` yourself before ``initialize()``).
    dirname : str or path
        Directory to create. It must not exist: a recorder never overwrites.
    flush_interval : float
        Longest time, in seconds, data waits in memory before being written
        to the operating system (default 1.0; 0 writes every chunk through).
    fsync : bool
        Also ``os.fsync`` at each flush (survives a power cut, not only a
        killed process; costs disk bandwidth).
    max_buffered : float, optional
        With ``autoconnect``: seconds of data each stream may hold for this
        recorder while it is stalled (e.g. a slow disk) before the oldest is
        dropped for it (``InputStream.connect(max_buffered=...)``; default:
        the stream's default). Drops are counted in ``counters()`` and appear
        as discontinuities in the file.
    """

    _input_specs: dict = {}
    _output_specs: dict = {}
    _dynamic_streams = True

    def _configure(self, streams: Sequence | Mapping = (), autoconnect: bool = True,
                   dirname: str | os.PathLike | None = None, flush_interval: float = 1.0, fsync: bool = False,
                   max_buffered: float | None = None) -> None:
        if dirname is None:
            raise ValueError(f"{self.name}: configure() needs dirname=..., the directory to create for the recording")
        if os.path.exists(dirname):
            raise FileExistsError(f"{self.name}: {os.fspath(dirname)!r} already exists; RawRecorder never "
                                  "overwrites a recording: choose a new dirname")
        if not isinstance(flush_interval, (int, float)) or isinstance(flush_interval, bool) or flush_interval < 0:
            raise ValueError(f"{self.name}: flush_interval must be a number of seconds >= 0, got {flush_interval!r}")
        if isinstance(streams, Mapping):
            named = [(check_stream_name(str(k)), v) for k, v in streams.items()]
        else:
            named = [(f"input{i}", s) for i, s in enumerate(streams)]
        if not named:
            raise ValueError(f"{self.name}: configure() needs streams=[...] (or {{name: stream}}): nothing to record")
        self.streams = streams
        self.dirname = Path(dirname)
        self.flush_interval = float(flush_interval)
        self.fsync = bool(fsync)
        self.inputs = {}
        for name, stream in named:
            inp = InputStream(spec={}, node=self, name=name)
            self.inputs[name] = inp
            if autoconnect:
                if max_buffered is None:
                    inp.connect(stream)
                else:
                    inp.connect(stream, max_buffered=max_buffered)
        self._annotations: dict = {}
        self._properties: dict = {}

    # -- lifecycle -------------------------------------------------------------
    def _initialize(self) -> None:
        try:
            os.makedirs(self.dirname)
        except FileExistsError:
            raise FileExistsError(f"{self.name}: {os.fspath(self.dirname)!r} already exists; RawRecorder never "
                                  "overwrites a recording: choose a new dirname") from None
        self._lock = threading.Lock()
        self._last_json = 0.0
        self._writers: dict[str, _StreamWriter] = {}
        self._files: dict[str, _RawStreamFile] = {}
        self._expected: dict[str, int | None] = {}
        props: dict[str, Any] = {}
        for name, inp in self.inputs.items():
            params = inp.params
            prop = {}
            for key in _PROPERTY_KEYS:
                value = params.get(key)
                if value is not None and value != "":
                    prop[key] = value
            prop["dtype"] = dtype_to_params(params.np_dtype)
            prop["shape"] = [int(x) for x in params.shape]
            prop.update(discontinuities=[], nb_sample=0, state="initialized")
            props[name] = _jsonable(prop)
            raw_path(self.dirname, name).touch()
            self._expected[name] = None
        from .. import __version__

        props[VERSION_KEY] = f"lslacq {__version__}"
        self._properties = props
        self._write_properties()
        if self._annotations:
            write_json_atomic(self.dirname / ANNOTATIONS_FILE, self._annotations)

    def _start(self) -> None:
        self._stopping_for_failure = False
        with self._lock:
            for name in self.inputs:
                self._properties[name]["state"] = "recording"
            self._write_properties()
        for name, inp in self.inputs.items():
            params = inp.params
            dtype = params.np_dtype
            file = _RawStreamFile(raw_path(self.dirname, name), dtype, params.frame_shape, self.flush_interval,
                                  self.fsync)
            self._files[name] = file
            writer = _StreamWriter(self, name, inp, file, flush_every_chunk=params.streamtype == "event"
                                   or dtype.names is not None, expected_index=self._expected[name])
            writer.failed.connect(lambda exc, n=name: self._on_writer_failed(n, exc))
            self._writers[name] = writer
        for writer in self._writers.values():
            writer.start()

    def _stop(self) -> None:
        for writer in self._writers.values():
            writer.stop()
        for name, writer in self._writers.items():
            join_thread(writer._thread, 15, f"{self.name}: writer of {name!r}", logger)
            self._expected[name] = writer.expected_index
        with self._lock:
            for name, writer in self._writers.items():
                prop = self._properties[name]
                prop["nb_sample"] = writer.file.n_flushed
                if prop["state"] != "failed":
                    prop["state"] = "stopped"
            self._write_properties(force=True, quiet=True)
        self._writers = {}
        self._files = {}

    # -- pyacq API -------------------------------------------------------------
    def add_annotations(self, **kwargs) -> None:
        """Store JSON-serialisable key/values in ``annotations.json`` (written at once if initialized)."""
        self._annotations.update(_jsonable(kwargs))
        if self.initialized():
            with self._lock:
                write_json_atomic(self.dirname / ANNOTATIONS_FILE, self._annotations)

    # -- counters ----------------------------------------------------------------
    def counters(self) -> dict:
        counters = super().counters()
        files = list(getattr(self, "_files", {}).values())
        counters["samples_written"] = sum(f.n_written for f in files)
        counters["bytes_written"] = sum(f.n_written * f.frame_bytes for f in files)
        return counters

    # -- called by the writer threads --------------------------------------------
    def _on_discontinuity(self, name: str, file_sample: int, index: int) -> None:
        with self._lock:
            prop = self._properties[name]
            if not prop["discontinuities"]:
                prop["start_index"] = index
            elif file_sample > 0:
                logger.warning("%s: stream %r jumps to index %d at sample %d of its file (samples lost upstream, or "
                               "the source restarted)", self.name, name, index, file_sample)
            prop["discontinuities"].append([int(file_sample), int(index)])
            self._write_properties(force=True)

    def _on_flush(self, name: str, n_flushed: int) -> None:
        with self._lock:
            self._properties[name]["nb_sample"] = int(n_flushed)
            self._properties[name]["flush_time"] = time.time()
            self._write_properties()

    def _on_writer_failed(self, name: str, exc: BaseException) -> None:
        with self._lock:
            prop = self._properties[name]
            prop["state"] = "failed"
            prop["error"] = str(exc)
            self._write_properties(force=True, quiet=True)
        for writer in self._writers.values():  # a full disk stops every stream, not only this one
            writer.stop()
        self._report_error(exc, context=f"recording stream {name!r} to {self.dirname}")

    def _write_properties(self, force: bool = False, quiet: bool = False) -> None:
        """Rewrite stream_properties.json (caller holds the lock); throttled to the flush cadence."""
        now = time.monotonic()
        if not force and now - self._last_json < max(self.flush_interval, 0.05):
            return
        try:
            write_json_atomic(self.dirname / PROPERTIES_FILE, self._properties)
        except OSError as exc:
            if not quiet:
                raise
            logger.error("%s: could not update %s (the previous version is intact): %s", self.name,
                         PROPERTIES_FILE, exc)
        self._last_json = now


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and tuples to plain JSON types."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, bytes):
        return obj.decode("utf8", errors="replace")
    return obj
