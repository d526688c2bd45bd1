"""Incremental decimation for oscilloscopes (pure numpy, no Qt).

pyacq's oscilloscope re-decimated its whole window (e.g. 64 channels x 10 s
x 10 kHz) at every refresh. :class:`ScopeBuffer` decimates each chunk once, as
it arrives, into a small ring of display points; a frame then only copies
those points. The raw history of the window is kept too, so a change of
window length, decimation factor or method rebuilds the points at once, and
:meth:`ScopeBuffer.get_raw` serves auto-scaling.

Point ``k`` of the decimated stream stands for raw samples
``[k * decimate, (k + 1) * decimate)``, whatever the method:

* ``pure_decimate``: the first sample of each group of ``decimate``;
* ``mean``: the mean of the group;
* ``min_max``: groups of ``2 * decimate`` samples give two points, their
  maximum then their minimum, so a one-sample spike is never lost.

Bins are aligned on absolute sample indexes (multiples of the bin size), so
the picture does not shimmer as chunks of different sizes arrive. Missing
samples (a gap in the indexes, or data before the first chunk) are NaN, and
so is any point whose bin touches them: the display shows a break.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["DECIMATION_METHODS", "ScopeBuffer", "decimate_block"]

DECIMATION_METHODS = ("pure_decimate", "min_max", "mean")


def decimate_block(block: np.ndarray, decimate: int, method: str) -> np.ndarray:
    """Decimate ``block`` ``(n, channels)``, ``n`` a multiple of the bin size, into points.

    Returns ``(n // decimate, channels)`` float32 points (see the module docstring).
    """
    n, nch = block.shape
    if decimate == 1:
        return np.asarray(block, dtype=np.float32)
    if method == "pure_decimate":
        return np.asarray(block[::decimate], dtype=np.float32)
    if method == "mean":
        return block.reshape(n // decimate, decimate, nch).mean(axis=1, dtype=np.float32)
    if method == "min_max":
        bins = block.reshape(n // (2 * decimate), 2 * decimate, nch)
        out = np.empty((bins.shape[0], 2, nch), dtype=np.float32)
        out[:, 0] = bins.max(axis=1)
        out[:, 1] = bins.min(axis=1)
        return out.reshape(-1, nch)
    raise ValueError(f"decimation_method={method!r} is unknown; choose one of {DECIMATION_METHODS}")


class _Ring:
    """Last ``size`` float32 frames of a stream by absolute index; never-written samples are NaN."""

    def __init__(self, size: int, nb_channel: int):
        self.size = int(size)
        self.buf = np.full((self.size, nb_channel), np.nan, dtype=np.float32)
        self.end = 0  # absolute index of the last frame written + 1

    def restart(self, index: int) -> None:
        """Forget everything; the next frame written is ``index``."""
        self.buf[...] = np.nan
        self.end = int(index)

    def _put(self, start: int, data: np.ndarray) -> None:
        size, n = self.size, len(data)
        pos = start % size
        first = min(n, size - pos)
        self.buf[pos : pos + first] = data[:first]
        if first < n:
            self.buf[: n - first] = data[first:]

    def write(self, index: int, data: np.ndarray) -> None:
        """Write ``data`` as frames ``[index - len(data), index)``; frames skipped since :attr:`end` become NaN."""
        start = index - len(data)
        if start < self.end:
            raise ValueError(f"frames [{start}, {index}) overlap what is written (up to {self.end})")
        gap = min(start - self.end, self.size)
        if gap:
            self._put(start - gap, np.full((gap, self.buf.shape[1]), np.nan, dtype=np.float32))
        if len(data) > self.size:
            data = data[-self.size :]
        if len(data):
            self._put(index - len(data), data)
        self.end = int(index)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Copy of frames ``[start, stop)``; frames outside the ring are NaN."""
        out = np.full((max(0, stop - start), self.buf.shape[1]), np.nan, dtype=np.float32)
        lo, hi = max(start, self.end - self.size), min(stop, self.end)
        if lo < hi:
            size = self.size
            pos, n = lo % size, hi - lo
            first = min(n, size - pos)
            out[lo - start : lo - start + first] = self.buf[pos : pos + first]
            if first < n:
                out[lo - start + first : hi - start] = self.buf[: n - first]
        return out


class ScopeBuffer:
    """Raw window + incrementally decimated display points of a multichannel stream.

    Thread-safe: :meth:`feed` runs in the stream's reader thread while the GUI
    thread calls :meth:`points` and :meth:`reconfigure`.

    Parameters
    ----------
    nb_channel : int
        Channels of the stream.
    size : int
        Window length in samples (rounded up to a whole number of bins).
    decimate : int
        Raw samples per display point (>= 1).
    method : str
        One of :data:`DECIMATION_METHODS`.
    """

    def __init__(self, nb_channel: int, size: int, decimate: int = 1, method: str = "pure_decimate"):
        self.nb_channel = int(nb_channel)
        self._lock = threading.Lock()
        self.head = 0  # absolute index of the last raw sample + 1
        self._started = False
        self.raw: _Ring | None = None
        self._configure(int(size), int(decimate), method)

    # -- configuration -------------------------------------------------------------------
    @property
    def binsize(self) -> int:
        """Raw samples decimated together (2 x decimate for min_max)."""
        return self.decimate * (2 if self.method == "min_max" and self.decimate > 1 else 1)

    def _configure(self, size: int, decimate: int, method: str) -> None:
        if method not in DECIMATION_METHODS:
            raise ValueError(f"decimation_method={method!r} is unknown; choose one of {DECIMATION_METHODS}")
        if decimate < 1:
            raise ValueError(f"decimate={decimate} must be >= 1")
        if size < 1:
            raise ValueError(f"window size={size} samples must be >= 1")
        self.decimate, self.method = decimate, method
        binsize = self.binsize
        self.size = -(-size // binsize) * binsize  # whole bins
        self.n_points = self.size // decimate
        old = self.raw
        self.raw = _Ring(self.size, self.nb_channel)
        self.raw.restart(self.head - self.size)
        if old is not None and self._started:
            self.raw.write(self.head, old.read(self.head - self.size, self.head))
        self._points = _Ring(self.n_points, self.nb_channel)
        self._done = (self.head // binsize) * binsize  # raw index up to which points exist
        self._points.restart(self._done // decimate)
        if self._started:  # decimate the complete bins of the raw window again
            first = -(-(self._done - self.size) // binsize) * binsize  # first whole bin of the window
            self._points.restart(first // decimate)
            if first < self._done:
                block = self.raw.read(first, self._done)
                self._points.write(self._done // decimate, decimate_block(block, decimate, method))

    def reconfigure(self, size: int | None = None, decimate: int | None = None, method: str | None = None) -> None:
        """Change the window length (samples), decimation factor or method; points are rebuilt from the raw window."""
        with self._lock:
            self._configure(
                self.size if size is None else int(size),
                self.decimate if decimate is None else int(decimate),
                self.method if method is None else method,
            )

    def reset(self) -> None:
        """Forget all data (the next chunk may start at any index)."""
        with self._lock:
            self._started = False
            self.head = 0
            self.raw.restart(0)
            self._points.restart(0)
            self._done = 0

    # -- data ------------------------------------------------------------------------------
    def feed(self, index: int, data: np.ndarray) -> None:
        """Add a chunk ending at absolute sample ``index`` (exclusive); gaps become NaN."""
        data = np.asarray(data)
        if data.ndim == 1:
            data = data[:, None]
        if data.dtype != np.float32:
            data = data.astype(np.float32)
        index = int(index)
        start = index - data.shape[0]
        with self._lock:
            binsize = self.binsize
            if not self._started or start < self.head:
                # first chunk, or the source restarted its count: align the bins on the start
                aligned = start - start % binsize
                self.raw.restart(aligned)
                self._points.restart(aligned // self.decimate)
                self.head = self._done = aligned
                self._started = True
            self.raw.write(index, data)
            self.head = index
            done_to = index - index % binsize
            if done_to > self._done:
                lo = max(self._done, done_to - self.size)
                lo -= lo % binsize
                block = self.raw.read(lo, done_to)
                self._points.write(done_to // self.decimate, decimate_block(block, self.decimate, self.method))
                self._done = done_to

    def points(self) -> tuple[int, np.ndarray]:
        """Return ``(end, points)``: a copy of the window's ``n_points`` points, the last one being point ``end - 1``.

        Points not yet received are NaN.
        """
        with self._lock:
            end = self._points.end
            return end, self._points.read(end - self.n_points, end)

    def read_points(self, start: int, stop: int) -> tuple[int, np.ndarray]:
        """Copy display points ``[start, stop)`` (absolute point indexes).

        Parameters
        ----------
        start, stop : int
            Absolute indexes of the first point and of the point after the
            last one; ``stop <= start`` gives no points.

        Returns
        -------
        end : int
            :attr:`end` when the points were read (read under the same lock).
        points : numpy.ndarray
            ``(max(0, stop - start), nb_channel)`` float32 copy; points outside
            the window or not received yet are NaN.
        """
        with self._lock:
            return self._points.end, self._points.read(int(start), int(stop))

    @property
    def end(self) -> int:
        """Absolute index of the last display point + 1 (read under the lock: :meth:`feed` may run meanwhile).

        A frame reads it once and draws points ``[end - n_points, end)``
        (:meth:`read_points`), so everything it draws stops at the same point.
        """
        with self._lock:
            return self._points.end

    def get_raw(self, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """Copy of raw samples ``[start, stop)`` (default: the whole window); missing ones are NaN."""
        with self._lock:
            stop = self.head if stop is None else int(stop)
            start = stop - self.size if start is None else int(start)
            return self.raw.read(start, stop)
