"""Rechunker: regroup chunks of any length into blocks of exactly ``chunksize`` samples (absolute indexes kept)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np

__all__ = ["Rechunker"]

logger = logging.getLogger(__name__)

GAP_POLICIES = ("fill", "restart")


class Rechunker:
    """Collect samples and hand them on in blocks of exactly ``chunksize`` (the engine of ChunkResizer, SosFilter).

    Each block comes with the absolute index after its last sample, on the
    input's clock. When the input skips samples (an index gap), ``on_gap``
    decides: ``'fill'`` inserts NaN (0 for integer dtypes) so the blocks stay
    continuous, and logs the gap; ``'restart'`` drops the partial block and
    starts again at the new position. An index that goes back (the input
    started a new run) always drops the partial block.

    Parameters
    ----------
    chunksize : int
        Samples per block (> 0).
    on_gap : {'fill', 'restart'}
        What a gap does (see above).
    name : str
        Owner's name for log records.

    Examples
    --------
    >>> r = Rechunker(4)
    >>> [(end, len(b)) for end, b in r.push(6, np.zeros((6, 2)))]
    [(4, 4)]
    >>> [(end, len(b)) for end, b in r.push(8, np.zeros((2, 2)))]
    [(8, 4)]
    """

    def __init__(self, chunksize: int, on_gap: str = "fill", name: str = ""):
        if isinstance(chunksize, bool) or not isinstance(chunksize, (int, np.integer)) or chunksize <= 0:
            raise ValueError(f"{name or 'Rechunker'}: chunksize={chunksize!r} must be a positive integer")
        if on_gap not in GAP_POLICIES:
            raise ValueError(f"{name or 'Rechunker'}: on_gap={on_gap!r}; use one of {list(GAP_POLICIES)}")
        self.chunksize = int(chunksize)
        self.on_gap = on_gap
        self.name = name or "Rechunker"
        self._pending: np.ndarray | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the partial block and the expected position (a new run)."""
        self._n_pending = 0
        self._next_index: int | None = None  # absolute index of the next expected sample

    def push(self, end_index: int, chunk: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Add ``chunk`` (ending at absolute index ``end_index``); yield ``(end, block)`` for every full block.

        Each block is a new array: it may be sent (kept by a reader) while
        the rechunker goes on.
        """
        n = chunk.shape[0]
        start = end_index - n
        if self._pending is None or self._pending.shape[1:] != chunk.shape[1:] or self._pending.dtype != chunk.dtype:
            self._pending = np.empty((self.chunksize,) + chunk.shape[1:], dtype=chunk.dtype)
            self._n_pending = 0
        expected = self._next_index
        self._next_index = end_index
        if expected is not None and start != expected:
            if start > expected and self.on_gap == "fill":
                gap = start - expected
                logger.warning(
                    "%s: %d samples missing before index %d; filled so chunks stay %d samples long",
                    self.name,
                    gap,
                    start,
                    self.chunksize,
                )
                fill = np.nan if chunk.dtype.kind in "fc" else 0
                yield from self._append(np.full((gap,) + chunk.shape[1:], fill, dtype=chunk.dtype), start)
            else:
                if start < expected:
                    logger.info(
                        "%s: input index went back from %d to %d; starting a new run", self.name, expected, start
                    )
                self._n_pending = 0
        yield from self._append(chunk, end_index)

    def _append(self, data: np.ndarray, end: int) -> Iterator[tuple[int, np.ndarray]]:
        size, i, n = self.chunksize, 0, data.shape[0]
        pending = self._pending
        if pending is None:
            raise RuntimeError(f"{self.name}: no block buffer (push() allocates it before appending)")
        while i < n:
            take = min(size - self._n_pending, n - i)
            pending[self._n_pending : self._n_pending + take] = data[i : i + take]
            self._n_pending += take
            i += take
            if self._n_pending == size:
                block, pending = pending, np.empty_like(pending)  # the block handed on stays untouched
                self._pending = pending
                self._n_pending = 0
                yield end - (n - i), block
