"""The raw file of one recorded stream: chunks gathered without copies, written in batches with writev.

The thread that receives a stream hands each chunk to :meth:`RawStreamFile.write`
(a reference, no copy, when the chunk's memory stays valid; a copy when it is
borrowed, like a view of a shared-memory ring). Chunks are gathered into
batches of about ``batch_bytes``, written with ``os.writev``: by the
receiving thread itself (the default), or with ``threaded=True`` (what
RawRecorder uses) by the file's own I/O thread, which writes every batch
waiting for it in one call (up to ``max_write_bytes``), so that receiving
goes on while the disk is busy or an ``fsync`` waits. A flush hands whatever
is gathered to the operating system (and ``fsync``-s it if asked); the
recorder flushes at a bounded cadence, event streams after every chunk.
"""

from __future__ import annotations

import collections
import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..core.tools import join_thread
from ..errors import LslacqError
from .pagecache import PageCacheRelease

__all__ = ["DiskFullError", "RawStreamFile"]

logger = logging.getLogger(__name__)

try:
    _IOV_MAX = max(16, min(int(os.sysconf("SC_IOV_MAX")), 1024))
except (AttributeError, ValueError, OSError):
    _IOV_MAX = 16
_CLOSE = object()  # the I/O thread's end marker
#: bytes per writev of the I/O thread: two default batches, so the thread needs the GIL once per 2 MB; bigger
#: writes bought nothing measurable (benchmarks/rec.py flat out: 8, 2 and 1 MB within the VM's noise, and the
#: kernel's CPU per MB does not depend on the size of the write, only on whether the page cache memory is new)
#: and hold more memory in one system call
_MAX_WRITE_BYTES = 2 << 20


class DiskFullError(LslacqError, OSError):
    """The disk filled up while recording (the data written before is intact)."""


class _DataFile:
    """An append-only file descriptor written with ``writev`` (the seam tests replace to simulate a full disk)."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        self.page_cache = PageCacheRelease(self.fd)  # written pages leave the page cache once on disk

    def writev(self, buffers: Sequence) -> int:
        """Write ``buffers`` in order with one system call; return the bytes written (may be fewer)."""
        n = os.writev(self.fd, buffers)
        self.page_cache.written(n)
        return n

    def fsync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        self.page_cache.close()
        os.close(self.fd)


def _open_data_file(path: Path) -> _DataFile:
    """Open the raw file of one stream for appending."""
    return _DataFile(path)


class RawStreamFile:
    """Append-only raw file of one stream, written in batches (by the caller, or by a thread of its own).

    Parameters
    ----------
    path : Path
        The ``NAME.raw`` file (appended to if it exists).
    dtype : numpy.dtype
        Sample dtype of the stream.
    frame_shape : tuple of int
        Shape of one sample (``shape[1:]`` of the stream).
    fsync : bool
        ``os.fsync`` after each flushed batch (survives a power cut).
    stable : bool
        True when received chunks keep their memory as long as they are
        referenced (plaindata: the array views its own message); False for
        borrowed memory (a shared-memory view), which is copied at once.
    on_flushed : callable, optional
        ``on_flushed(n_flushed)``, called (by the writing thread) after each
        flush reached the operating system; an OSError it raises (the
        description could not be written) fails the file like a write error.
    name : str
        Names the I/O thread.
    threaded : bool
        Write in an I/O thread of this file (default: in the thread calling
        :meth:`write` and :meth:`flush`).
    batch_bytes : int
        Gathered bytes that make one write (also written at each flush).
    max_write_bytes : int
        With ``threaded``: the I/O thread writes the batches queued since
        its last write in one go, at most this many bytes (default 2 MB;
        a single batch bigger than that goes alone; see
        :meth:`_take_queued`).
    max_queued_bytes : int
        With ``threaded``: bytes waiting for the disk beyond which
        :meth:`write` blocks (a slow disk then holds the stream back, where
        its per-reader bound applies).
    close_timeout : float
        With ``threaded``: seconds :meth:`close` waits for the I/O thread to
        write what is queued. If the disk is stalled past it, :meth:`close`
        logs an error and returns; the thread finishes the writes and closes
        the file itself (the file descriptor is never closed under a write).

    Attributes
    ----------
    n_written : int
        Samples accepted by :meth:`write` (gathered, queued or on disk).
    n_on_disk : int
        Samples handed to the operating system.
    n_flushed : int
        Samples known to have reached the operating system at the last flush.
    error : OSError or None
        Why writing failed (:class:`DiskFullError` for a full disk); every
        later :meth:`write` or :meth:`flush` raises it.
    """

    def __init__(
        self,
        path: Path,
        dtype: np.dtype,
        frame_shape: tuple,
        fsync: bool = False,
        stable: bool = True,
        on_flushed: Callable[[int], None] | None = None,
        name: str = "rec-io",
        threaded: bool = False,
        batch_bytes: int = 1 << 20,
        max_write_bytes: int = _MAX_WRITE_BYTES,
        max_queued_bytes: int = 64 << 20,
        close_timeout: float = 60.0,
    ):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.frame_shape = tuple(frame_shape)
        self._plain = self.dtype.kind in "biufc"
        self.frame_bytes = self.dtype.itemsize * int(np.prod(self.frame_shape, dtype=np.int64))
        self.fsync = fsync
        self.stable = stable
        self.on_flushed = on_flushed
        self.batch_bytes = batch_bytes
        self.max_write_bytes = max(max_write_bytes, batch_bytes)
        self.max_queued_bytes = max(max_queued_bytes, batch_bytes)
        self.close_timeout = close_timeout
        self.file = _open_data_file(self.path)
        self.n_written = os.path.getsize(self.path) // self.frame_bytes if self.frame_bytes else 0
        self.n_flushed = self.n_written
        self.last_flush = time.monotonic()
        self.error: OSError | None = None
        self._n_requested = self.n_written  # n_written at the last flush request
        self.n_on_disk = self.n_written
        self._batch: list = []
        self._batch_bytes = 0
        self._batch_samples = 0
        self._queue: collections.deque = collections.deque()
        self._queued_bytes = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._io_loop, name=name, daemon=True)
            self._thread.start()

    # -- the receiving thread's side ------------------------------------------------
    def write(self, data: np.ndarray) -> None:
        """Append a chunk of samples; a full batch is written (or handed to the I/O thread) at once.

        Parameters
        ----------
        data : numpy.ndarray
            Samples along the first axis, each of shape ``frame_shape``;
            converted to ``dtype`` (and made contiguous) if needed. With
            ``stable=False`` it is copied, else referenced until written.

        Raises
        ------
        OSError
            :attr:`error`, if writing failed before (:class:`DiskFullError` for
            a full disk), or a failure of the batch this chunk completes
            (without ``threaded``).
        ValueError
            The chunk's sample shape is not ``frame_shape``.
        """
        if self.error is not None:
            raise self.error
        array = (
            data
            if data.dtype == self.dtype and data.flags.c_contiguous
            else np.ascontiguousarray(data, dtype=self.dtype)
        )
        if array.shape[1:] != self.frame_shape:
            raise ValueError(
                f"{self.path.name}: a chunk of shape {array.shape} does not match the stream's frame "
                f"shape {self.frame_shape}; the output sent data that contradicts its spec"
            )
        if not self.stable and (array is data or not array.flags.owndata):
            array = array.copy()  # borrowed memory (e.g. shared memory) is reused after the next receive
        # numeric arrays go to writev as they are; other dtypes (records, datetime64) as their bytes
        self._batch.append(array if self._plain else array.reshape(-1).view(np.uint8))
        self._batch_bytes += array.nbytes
        self._batch_samples += array.shape[0]
        self.n_written += array.shape[0]
        if self._batch_bytes >= self.batch_bytes or len(self._batch) >= _IOV_MAX:
            self._submit(flush=False)

    def due(self, now: float, interval: float) -> bool:
        """Tell whether a flush is due.

        Parameters
        ----------
        now : float
            The current ``time.monotonic()``.
        interval : float
            Longest time, in seconds, samples may wait for a flush.

        Returns
        -------
        bool
            True if samples were written since the last flush and that flush
            is at least ``interval`` seconds old.
        """
        return self.n_written != self._n_requested and now - self.last_flush >= interval

    def flush(self) -> None:
        """Write everything gathered now (hand it to the I/O thread if threaded), then fsync if asked.

        Does nothing if no sample was written since the last flush. Once the
        batch reached the operating system, :attr:`n_flushed` is updated and
        ``on_flushed`` called (by the I/O thread if threaded, so possibly
        after this returns).

        Raises
        ------
        OSError
            :attr:`error`, if writing failed before (:class:`DiskFullError` for
            a full disk); without ``threaded``, also a failure of this write.
        """
        if self.error is not None:
            raise self.error
        if self.n_written == self._n_requested:
            return  # nothing new since the last flush
        self._n_requested = self.n_written
        self.last_flush = time.monotonic()
        self._submit(flush=True)

    @property
    def queued_bytes(self) -> int:
        """Bytes handed to the I/O thread and not yet written (0 unless threaded; gathered bytes not counted)."""
        return self._queued_bytes

    def check(self) -> None:
        """Raise the error that stopped writing, if any (the receiving thread calls it after each receive).

        Raises
        ------
        OSError
            :attr:`error`, if writing failed (:class:`DiskFullError` for a
            full disk).
        """
        if self.error is not None:
            raise self.error

    def _submit(self, flush: bool, wait_for_room: bool = True) -> None:
        batch, nbytes, n = self._batch, self._batch_bytes, self._batch_samples
        self._batch, self._batch_bytes, self._batch_samples = [], 0, 0
        if self._thread is None:  # written by the calling (receiving) thread
            self._process(batch, n, flush)
            if self.error is not None:
                raise self.error
            return
        with self._cond:
            while (
                wait_for_room
                and self._queued_bytes > self.max_queued_bytes
                and self.error is None
                and self._thread.is_alive()
            ):
                self._cond.wait(0.1)  # the disk is slower than the stream: hold the stream back
            if self.error is not None:
                raise self.error
            self._queue.append((batch, nbytes, n, flush))
            self._queued_bytes += nbytes
            self._cond.notify_all()

    def close(self) -> None:
        """Write what is gathered and queued, then close the file (idempotent, thread-safe).

        With ``threaded``, waits up to :attr:`close_timeout` seconds for the
        I/O thread, which closes the file once it has written the queue. If
        the disk is stalled longer, an error naming the file is logged and
        this returns while the thread goes on: it completes the writes and
        closes the file when the stalled write returns (closing the
        descriptor under the write could send the late data into another file
        that reused the descriptor's number).

        On a write error, what fits is on disk and the samples lost are
        logged; the error stays in :attr:`error` (see :meth:`check`).
        """
        with self._cond:
            if self._closed:
                return
            self._closed = True
        if self.error is None and self._batch:
            try:
                self._submit(flush=True, wait_for_room=False)  # its memory is held already: never wait here
            except OSError:
                pass  # logged by _finish
        if self._thread is None:
            self._finish()
            return
        with self._cond:
            self._queue.append(_CLOSE)
            self._cond.notify_all()
        join_thread(
            self._thread,
            self.close_timeout,
            f"{self.path}: the disk is stalled: the writing thread (it closes the file once its pending "
            f"write returns; {self.n_written - self.n_on_disk} samples not on disk yet)",
            logger,
        )

    def _finish(self) -> None:
        """Note the samples a write error lost, and close the file (called by the thread that writes it).

        Only at info level: the error itself reaches the caller (:meth:`check`,
        the next write), which reports it once.
        """
        if self.error is not None and self.n_written != self.n_on_disk:
            logger.info(
                "%s: the last %d samples were not written: %s", self.path, self.n_written - self.n_on_disk, self.error
            )
        try:
            self.file.close()
        except OSError as exc:
            logger.error("%s: closing the file failed: %s", self.path, exc)

    # -- the I/O thread ------------------------------------------------------------------
    def _io_loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue:
                        self._cond.wait()
                    batch, nbytes, n, flush, close = self._take_queued()
                if batch:
                    self._process(batch, n, flush)
                    del batch  # release the chunks' memory before waking the receiver
                    with self._cond:
                        self._queued_bytes -= nbytes
                        self._cond.notify_all()
                if close:
                    return
        finally:  # this thread owns the descriptor: it is never closed under one of its writes
            self._finish()

    def _take_queued(self) -> tuple[list, int, int, bool, bool]:
        """Take the queued batches, at most :attr:`max_write_bytes`, as one (called holding ``_cond``).

        Writing what accumulated in one go keeps the I/O thread in the kernel
        (without the GIL) for longer stretches, so it needs the GIL, which the
        receiving thread holds most of the time when recording flat out, less
        often: a batch per write made this thread wait for the GIL after
        almost every write.

        Returns
        -------
        batch : list
            The buffers, in order.
        nbytes, n : int
            Their bytes and samples.
        flush : bool
            One of the batches asked for a flush.
        close : bool
            The end marker was reached (nothing follows it).
        """
        batch: list = []
        nbytes = n = 0
        flush = close = False
        queue = self._queue
        while queue:
            item = queue[0]
            if item is _CLOSE:
                queue.popleft()
                close = True
                break
            if batch and nbytes + item[1] > self.max_write_bytes:
                break  # the bound: the rest goes in the next write
            queue.popleft()
            batch.extend(item[0])
            nbytes += item[1]
            n += item[2]
            flush = flush or item[3]
        return batch, nbytes, n, flush, close

    def _process(self, batch: list, n: int, flush: bool) -> None:
        """Write one batch of ``n`` samples (then fsync and report a flush); failures go to :attr:`error`."""
        if self.error is not None:
            return
        try:
            self._write_all(batch)
            self.n_on_disk += n
            if flush and self.fsync:
                try:
                    self.file.fsync()
                except OSError as exc:
                    raise self._explain(exc, "flushing") from exc
        except Exception as exc:  # raised in the receiving thread by its next write, flush or check
            self.error = exc if isinstance(exc, OSError) else OSError(f"writing {self.path} failed: {exc}")
            return
        if flush:
            self.n_flushed = self.n_on_disk
            if self.on_flushed is not None:
                try:
                    self.on_flushed(self.n_flushed)
                except OSError as exc:  # e.g. no room for the description: the recording fails like a write
                    self.error = self._explain(exc, "updating the description of")
                except Exception:
                    logger.exception("%s: updating the description after a flush failed", self.path)

    def _write_all(self, batch: list) -> None:
        """Write every buffer (array) of ``batch`` in order, resuming after short writes."""
        start = 0
        try:
            while start < len(batch):
                buffers = batch[start : start + _IOV_MAX]
                written = self.file.writev(buffers)
                if not written:
                    raise OSError(errno.EIO, "the system wrote nothing")
                for buffer in buffers:
                    if written >= buffer.nbytes:
                        written -= buffer.nbytes
                        start += 1
                    else:  # a short write: the rest of this buffer comes next
                        batch[start] = memoryview(buffer).cast("B")[written:]
                        break
        except OSError as exc:
            raise self._explain(exc, "writing") from exc

    def _explain(self, exc: OSError, action: str) -> OSError:
        if exc.errno == errno.ENOSPC:
            return DiskFullError(
                errno.ENOSPC,
                f"disk full while {action} {self.path}: the recording stopped; the "
                f"data written before is intact and readable. Free space on that "
                f"disk, or record to a new dirname on another disk",
            )
        return OSError(exc.errno, f"{action} {self.path} failed: {exc.strerror or exc}")
