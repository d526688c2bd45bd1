"""Threshold-crossing detection over consecutive chunks (no Node, no threads).

:class:`ThresholdDetector` finds the samples where a 1-D signal crosses a
threshold, with pyacq's three debounce modes, and keeps enough history that a
crossing straddling two chunks (last sample of one chunk below, first sample of
the next above), or a debounce window spanning several chunks, is found exactly
once at its absolute sample index.

Definitions (``front='+'``; ``'-'`` is the mirror image)
------------------------------------------------------
* A *crossing* is a sample ``i`` with ``x[i-1] <= threshold < x[i]``; the
  event index is ``i`` (the first sample beyond the threshold).
* ``'no-debounce'``: every crossing is an event.
* ``'after-stable'``: a crossing is an event only if the signal then stays
  above the threshold for ``debounce`` samples (``x[i:i+debounce]`` all
  above). Of a burst of crossings closer than ``debounce`` (a bouncing
  contact), the *last* one is kept. The event is reported once those
  ``debounce`` samples have arrived.
* ``'before-stable'``: a crossing is an event only if the signal was at or
  below the threshold for the ``debounce`` samples before it
  (``x[i-debounce:i]`` all at or below). Of a burst, the *first* one is
  kept, and it is reported as soon as it is seen. At the start of the stream
  fewer than ``debounce`` previous samples are required.

With ``debounce == 0`` the three modes are identical.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ThresholdDetector", "extract_bit", "FRONTS", "DEBOUNCE_MODES"]

FRONTS = ("+", "-")
DEBOUNCE_MODES = ("no-debounce", "after-stable", "before-stable")


class ThresholdDetector:
    """Streaming threshold-crossing detector.

    Parameters
    ----------
    threshold : float
    front : {'+', '-'}
        '+' detects upward crossings, '-' downward ones.
    debounce_mode : {'no-debounce', 'after-stable', 'before-stable'}
    debounce : int
        Debounce length in samples (``round(debounce_time * sample_rate)``).

    The four attributes may be changed between calls of :meth:`process`; the
    change applies from the next chunk on.
    """

    def __init__(self, threshold: float = 0.0, front: str = "+", debounce_mode: str = "no-debounce", debounce: int = 0):
        self.threshold = threshold
        self.front = front
        self.debounce_mode = debounce_mode
        self.debounce = debounce
        self.reset()

    def reset(self) -> None:
        """Forget the history (the next chunk starts a new stream)."""
        self._tail = None  # samples kept from previous chunks
        self._tail_start = None  # absolute index of _tail[0]
        self._next = None  # absolute index of the next sample to test as a crossing
        self._stream_start = None

    def _check(self) -> tuple[float, str, str, int]:
        front, mode = self.front, self.debounce_mode
        if front not in FRONTS:
            raise ValueError(f"ThresholdDetector: front={front!r} is invalid; use '+' or '-'")
        if mode not in DEBOUNCE_MODES:
            raise ValueError(f"ThresholdDetector: debounce_mode={mode!r} is invalid; use one of {list(DEBOUNCE_MODES)}")
        db = int(self.debounce)
        if db < 0:
            raise ValueError(f"ThresholdDetector: debounce={db} must be >= 0 samples")
        return float(self.threshold), front, mode, db

    def process(self, end_index: int, samples: np.ndarray) -> np.ndarray:
        """Feed one chunk of a 1-D signal and return the new event indexes.

        Parameters
        ----------
        end_index : int
            Absolute index after the chunk's last sample.
        samples : ndarray, shape (n_samples,)

        Returns
        -------
        ndarray of int64
            Absolute sample indexes of the events found (sorted). A gap in
            ``end_index`` restarts the detector at the new position.
        """
        thr, front, mode, db = self._check()
        x = np.asarray(samples).reshape(-1)
        end_index = int(end_index)
        start = end_index - x.shape[0]
        if self._tail is not None and start != self._tail_start + self._tail.shape[0]:
            self.reset()
        if self._tail is None:
            self._tail = x[:0].copy()
            self._tail_start = start
            self._next = start + 1
            self._stream_start = start
        buf = np.concatenate([self._tail, x]) if self._tail.size else x
        b0 = self._tail_start
        end = b0 + buf.shape[0]

        # beyond[k]: buf[k] is on the far side of the threshold for this front
        beyond = buf > thr if front == "+" else buf < thr
        last = end - db + 1 if (mode == "after-stable" and db > 0) else end
        first = max(self._next, b0 + 1)
        events = np.empty(0, dtype=np.int64)
        if last > first:
            i = np.arange(first, last) - b0  # local indexes of candidate samples
            cross = beyond[i] & ~beyond[i - 1]
            cand = i[cross]
            if db > 0 and cand.size and mode != "no-debounce":
                # count of samples NOT beyond the threshold before each position
                not_beyond = np.concatenate([[0], np.cumsum(~beyond)])
                if mode == "after-stable":
                    ok = (not_beyond[cand + db] - not_beyond[cand]) == 0
                else:
                    lo = np.maximum(cand - db, max(self._stream_start - b0, 0))
                    # all of buf[lo:cand] must be NOT beyond: count beyond == length
                    n_not = not_beyond[cand] - not_beyond[lo]
                    ok = n_not == (cand - lo)
                cand = cand[ok]
            events = (cand + b0).astype(np.int64)
            self._next = last
        # keep what the next call needs: the sample before _next and db samples of history
        keep_from = max(b0, self._next - max(db, 1))
        self._tail = buf[keep_from - b0 :].copy()
        self._tail_start = keep_from
        return events


def extract_bit(data: np.ndarray, bit: int) -> np.ndarray:
    """Return bit ``bit`` (0 = least significant of column 0) of each row as uint8 0/1.

    Parameters
    ----------
    data : ndarray of unsigned or signed integers, shape (n_samples, n_columns)
        A digital stream; bits are numbered across columns: bit ``b`` is bit
        ``b % nbits`` of column ``b // nbits`` with ``nbits = 8 * itemsize``.
    bit : int
    """
    arr = np.asarray(data)
    if arr.dtype.kind not in "iub":
        raise TypeError(f"extract_bit: a digital stream must have an integer dtype, got {arr.dtype}")
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    if arr.ndim == 1:
        arr = arr[:, None]
    nbits = 8 * arr.dtype.itemsize
    col, b = divmod(int(bit), nbits)
    if not 0 <= col < arr.shape[1] or bit < 0:
        raise ValueError(
            f"extract_bit: bit {bit} does not exist in a stream of {arr.shape[1]} x {nbits}-bit columns "
            f"(valid: 0..{arr.shape[1] * nbits - 1})"
        )
    column = arr[:, col].view(f"u{arr.dtype.itemsize}") if arr.dtype.kind == "i" else arr[:, col]
    return ((column >> b) & 1).astype(np.uint8)
