"""Splitting decoded samples where packets were lost (shared by the device decoders)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["contiguous_runs"]


def contiguous_runs(positions: np.ndarray) -> Iterator[tuple[int, int]]:
    """Yield ``(start, stop)`` row ranges over which ``positions`` (sample indexes) increase by exactly 1.

    A decoder that lost packets has holes in its sample positions; a node
    sends each run as one chunk with its own ``index``, so readers see the
    loss as a gap.

    Examples
    --------
    >>> list(contiguous_runs(np.array([4, 5, 6, 9, 10])))
    [(0, 3), (3, 5)]
    """
    if not len(positions):
        return
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    edges = [0, *breaks.tolist(), len(positions)]
    yield from zip(edges[:-1], edges[1:], strict=True)
