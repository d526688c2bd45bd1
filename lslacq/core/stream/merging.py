"""Catch-up batching: merge the chunks already queued behind a received one."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...errors import BrokenStreamError, StreamClosedError

__all__ = ["deliver_merged"]


def _join(parts: list) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def deliver_merged(
    stream, index: int, data: np.ndarray, max_samples: int, deliver: Callable[[int, np.ndarray], None]
) -> None:
    """Deliver a received chunk together with the contiguous chunks queued behind it.

    A reader that keeps up finds nothing queued and delivers the chunk alone
    (no added latency); one that fell behind catches up in a few large calls
    instead of many small ones, which amortises its per-chunk cost.

    Parameters
    ----------
    stream : InputStream
        The stream ``(index, data)`` was just received from (with data).
    index, data : int, ndarray
        The received chunk: index of its last sample + 1, and its samples.
    max_samples : int
        Largest merged chunk; more queued chunks are left for the next call.
    deliver : callable
        ``deliver(index, merged)``, called once per contiguous run. A gap or
        restart in the indexes ends a run; what was merged so far is
        delivered first.

    Raises
    ------
    StreamClosedError
        The output closed while draining; what arrived before is delivered first.
    """
    index = int(index)
    parts, n = [data], len(data)
    try:
        while n < max_samples and stream.poll(0):
            try:
                next_index, more = stream.recv(return_data=True)
            except BrokenStreamError:
                continue  # logged and counted by the stream
            if next_index - len(more) != index:  # gap or restart: deliver what we have first
                deliver(index, _join(parts))
                parts, n = [], 0
            parts.append(more)
            n += len(more)
            index = int(next_index)
    except StreamClosedError:
        if parts:
            deliver(index, _join(parts))
        raise
    deliver(index, _join(parts))
