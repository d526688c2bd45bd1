"""RingBuffer: the recent history of a stream, in local or shared memory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .sharedmem import SharedMem
from .spec import normalize_dtype

__all__ = ["RingBuffer"]

# Ring buffers start with a header: the write index (so a reader in another
# process knows what is available without any message), then the reader slots
# of shared rings (see readerslots.py).
_HEADER_BYTES = 1024


class RingBuffer:
    """Fixed-size history of a stream along its first (time) axis.

    Parameters
    ----------
    shape : tuple
        ``(size,) + frame_shape``: ``size`` samples are kept.
    dtype : numpy dtype
        Any dtype, including structured ones.
    double : bool
        If True the memory is doubled and every sample written twice, so any
        window of up to ``size`` samples is returned as a contiguous view,
        without a copy.
    shmem : None, bool, SharedMem, dict or str
        None/False: local memory. True: a new :class:`SharedMem`. A SharedMem,
        its ``to_dict()`` or its ``shm_id``: view that shared memory (the
        writer's ring as seen by a reader in another process).
    fill : scalar or None
        Value that initialises the buffer and fills gaps (skipped indices).
        None means NaN for float dtypes, 0 otherwise.
    axisorder : tuple or None
        Order of the axes in memory, e.g. ``(1, 0)`` for channel-major
        storage of a ``(time, channel)`` stream. The arrays returned keep the
        logical ``(time, ...)`` axis order.
    """

    def __init__(self, shape, dtype, double: bool = True, shmem: Any = None, fill=None, axisorder=None):
        shape = tuple(int(x) for x in shape)
        if not shape or shape[0] <= 0:
            raise ValueError(f"RingBuffer: shape={shape} must start with a positive size")
        self.size = shape[0]
        self.frame_shape = shape[1:]
        self.shape = shape
        self.dtype = normalize_dtype(dtype)
        self.double = bool(double)
        self.fill = fill
        ndim = len(shape)
        axisorder = tuple(range(ndim)) if axisorder is None else tuple(int(a) for a in axisorder)
        if sorted(axisorder) != list(range(ndim)):
            raise ValueError(f"RingBuffer: axisorder={axisorder} must be a permutation of {tuple(range(ndim))}")
        self.axisorder = axisorder

        alloc_shape = ((2 if self.double else 1) * self.size,) + self.frame_shape
        mem_shape = tuple(alloc_shape[a] for a in axisorder)
        nbytes = int(np.prod(mem_shape)) * self.dtype.itemsize
        self.shm: SharedMem | None = None
        self._owns_shm = False
        if shmem is None or shmem is False:
            raw = np.empty(_HEADER_BYTES + nbytes, dtype=np.uint8)
            header = raw[:16].view(np.int64)
            mem = raw[_HEADER_BYTES:].view(self.dtype).reshape(mem_shape) if nbytes else raw[:0]
            fresh = True
        else:
            self.shm, fresh = self._attach_shm(shmem, _HEADER_BYTES + nbytes)
            header = self.shm.to_numpy(0, np.int64, (2,))
            mem = self.shm.to_numpy(_HEADER_BYTES, self.dtype, mem_shape)
        # logical view: axis 0 is time whatever the memory order
        self.buffer = mem.transpose(np.argsort(axisorder))
        self._header = header  # [write index, epoch]
        if fill is None:  # like pyacq: NaN marks missing float samples
            fill = np.nan if self.dtype.kind in "fc" else 0
        self.fill = fill
        if fresh:
            header[:] = 0
            self.buffer[...] = fill

    def _attach_shm(self, shmem, nbytes: int) -> tuple[SharedMem, bool]:
        if shmem is True:
            self._owns_shm = True
            return SharedMem(nbytes), True
        if isinstance(shmem, SharedMem):
            return shmem, False
        if isinstance(shmem, Mapping):
            return SharedMem(**{**dict(shmem), "nbytes": max(int(shmem.get("nbytes", 0)), nbytes)}), False
        if isinstance(shmem, str):
            return SharedMem(nbytes, shm_id=shmem), False
        raise TypeError(f"RingBuffer: shmem={shmem!r} must be None, True, a SharedMem, its to_dict() or its shm_id")

    # -- indices ----------------------------------------------------------
    def index(self) -> int:
        """Absolute index of the last sample written + 1 (the number of samples written)."""
        return int(self._header[0])

    def first_index(self) -> int:
        """Absolute index of the oldest sample still in the buffer."""
        return max(0, self.index() - self.size)

    def reset_index(self) -> None:
        """Forget the history: the next chunk may start at any index again.

        Also advances :meth:`epoch`, so readers of a shared ring can tell
        messages about the old history from new ones.
        """
        self._header[0] = 0
        self._header[1] += 1

    def epoch(self) -> int:
        """How many times the history was reset (mod 256 in stream messages)."""
        return int(self._header[1])

    # -- writing ----------------------------------------------------------
    def new_chunk(self, data: np.ndarray, index: int | None = None) -> None:
        """Append ``data`` (samples along axis 0).

        Parameters
        ----------
        data : ndarray
            ``(n,) + frame_shape`` samples.
        index : int, optional
            Absolute index of the last sample + 1. Default: ``index() + n``.
            A larger value leaves a gap, filled with ``fill``.
        """
        data = np.asarray(data)
        n = data.shape[0] if data.ndim else 0
        if data.shape[1:] != self.frame_shape:
            raise ValueError(f"RingBuffer: chunk of shape {data.shape} does not fit frames of shape {self.frame_shape}")
        current = self.index()
        if index is None:
            index = current + n
        index = int(index)
        start = index - n
        if start < current:
            raise ValueError(f"RingBuffer: chunk covers [{start}, {index}) but {current} samples were already "
                             "written; indices must increase (call reset_index() to restart from 0)")
        if start > current:  # gap: fill the skipped samples
            gap_start = max(current, start - self.size)
            self._write(gap_start, np.full((start - gap_start,) + self.frame_shape, self.fill, dtype=self.dtype))
        if n > self.size:
            data = data[-self.size:]
        self._write(index - data.shape[0], data)
        self._header[0] = index

    def _write(self, start: int, data: np.ndarray) -> None:
        n = data.shape[0]
        if n == 0:
            return
        size, buf = self.size, self.buffer
        pos = start % size
        if self.double:
            buf[pos:pos + n] = data
            if pos + n <= size:
                buf[pos + size:pos + size + n] = data
            else:
                split = size - pos
                buf[pos + size:] = data[:split]
                buf[:n - split] = data[split:]
        elif pos + n <= size:
            buf[pos:pos + n] = data
        else:
            split = size - pos
            buf[pos:] = data[:split]
            buf[:n - split] = data[split:]

    # -- reading ----------------------------------------------------------
    def _check_range(self, start: int, stop: int) -> None:
        first, last = self.first_index(), self.index()
        if stop < start:
            raise IndexError(f"RingBuffer: stop={stop} is before start={start}")
        if start < first or stop > last:
            why = "has been overwritten" if start < first else "has not been written yet"
            raise IndexError(f"RingBuffer: requested samples [{start}, {stop}) but only [{first}, {last}) are "
                             f"available (part of the request {why}; the buffer keeps {self.size} samples)")

    def get_data(self, start: int, stop: int, copy: bool = False, join: bool = True):
        """Return samples ``[start, stop)`` by absolute index.

        Parameters
        ----------
        start, stop : int
            Absolute sample indices; ``stop`` is excluded.
        copy : bool
            Return a copy that later writes cannot change. Otherwise a view is
            returned whenever possible (always in double mode).
        join : bool
            If False, return two arrays (before and after the wrap point; the
            second may be empty) so a single buffer never needs a copy.

        Raises
        ------
        IndexError
            If part of the range is overwritten or not yet written; the
            message says which range is available.
        """
        start, stop = int(start), int(stop)
        self._check_range(start, stop)
        n = stop - start
        size, buf = self.size, self.buffer
        pos = start % size
        if self.double or pos + n <= size:
            out = buf[pos:pos + n]
            if join:
                return out.copy() if copy else out
            parts = (out, buf[:0])
        else:
            parts = (buf[pos:], buf[:n - (size - pos)])
            if join:
                return np.concatenate(parts)
        return tuple(p.copy() for p in parts) if copy else parts

    def __getitem__(self, item):
        """Index by absolute sample index, like pyacq's RingBuffer.

        ``buf[start:stop:step]``, ``buf[i]``; negative indices count back from
        :meth:`index` (``buf[-10:]`` is the last 10 samples); extra items index
        the other axes (``buf[-100:, 3]``).
        """
        rest = ()
        if isinstance(item, tuple):
            item, rest = item[0], item[1:]
        if isinstance(item, slice):
            start = self.first_index() if item.start is None else self._absolute(item.start)
            stop = self.index() if item.stop is None else self._absolute(item.stop)
            return self.get_data(start, stop)[(slice(None, None, item.step),) + rest]
        if isinstance(item, (int, np.integer)):
            i = self._absolute(item)
            return self.get_data(i, i + 1)[(0,) + rest]
        raise TypeError(f"RingBuffer index must be an int or a slice of absolute sample indices, got {item!r}")

    def _absolute(self, i: int) -> int:
        i = int(i)
        return self.index() + i if i < 0 else i

    # -- lifetime ---------------------------------------------------------
    def close(self) -> None:
        """Release shared memory this buffer created (no-op for local memory)."""
        if self.shm is not None and self._owns_shm:
            self.shm.close()

    def __repr__(self) -> str:
        where = f" shm={self.shm.shm_id!r}" if self.shm is not None else ""
        return (f"<RingBuffer size={self.size} frame={self.frame_shape} dtype={self.dtype} "
                f"double={self.double} index={self.index()}{where}>")
