"""RingBuffer: the recent history of a stream, in local or shared memory."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .sharedmem import PAGE_SIZE, SharedMem, can_mirror, mirrored_memory
from .spec import normalize_dtype

__all__ = ["RingBuffer"]

# Ring buffers start with a header: the write index (so a reader in another
# process knows what is available without any message), the history epoch, the
# memory layout, then the reader slots of shared rings (see readerslots.py).
_HEADER_BYTES = 1024
_HEADER_FIELDS = 4  # int64: write index, epoch, layout (0 = copy, else the mirrored period), spare
# A mirrored ring holds a whole number of pages, so it may keep more frames than
# asked (never exposed); above this overhead the copying layout is used instead.
_MIRROR_MAX_EXTRA_BYTES = 1 << 20


def _mirror_period(size: int, frame_bytes: int) -> int | None:
    """Frames a mirrored ring of ``size`` frames holds (whole pages), or None if not worth it."""
    if frame_bytes <= 0 or not can_mirror():
        return None
    step = PAGE_SIZE // math.gcd(PAGE_SIZE, frame_bytes)  # frames per whole number of pages
    period = -(-size // step) * step
    if (period - size) * frame_bytes > max(size * frame_bytes, _MIRROR_MAX_EXTRA_BYTES):
        return None
    return period


class RingBuffer:
    """Fixed-size history of a stream along its first (time) axis.

    The buffer covers the ``size`` samples before :meth:`index` (absolute
    indices ``[index() - size, index())``); samples never written there, such
    as those before the first chunk, read as ``fill`` (pyacq's semantics).

    Parameters
    ----------
    shape : tuple
        ``(size,) + frame_shape``: ``size`` samples are kept.
    dtype : numpy dtype
        Any dtype, including structured ones. Chunks must have exactly this
        dtype.
    double : bool
        If True any window of up to ``size`` samples is returned as a
        contiguous view, without a copy. Where possible (Linux, time axis
        first in memory) the memory is mapped twice back to back, so each
        sample is still written once; otherwise (pyacq's double ring) the
        memory is doubled and every sample written twice.
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

    Examples
    --------
    >>> ring = RingBuffer((10, 2), "float32")
    >>> ring.new_chunk(np.ones((3, 2), "float32"))
    >>> ring[-3:].shape, ring.index(), ring.first_index()
    ((3, 2), 3, -7)
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
        ndim = len(shape)
        axisorder = tuple(range(ndim)) if axisorder is None else tuple(int(a) for a in axisorder)
        if sorted(axisorder) != list(range(ndim)):
            raise ValueError(f"RingBuffer: axisorder={axisorder} must be a permutation of {tuple(range(ndim))}")
        self.axisorder = axisorder

        frame_bytes = int(np.prod(self.frame_shape, dtype=np.int64)) * self.dtype.itemsize
        # mirrored layout: time outermost in memory, so one frame is one contiguous block
        period = _mirror_period(self.size, frame_bytes) if self.double and axisorder[0] == 0 else None
        self.mirrored = period is not None
        #: frames between two samples stored at the same place (``size``, or more for a mirrored ring)
        self.period = period if period is not None else self.size
        if self.mirrored:
            data_offset, data_bytes = PAGE_SIZE, self.period * frame_bytes
            alloc_frames = 2 * self.period
        else:
            data_offset = _HEADER_BYTES
            alloc_frames = (2 if self.double else 1) * self.size
            data_bytes = alloc_frames * frame_bytes
        mem_shape = tuple(((alloc_frames,) + self.frame_shape)[a] for a in axisorder)

        self.shm: SharedMem | None = None
        self._owns_shm = False
        self._mapping = None
        if shmem is None or shmem is False:
            header = np.zeros(_HEADER_FIELDS, dtype=np.int64)
            if self.mirrored:
                self._mapping = mirrored_memory(data_bytes)
                mem = np.asarray(self._mapping).view(self.dtype).reshape(mem_shape)
            else:
                mem = np.empty(mem_shape, dtype=self.dtype)
            fresh = True
        else:
            self.shm, fresh = self._attach_shm(shmem, data_offset + data_bytes)
            header = self.shm.to_numpy(0, np.int64, (_HEADER_FIELDS,))
            if self.mirrored:
                self._mapping = self.shm.mirrored(data_offset, data_bytes)
                mem = np.asarray(self._mapping).view(self.dtype).reshape(mem_shape)
            else:
                mem = self.shm.to_numpy(data_offset, self.dtype, mem_shape)
            layout = self.period if self.mirrored else 0
            if not fresh and int(header[2]) != layout:
                raise ValueError(
                    f"RingBuffer: shared memory {self.shm.shm_id!r} holds a ring laid out as "
                    f"{_layout_name(int(header[2]))}, this one expects {_layout_name(layout)}; "
                    "open it with the writer's shape, dtype, double and axisorder"
                )
        # logical view: axis 0 is time whatever the memory order
        self.buffer = mem.transpose(np.argsort(axisorder))
        self._header = header  # [write index, epoch, layout, spare]
        self._hdr = header.data.cast("B").cast("q")  # same memory; plain ints, fast to read and write
        if fill is None:  # like pyacq: NaN marks missing float samples
            fill = np.nan if self.dtype.kind in "fc" else 0
        self.fill = fill
        if fresh:
            header[:] = 0
            header[2] = self.period if self.mirrored else 0
            self._fill_all()

    def _fill_all(self) -> None:
        # a mirrored ring's second half is the same memory as its first: write it once
        (self.buffer[: self.period] if self.mirrored else self.buffer)[...] = self.fill

    def _attach_shm(self, shmem, nbytes: int) -> tuple[SharedMem, bool]:
        if shmem is True:
            self._owns_shm = True
            return SharedMem(nbytes), True
        if isinstance(shmem, SharedMem):
            if shmem.nbytes < nbytes:
                raise ValueError(f"RingBuffer: {shmem!r} holds {shmem.nbytes} bytes; this ring needs {nbytes}")
            return shmem, False
        if isinstance(shmem, Mapping):
            return SharedMem(**{**dict(shmem), "nbytes": max(int(shmem.get("nbytes", 0)), nbytes)}), False
        if isinstance(shmem, str):
            return SharedMem(nbytes, shm_id=shmem), False
        raise TypeError(f"RingBuffer: shmem={shmem!r} must be None, True, a SharedMem, its to_dict() or its shm_id")

    @property
    def shm_id(self) -> str | None:
        """Id of the shared memory (pass it as ``shmem`` to view this ring elsewhere); None for local memory."""
        return self.shm.shm_id if self.shm is not None else None

    # -- indices ----------------------------------------------------------
    def index(self) -> int:
        """Absolute index of the last sample written + 1 (the number of samples written)."""
        return self._hdr[0]

    def last_index(self) -> int:
        """Absolute index of the last sample written (pyacq's name; ``index() - 1``)."""
        return self.index() - 1

    def first_index(self) -> int:
        """Absolute index of the oldest sample the buffer covers: ``index() - size``.

        Negative while fewer than ``size`` samples were written (as in pyacq):
        those samples read as ``fill``.
        """
        return self._hdr[0] - self.size

    def reset_index(self) -> None:
        """Forget the history: the next chunk may start at any index again.

        The buffer is filled with ``fill`` again, and :meth:`epoch` advances so
        readers of a shared ring can tell messages about the old history from
        new ones.
        """
        self._hdr[0] = 0
        self._fill_all()
        self._hdr[1] += 1

    def epoch(self) -> int:
        """How many times the history was reset (mod 256 in stream messages)."""
        return self._hdr[1]

    # -- writing ----------------------------------------------------------
    def new_chunk(self, data: np.ndarray, index: int | None = None) -> None:
        """Append ``data`` (samples along axis 0).

        Parameters
        ----------
        data : ndarray
            ``(n,) + frame_shape`` samples of the buffer's dtype, ``n <= size``.
        index : int, optional
            Absolute index of the last sample + 1. Default: ``index() + n``.
            A larger value leaves a gap, filled with ``fill``.

        Raises
        ------
        TypeError
            If ``data`` has another dtype (it is not cast silently).
        ValueError
            If the chunk is longer than the buffer, has the wrong frame shape,
            or ``index`` goes back.
        """
        if not isinstance(data, np.ndarray):
            data = np.asarray(data, dtype=self.dtype)
        if data.dtype is not self.dtype and data.dtype != self.dtype:
            raise TypeError(
                f"RingBuffer: chunk of dtype {data.dtype} written to a buffer of dtype {self.dtype}; "
                f"convert it first (data.astype({str(self.dtype)!r}))"
            )
        if data.ndim == 0 or data.shape[1:] != self.frame_shape:
            raise ValueError(f"RingBuffer: chunk of shape {data.shape} does not fit frames of shape {self.frame_shape}")
        n = data.shape[0]
        if n > self.size:
            raise ValueError(
                f"RingBuffer: a chunk of {n} samples is longer than the buffer ({self.size} samples); "
                "make the buffer larger or send smaller chunks"
            )
        current = self._hdr[0]
        index = current + n if index is None else int(index)
        start = index - n
        if start < current:
            raise ValueError(
                f"RingBuffer: chunk covers [{start}, {index}) but {current} samples were already "
                "written; indices must increase (call reset_index() to restart from 0)"
            )
        if start > current:  # gap: fill the skipped samples still inside the window
            gap_start = max(current, index - self.size)
            if start > gap_start:
                self._write(gap_start, np.full((start - gap_start,) + self.frame_shape, self.fill, dtype=self.dtype))
        self._write(start, data)
        self._hdr[0] = index

    def _write(self, start: int, data: np.ndarray) -> None:
        n = data.shape[0]
        if n == 0:
            return
        period, buf = self.period, self.buffer
        pos = start % period
        if self.mirrored:  # one write; the second mapping shows it at pos + period too
            buf[pos : pos + n] = data
        elif self.double:
            buf[pos : pos + n] = data
            if pos + n <= period:
                buf[pos + period : pos + period + n] = data
            else:
                split = period - pos
                buf[pos + period :] = data[:split]
                buf[: n - split] = data[split:]
        elif pos + n <= period:
            buf[pos : pos + n] = data
        else:
            split = period - pos
            buf[pos:] = data[:split]
            buf[: n - split] = data[split:]

    # -- reading ----------------------------------------------------------
    def _check_range(self, start: int, stop: int) -> None:
        last = self._hdr[0]
        first = last - self.size
        if first <= start <= stop <= last:
            return
        if stop < start:
            raise IndexError(f"RingBuffer: stop={stop} is before start={start}")
        if start < first or stop > last:
            if start < first:
                why = "is older than the buffer covers" if last > self.size else "is before the buffer's window"
            else:
                why = "has not been written yet"
            raise IndexError(
                f"RingBuffer: requested samples [{start}, {stop}) but only [{first}, {last}) are "
                f"available (part of the request {why}; the buffer keeps {self.size} samples)"
            )

    def get_data(self, start: int, stop: int, copy: bool = False, join: bool = True):
        """Return samples ``[start, stop)`` by absolute index.

        Samples of the window never written (before the first chunk, or
        skipped) are ``fill``.

        Parameters
        ----------
        start, stop : int
            Absolute sample indices; ``stop`` is excluded;
            ``index() - size <= start <= stop <= index()``.
        copy : bool
            Return a copy that later writes cannot change. Otherwise a view is
            returned whenever possible (always in double mode).
        join : bool
            If False, return two arrays (before and after the wrap point; the
            second may be empty) so a single buffer never needs a copy.

        Raises
        ------
        IndexError
            If part of the range is outside the buffer's window; the message
            says which range is available.
        """
        start, stop = int(start), int(stop)
        last = self._hdr[0]
        if not last - self.size <= start <= stop <= last:
            self._check_range(start, stop)
        n = stop - start
        period, buf = self.period, self.buffer
        pos = start % period
        if self.double or pos + n <= period:
            out = buf[pos : pos + n]
            if join:
                return out.copy() if copy else out
            parts = (out, buf[:0])
        else:
            parts = (buf[pos:], buf[: n - (period - pos)])
            if join:
                return np.concatenate(parts)
        return tuple(p.copy() for p in parts) if copy else parts

    def __getitem__(self, item):
        """Index by absolute sample index, like pyacq's RingBuffer.

        ``buf[start:stop:step]``, ``buf[i]``; negative indices count back from
        :meth:`index` (``buf[-10:]`` is the last 10 samples); extra items index
        the other axes (``buf[-100:, 3]``). A slice gives what the same slice
        of ``buf[:]`` (the whole window, oldest first) gives, any step and
        sign; indices outside the window raise IndexError instead of being
        clipped.
        """
        rest = ()
        if isinstance(item, tuple):
            if not item:
                raise TypeError("RingBuffer index must be an int or a slice of absolute sample indices, got ()")
            item, rest = item[0], item[1:]
        if isinstance(item, slice):
            return self._get_slice(item)[(slice(None),) + rest]
        if isinstance(item, (int, np.integer)):
            i = self._absolute(item)
            if not self.first_index() <= i < self.index():
                raise IndexError(
                    f"RingBuffer: index {int(item)} (sample {i}) is outside the buffer's window "
                    f"[{self.first_index()}, {self.index()})"
                )
            return self.get_data(i, i + 1)[(0,) + rest]
        raise TypeError(f"RingBuffer index must be an int or a slice of absolute sample indices, got {item!r}")

    def _get_slice(self, item: slice) -> np.ndarray:
        step = 1 if item.step is None else int(item.step)
        if step == 0:
            raise ValueError("RingBuffer: slice step cannot be zero")
        first, size = self.first_index(), self.size

        def window_pos(value, is_stop: bool):
            """Position in the window ``[first, index)`` of an absolute/negative index."""
            if value is None:
                return None
            k = self._absolute(value)
            p = k - first
            low = -1 if (is_stop and step < 0) else 0  # a backward slice may stop just before the oldest
            high = size if (is_stop or step > 0) else size - 1
            if not low <= p <= high:
                raise IndexError(
                    f"RingBuffer: slice {'stop' if is_stop else 'start'} {int(value)} (sample {k}) is "
                    f"outside the buffer's window [{first}, {self.index()})"
                )
            return None if p == -1 else p

        a, b, c = slice(window_pos(item.start, False), window_pos(item.stop, True), step).indices(size)
        picked = range(a, b, c)
        if not picked:
            return self.buffer[:0]
        lo, hi = min(picked[0], picked[-1]), max(picked[0], picked[-1]) + 1
        data = self.get_data(first + lo, first + hi)
        stop = picked[-1] - lo + (1 if c > 0 else -1)
        return data[picked[0] - lo : stop if stop >= 0 else None : c]

    def _absolute(self, i: int | np.integer) -> int:
        i = int(i)
        return self.index() + i if i < 0 else i

    # -- lifetime ---------------------------------------------------------
    def close(self) -> None:
        """Release shared memory this buffer created (no-op for local memory)."""
        if self.shm is not None and self._owns_shm:
            self.shm.close()

    def __repr__(self) -> str:
        where = f" shm={self.shm.shm_id!r}" if self.shm is not None else ""
        layout = " mirrored" if self.mirrored else ""
        return (
            f"<RingBuffer size={self.size} frame={self.frame_shape} dtype={self.dtype} "
            f"double={self.double}{layout} index={self.index()}{where}>"
        )


def _layout_name(layout: int) -> str:
    return "a copying ring" if layout == 0 else f"a mirrored ring of {layout} frames"
