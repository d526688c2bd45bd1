"""XdfWriter: write an XDF file crash-safely (whole chunks, handed to the OS at a bounded cadence).

What a crash leaves: the file always ends after a whole chunk (chunks are
assembled in memory and handed to the operating system with ``os.write``,
which a killed process cannot tear), so ``pyxdf.load_xdf`` loads it as it is,
with every sample written up to the last flush; only the StreamFooters
(written by :meth:`XdfWriter.close`) are missing. A full disk keeps every
chunk that reached it whole, cuts the torn one and raises
:class:`~lslacq.rec.DiskFullError`.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ._rawfile import DiskFullError
from .deadlines import WriteDeadlines
from .pagecache import PageCacheRelease
from .xdf_format import (
    FORMAT_DTYPES,
    MAGIC,
    boundary_chunk,
    channel_format_of,
    clock_offset_chunk,
    file_header_chunk,
    samples_chunk_buffer,
    stream_footer_chunk,
    stream_header_chunk,
    string_samples_chunk,
)

__all__ = ["XdfWriter"]

logger = logging.getLogger(__name__)


_IOV_MAX = 1024  # buffers per writev (Linux's and macOS's IOV_MAX)
#: bytes per system call (the kernel's CPU per MB does not depend on it: 256 kB to 8 MB writes cost 0.2 ms/MB on
#: the benchmark VM; what costs 20x more is page cache memory the VM never touched before, whatever the size)
_WRITE_BYTES = 256 * 1024


def _write_all(fd: int, buffers: list, done: list) -> int:
    """Write ``buffers`` in order with ``os.writev`` (no joined copy), resuming short writes; return the size.

    Each call writes at most ``_WRITE_BYTES``. ``done[0]`` counts the bytes
    written so far (what is on disk when a write fails).
    """
    views = []
    for b in buffers:
        v = memoryview(b).cast("B")
        views.extend(v[k : k + _WRITE_BYTES] for k in range(0, len(v), _WRITE_BYTES))
    total = sum(len(v) for v in views)
    i = 0
    while i < len(views):
        batch, size = [], 0
        for v in views[i : i + _IOV_MAX]:
            if batch and size + len(v) > _WRITE_BYTES:
                break
            batch.append(v)
            size += len(v)
        n = os.writev(fd, batch)
        done[0] += n
        while n and i < len(views):
            if n >= len(views[i]):
                n -= len(views[i])
                i += 1
            else:
                views[i] = views[i][n:]
                n = 0
        while i < len(views) and not len(views[i]):
            i += 1
    return total


class _Arena:
    """Whole chunks waiting for the disk, built into one buffer that is reused after each flush.

    A new buffer per chunk (megabytes per second of them) comes back from
    the allocator as fresh pages: a page fault per 4 kB, which cost more
    kernel CPU than writing them. ``ends`` lists where each whole chunk ends
    (what a failed write keeps).
    """

    def __init__(self, capacity: int = 1 << 20):
        self.buf = np.empty(capacity, dtype=np.uint8)
        self.used = 0
        self.ends: list[int] = []

    def reserve(self, nbytes: int) -> np.ndarray:
        """Return the next ``nbytes`` of the buffer, for one whole chunk (grown when full)."""
        end = self.used + nbytes
        if end > len(self.buf):
            bigger = np.empty(max(2 * len(self.buf), end), dtype=np.uint8)
            bigger[: self.used] = self.buf[: self.used]
            self.buf = bigger
        view = self.buf[self.used : end]
        self.used = end
        self.ends.append(end)
        return view

    def append(self, data: bytes) -> None:
        self.reserve(len(data))[:] = np.frombuffer(data, dtype=np.uint8)

    def clear(self) -> None:
        """Empty (after a flush); a buffer grown far beyond what a flush needed (a stall) is let go."""
        if len(self.buf) > 16 << 20 and len(self.buf) > 8 * self.used:
            self.buf = np.empty(max(1 << 20, 2 * self.used), dtype=np.uint8)
        self.used = 0
        self.ends.clear()


def _is_pieces(values) -> bool:
    """Tell a list of 2-D arrays (consecutive pieces of one chunk) from a list of samples."""
    return isinstance(values, list) and bool(values) and all(isinstance(v, np.ndarray) and v.ndim == 2 for v in values)


class _StreamState:
    def __init__(self, channel_format: str, n_channels: int, name: str):
        self.channel_format = channel_format
        self.n_channels = n_channels
        self.name = name
        self.first: float | None = None
        self.last: float | None = None
        self.count = 0
        self.offsets: list[tuple[float, float]] = []


class XdfWriter:
    """Append XDF chunks to a new file; hand them to the OS every ``flush_interval`` seconds.

    Thread-safe: several threads may add samples of their streams; a
    background thread (:meth:`start_flusher`) or the caller (:meth:`flush`)
    writes them out.

    Parameters
    ----------
    path : str or path
        The file to create (never overwritten: an existing file is an error).
    flush_interval : float
        Longest time (s) data waits in memory once :meth:`start_flusher` runs
        (default 1.0).
    fsync : bool
        Also ``os.fsync`` at every flush (survives power cuts, not only
        killed processes).
    boundary_interval : float
        Seconds between Boundary chunks (default 10, as LabRecorder).
    header : dict, optional
        Extra FileHeader fields.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        flush_interval: float = 1.0,
        fsync: bool = False,
        boundary_interval: float = 10.0,
        header: dict | None = None,
    ):
        if not flush_interval > 0:
            raise ValueError(f"XdfWriter: flush_interval must be > 0 s, got {flush_interval!r}")
        self.path = Path(path)
        self.flush_interval = float(flush_interval)
        self.fsync = bool(fsync)
        self.boundary_interval = float(boundary_interval)
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            raise FileExistsError(
                f"{os.fspath(self.path)!r} already exists; an XDF recording never overwrites: choose a new file name"
            ) from None
        self.page_cache = PageCacheRelease(self._fd)  # written pages leave the page cache once on disk
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._pending = _Arena()  # chunks added since the last flush
        self._spare = _Arena()  # the other buffer: written by flush() while chunks are added to the first
        self._streams: dict[int, _StreamState] = {}
        self.bytes_written = 0
        self.samples_written = 0
        self.error: OSError | None = None
        self.closed = False
        self._flusher: threading.Thread | None = None
        self._stop_flusher = threading.Event()
        self._on_error: Callable[[OSError], None] | None = None
        self._on_tick: Callable[[], None] | None = None
        self._last_boundary = time.monotonic()
        self._pending.append(MAGIC + file_header_chunk(header))
        self.flush()

    # -- adding chunks ---------------------------------------------------------------
    def add_stream(self, xml: bytes | str, channel_format: str, n_channels: int, name: str = "") -> int:
        """Declare a stream (its StreamHeader XML, e.g. an LSL ``info.as_xml()``); return its stream id.

        The header reaches the disk at once.
        """
        if channel_format not in FORMAT_DTYPES and channel_format != "string":
            raise ValueError(
                f"XdfWriter: channel_format {channel_format!r} of {name or 'a stream'} is not an XDF "
                f"format; use one of {sorted(FORMAT_DTYPES) + ['string']} (channel_format_of(dtype))"
            )
        with self._lock:
            stream_id = len(self._streams) + 1
            self._streams[stream_id] = _StreamState(channel_format, int(n_channels), name or f"stream {stream_id}")
            self._pending.append(stream_header_chunk(stream_id, xml))
        self.flush()
        return stream_id

    def add_samples(self, stream_id: int, values, timestamps) -> None:
        """Queue samples of a stream, with one timestamp each.

        ``values`` is ``(n, n_channels)`` (numeric; or a list of such
        consecutive pieces, copied into the chunk without a concatenation) or
        ``n`` lists of strings.
        """
        if self.error is not None:
            raise self.error
        state = self._streams[stream_id]
        timestamps = np.asarray(timestamps, dtype=np.float64).reshape(-1)
        n = len(timestamps)
        if n == 0:
            return
        text = None
        if state.channel_format == "string":
            text = string_samples_chunk(stream_id, values, timestamps)
        else:
            values = values if _is_pieces(values) else np.asarray(values)
            pieces = values if isinstance(values, list) else [values]
            if sum(p.size for p in pieces) != n * state.n_channels:
                raise ValueError(
                    f"XdfWriter: {state.name} has {state.n_channels} channels; got values of shape "
                    f"{', '.join(str(p.shape) for p in pieces)} for {n} timestamps"
                )
        with self._lock:
            if text is not None:
                self._pending.append(text)
            else:  # built straight into the buffer of pending chunks
                samples_chunk_buffer(stream_id, values, timestamps, state.channel_format, self._pending.reserve)
            if state.first is None:
                state.first = float(timestamps[0])
            state.last = float(timestamps[-1])
            state.count += n
            self.samples_written += n

    def add_clock_offset(self, stream_id: int, collection_time: float, offset: float) -> None:
        """Queue a ClockOffset measurement of a stream (LSL ``time_correction``)."""
        if self.error is not None:
            raise self.error
        with self._lock:
            self._pending.append(clock_offset_chunk(stream_id, collection_time, offset))
            self._streams[stream_id].offsets.append((float(collection_time), float(offset)))

    def add_boundary(self) -> None:
        """Queue a Boundary chunk (:meth:`tick` adds one every ``boundary_interval`` s)."""
        with self._lock:
            self._pending.append(boundary_chunk())
            self._last_boundary = time.monotonic()

    @property
    def streams(self) -> dict:
        """``{stream id: (name, samples queued so far)}``."""
        with self._lock:
            return {k: (s.name, s.count) for k, s in self._streams.items()}

    # -- writing ---------------------------------------------------------------------------
    def flush(self) -> None:
        """Hand every queued chunk to the operating system (and ``fsync`` if asked).

        Raises
        ------
        DiskFullError
            The disk is full: the file was cut back to its last whole chunk.
        OSError
            Any other write error (the file keeps its whole chunks).
        """
        with self._write_lock:
            if self.error is not None:
                raise self.error
            with self._lock:
                pending, self._pending, self._spare = self._pending, self._spare, None
            done = [0]
            try:
                if not pending.used:
                    return
                size = _write_all(self._fd, [pending.buf[: pending.used]], done)
                if self.fsync:
                    os.fsync(self._fd)
            except OSError as exc:
                # keep every whole chunk that reached the disk, cut the torn one: readers load the file as it is
                whole = max((end for end in pending.ends if end <= done[0]), default=0)
                try:
                    os.ftruncate(self._fd, self.bytes_written + whole)
                    self.bytes_written += whole
                except OSError:
                    logger.exception("XdfWriter: could not cut %s back to its last whole chunk", self.path)
                self.error = self._describe(exc)
                raise self.error from exc
            finally:
                pending.clear()
                self._spare = pending
            self.bytes_written += size
            self.page_cache.written(size)  # never waits for the disk; only what was written is counted

    def _describe(self, exc: OSError) -> OSError:
        if exc.errno == errno.ENOSPC:
            return DiskFullError(
                errno.ENOSPC,
                f"disk full while writing {os.fspath(self.path)!r}: the recording "
                f"stopped; the {self.bytes_written} bytes written before are intact and load with "
                "pyxdf (free space, then record to a new file)",
            )
        return OSError(
            exc.errno,
            f"writing {os.fspath(self.path)!r} failed: {exc.strerror}; the "
            f"{self.bytes_written} bytes written before are intact",
        )

    def start_flusher(
        self, on_error: Callable[[OSError], None] | None = None, on_tick: Callable[[], None] | None = None
    ) -> None:
        """Flush every ``flush_interval`` s (and add a Boundary every ``boundary_interval`` s) in a thread.

        ``on_error(exc)`` is called once if a write fails; the thread then
        stops. ``on_tick()`` is called before each flush (e.g. to add clock
        offsets).
        """
        self._on_error = on_error
        self._on_tick = on_tick
        self._stop_flusher.clear()
        self._flusher = threading.Thread(target=self._flush_loop, name=f"xdf-flush-{self.path.name}", daemon=True)
        self._flusher.start()

    def tick(self) -> None:
        """Do what the flusher does every ``flush_interval``: ``on_tick()``, a Boundary when due, :meth:`flush`.

        For a caller that writes at its own cadence instead of :meth:`start_flusher`.
        """
        if self._on_tick is not None:
            self._on_tick()
        if time.monotonic() - self._last_boundary >= self.boundary_interval:
            self.add_boundary()
        self.flush()

    def _flush_loop(self) -> None:
        deadlines = WriteDeadlines(self.flush_interval)  # on disk within flush_interval, the flush's time included
        while not self._stop_flusher.wait(deadlines.delay()):
            try:
                self.tick()
            except OSError as exc:
                if self._on_error is not None:
                    self._on_error(exc)
                else:
                    logger.error("XdfWriter: %s", exc)
                return
            deadlines.done()

    def close(self) -> None:
        """Write what is queued and a StreamFooter per stream, then close the file."""
        if self.closed:
            return
        self._stop_flusher.set()
        if self._flusher is not None:
            self._flusher.join(10)
            self._flusher = None
        try:
            if self.error is None:
                with self._lock:
                    for stream_id, s in self._streams.items():
                        self._pending.append(stream_footer_chunk(stream_id, s.first, s.last, s.count, s.offsets))
                self.flush()
        finally:
            self.closed = True
            try:
                self.page_cache.close()  # release the last pages before the descriptor goes
            finally:
                os.close(self._fd)

    def __enter__(self) -> XdfWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def channel_format_of(dtype) -> str:
        """See :func:`lslacq.rec.xdf_format.channel_format_of`."""
        return channel_format_of(dtype)
