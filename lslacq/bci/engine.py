"""Epoching around marker events, online and offline (no Node, no threads).

:class:`EpochingEngine` is shared by the :class:`~lslacq.bci.Epocher` node and
:func:`~lslacq.bci.epochs_from_recording`, so epochs cut online and offline are
the same arrays. It follows :class:`mne.Epochs` exactly:

* an epoch of the event at sample ``t`` holds samples ``t + round(tmin * fs)``
  to ``t + round(tmax * fs)``, **both included** (``n_times = round(tmax * fs)
  - round(tmin * fs) + 1``), its times are ``arange(start, stop + 1) / fs``;
* ``baseline=(a, b)`` (``None`` meaning the first / last time) subtracts, per
  channel, the mean over the times ``a <= t <= b`` (MNE's ``rescale``), checked
  as MNE checks it (``(None, 0)`` with ``tmin == 0`` is refused);
* ``reject``: an epoch whose peak-to-peak amplitude exceeds ``reject`` on any
  picked channel (``ptp > reject``, as MNE) is rejected and counted;
* events whose window starts before the first sample of the stream are
  dropped (MNE drops them too), and counted.

Events are matched to labels by ``event_id``: ``{label: marker}`` where a str
marker matches the event's ``description`` and an int marker its ``code``.

Events may come before or after their signal: an epoch is cut as soon as both
its marker and its last sample are there, as long as its first sample is still
in the signal history (``buffer_size`` samples). Markers of another stream are
placed through timestamps (:meth:`EpochingEngine.feed_timestamps` with the
signal's LSL timestamps, :meth:`EpochingEngine.add_timed_events` with the
markers'): each goes to the signal sample whose timestamp is nearest, decided
once the signal's timestamps have passed the marker's.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Mapping, Sequence

import numpy as np

from ..core.stream.events import EVENT_DTYPE

__all__ = ["EpochingEngine", "EventMatcher", "TimeAligner", "check_event_id", "epoch_times"]

logger = logging.getLogger(__name__)


def check_event_id(event_id, owner: str = "Epocher") -> dict[str, str | int]:
    """Validate ``event_id`` and return it as an ordered ``{label: marker}`` dict.

    Parameters
    ----------
    event_id : dict or sequence of str
        ``{label: marker}``; a str marker matches an event's ``description``,
        an int marker its ``code``. A list of str ``['target', 'nontarget']``
        means ``{'target': 'target', 'nontarget': 'nontarget'}``.
    owner : str
        Name used in error messages.
    """
    if isinstance(event_id, (list, tuple)) and all(isinstance(x, str) for x in event_id):
        event_id = {x: x for x in event_id}
    if not isinstance(event_id, Mapping) or not event_id:
        raise ValueError(
            f"{owner}: event_id={event_id!r} must be a non-empty dict {{label: marker}} (marker: a str "
            "matched against the event's description, or an int matched against its code), e.g. "
            "{'target': 'target', 'left': 'S  1', 'right': 2}"
        )
    out: dict[str, str | int] = {}
    seen: dict = {}
    for label, marker in event_id.items():
        if not isinstance(label, str) or not label:
            raise ValueError(f"{owner}: event_id label {label!r} must be a non-empty str")
        if len(label.encode("ascii", errors="replace")) > 32:
            raise ValueError(
                f"{owner}: event_id label {label!r} is longer than 32 bytes (the description field of "
                "the labels records); shorten it"
            )
        if isinstance(marker, (bool, np.bool_)) or not isinstance(marker, (str, int, np.integer)):
            raise ValueError(
                f"{owner}: event_id[{label!r}] = {marker!r} must be a str (matched against the event's "
                "description) or an int (matched against its code)"
            )
        if isinstance(marker, str):
            if not marker or len(marker.encode("ascii", errors="replace")) > 32:
                raise ValueError(
                    f"{owner}: event_id[{label!r}] = {marker!r} must be a non-empty description of at "
                    "most 32 ASCII bytes"
                )
            key = ("description", marker)
        else:
            marker = int(marker)
            if not -(2**31) <= marker < 2**31:
                raise ValueError(f"{owner}: event_id[{label!r}] = {marker} does not fit the int32 code field")
            key = ("code", marker)
        if key in seen:
            raise ValueError(
                f"{owner}: event_id[{label!r}] and event_id[{seen[key]!r}] both match {key[0]} "
                f"{marker!r}; give each label its own marker"
            )
        seen[key] = label
        out[label] = marker
    return out


def epoch_times(tmin: float, tmax: float, sample_rate: float) -> tuple[int, int, np.ndarray]:
    """``(start, stop, times)`` as mne.Epochs computes them: samples ``start..stop`` inclusive around the event."""
    sfreq = float(sample_rate)
    start = int(round(float(tmin) * sfreq))
    stop = int(round(float(tmax) * sfreq))
    return start, stop, np.arange(start, stop + 1) / sfreq


def _baseline_slice(baseline, times: np.ndarray, sample_rate: float, owner: str) -> slice | None:
    """MNE's _check_baseline + rescale index arithmetic; None for no baseline."""
    if baseline is None:
        return None
    try:
        baseline = tuple(baseline)
    except TypeError:
        raise ValueError(
            f"{owner}: baseline={baseline!r} must be None or a pair (a, b) in seconds, e.g. (None, 0)"
        ) from None
    if len(baseline) != 2:
        raise ValueError(f"{owner}: baseline={baseline!r} must have exactly two elements (a, b), e.g. (None, 0)")
    tmin, tmax = times[0], times[-1]
    tstep = 1.0 / float(sample_rate)
    if baseline == (None, 0) and tmin == 0:
        raise ValueError(
            f"{owner}: baseline=(None, 0) with tmin=0 is a one-sample baseline; use baseline=(0, 0) "
            "if this is desired (MNE's rule)"
        )
    bmin = float(tmin if baseline[0] is None else baseline[0])
    bmax = float(tmax if baseline[1] is None else baseline[1])
    if bmin > bmax:
        raise ValueError(f"{owner}: baseline min ({bmin}) must be less than baseline max ({bmax})")
    if bmin < tmin - tstep or bmax > tmax + tstep:
        raise ValueError(
            f"{owner}: baseline interval [{bmin}, {bmax}] s is outside the epoch [{tmin}, {tmax}] s; "
            "choose a baseline within tmin..tmax"
        )
    imin = np.where(times >= bmin)[0]
    imax = np.where(times <= bmax)[0]
    if not len(imin) or not len(imax) or int(imin[0]) >= int(imax[-1]) + 1:
        raise ValueError(
            f"{owner}: baseline {baseline!r} selects no sample of the epoch times "
            f"[{tmin}, {tmax}] s at {sample_rate} Hz"
        )
    return slice(int(imin[0]), int(imax[-1]) + 1)


class EventMatcher:
    """Map event records to ``event_id`` labels (description str or code int)."""

    def __init__(self, event_id):
        self.event_id = check_event_id(event_id)
        self.labels = list(self.event_id)
        self._by_desc = {
            m.encode("ascii", errors="replace"): i for i, m in enumerate(self.event_id.values()) if isinstance(m, str)
        }
        self._by_code = {m: i for i, m in enumerate(self.event_id.values()) if not isinstance(m, str)}

    def match(self, events: np.ndarray) -> np.ndarray:
        """Position in ``event_id`` of each event, -1 for events no label matches."""
        ev = np.asarray(events).reshape(-1)
        out = np.full(len(ev), -1, dtype=np.int64)
        if not len(ev):
            return out
        if self._by_desc and "description" in (ev.dtype.names or ()):
            for i, desc in enumerate(ev["description"].tolist()):
                out[i] = self._by_desc.get(desc, -1)
        if self._by_code and "code" in (ev.dtype.names or ()):
            for i, code in enumerate(ev["code"].tolist()):
                if out[i] < 0:
                    out[i] = self._by_code.get(int(code), -1)
        return out


class _Ring:
    """Last ``size`` samples of a signal with absolute indexes ``[first, end)``; a gap restarts it.

    ``channel_major``: a (time, channel) signal stored ``(n_channels, size)``,
    each chunk transposed once as it is written, so an epoch is read as
    ``n_channels`` contiguous rows (:meth:`pieces`: at most two when it wraps)
    instead of a transposing copy of the whole epoch when it completes.
    Otherwise rows ``(size,) + frame`` (:meth:`read`).
    """

    def __init__(self, size: int, frame: tuple, dtype, channel_major: bool = False, touch: bool = False):
        self.size = int(size)
        self.channel_major = channel_major
        shape = (int(frame[0]), self.size) if channel_major else (self.size,) + tuple(frame)
        self.data = np.zeros(shape, dtype=dtype)
        if touch:  # fault every page in now: np.zeros maps them lazily, on the first write of each
            self.data.fill(0)
        self.clear()

    def clear(self) -> None:
        """Forget the samples (the memory is kept): the next write starts a new history."""
        self.first: int | None = None
        self.end: int | None = None
        self.stream_start: int | None = None  # first index of the current continuous run

    def write(self, end_index: int, chunk: np.ndarray) -> bool:
        """Append ``chunk`` (time first) ending at ``end_index``.

        Returns True if the chunk did not follow the previous one (the history is then restarted).
        """
        n = chunk.shape[0]
        start = int(end_index) - n
        jumped = self.end is not None and start != self.end
        if self.end is None or jumped:
            self.first = self.end = self.stream_start = start
        if n > self.size:  # only the newest size samples are kept
            self.end += n - self.size
            chunk, n = chunk[n - self.size :], self.size
        pos = self.end % self.size
        k = min(n, self.size - pos)
        self._put(pos, chunk[:k])
        if k < n:
            self._put(0, chunk[k:])
        self.end += n
        self.first = max(self.first, self.end - self.size)
        return jumped

    def _put(self, pos: int, part: np.ndarray) -> None:
        if self.channel_major:
            self.data[:, pos : pos + len(part)] = part.T
        else:
            self.data[pos : pos + len(part)] = part

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` (must be inside ``[first, end)``), a new array."""
        a, b = start % self.size, stop % self.size
        if stop - start == self.size:
            return np.concatenate([self.data[a:], self.data[:a]]) if a else self.data.copy()
        if a < b or b == 0:
            return self.data[a : b or self.size].copy()
        return np.concatenate([self.data[a:], self.data[:b]])

    def pieces(self, start: int, stop: int) -> list[tuple[int, np.ndarray]]:
        """Return views ``(n_channels, k)`` of samples ``[start, stop)`` (inside ``[first, end)``).

        Each view comes with its offset from ``start``: one piece, or two when the range wraps.
        """
        a = start % self.size
        n = stop - start
        if a + n <= self.size:
            return [(0, self.data[:, a : a + n])]
        k = self.size - a
        return [(0, self.data[:, a:]), (k, self.data[:, : n - k])]


class _Epoch:
    """An epoch being filled as its samples arrive (baseline-corrected once its baseline is complete)."""

    __slots__ = ("trigger", "seq", "label", "start", "stop", "done", "data", "mean", "high", "low")

    def __init__(self, trigger: int, seq: int, label: np.ndarray, start: int, stop: int, shape: tuple, dtype):
        self.trigger, self.seq, self.label = trigger, seq, label
        self.start, self.stop = start, stop  # absolute samples [start, stop)
        self.done = start  # samples [start, done) are written
        self.data = np.empty(shape, dtype=dtype)
        self.mean: np.ndarray | None = None  # (n_picks, 1) float64 baseline
        self.high: np.ndarray | None = None  # running max / min per channel (reject)
        self.low: np.ndarray | None = None


class TimeAligner:
    """Place markers of one stream on the samples of another through their timestamps.

    Feed the signal's timestamps (one per sample, same indexes as the signal)
    with :meth:`feed` and the markers with their timestamps with :meth:`add`;
    :meth:`ready` returns the markers whose nearest signal sample is known,
    with ``index`` set to it. A marker is placed once the signal's timestamps
    reach its time (the nearest sample may be the next one); one older than the
    timestamps kept is placed by extrapolation at ``sample_rate`` from the
    oldest kept. Both sets of timestamps must be on the same clock (LslInlet's
    default ``clocksync=True`` applies the LSL clock offsets).

    Parameters
    ----------
    sample_rate : float
        Nominal rate of the signal (for extrapolation).
    size : int
        Signal timestamps kept.
    """

    def __init__(self, sample_rate: float, size: int):
        self.sample_rate = float(sample_rate)
        self._ring = _Ring(max(int(size), 2), (), np.float64)
        self._pending: list[tuple[float, int, np.ndarray]] = []  # (time, sequence, record)
        self._seq = 0
        self._events: dict[int, np.ndarray] = {}  # by end index in the marker stream: records waiting for times
        self._times: dict[int, np.ndarray] = {}

    @property
    def n_pending(self) -> int:
        """Markers not placed yet (waiting for the signal's timestamps or for their own)."""
        return len(self._pending) + sum(len(v) for v in self._events.values())

    def reset(self) -> None:
        """Forget the signal's timestamps and every waiting marker (a new stream starts)."""
        self._ring = _Ring(self._ring.size, (), np.float64)
        self._pending.clear()
        self._events.clear()
        self._times.clear()

    def feed(self, end_index: int, timestamps: np.ndarray) -> None:
        """Signal timestamps of samples ``end_index - len .. end_index - 1``."""
        ts = np.asarray(timestamps, dtype=np.float64).reshape(-1)
        if len(ts):
            self._ring.write(end_index, ts)

    def add(self, events: np.ndarray, times) -> None:
        """Markers (EVENT_DTYPE records) and their timestamps (one each)."""
        ev = np.asarray(events).reshape(-1)
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        if len(ev) != len(times):
            raise ValueError(
                f"TimeAligner: {len(ev)} markers but {len(times)} timestamps; give one timestamp per marker"
            )
        for rec, t in zip(ev, times.tolist(), strict=True):
            bisect.insort(self._pending, (t, self._seq, rec.copy()))
            self._seq += 1

    def add_chunk(self, kind: str, end_index: int, values: np.ndarray) -> None:
        """Pair a chunk of marker records with the chunk of their timestamps, whichever comes first.

        Parameters
        ----------
        kind : {'events', 'times'}
            ``'events'`` for marker records (EVENT_DTYPE), ``'times'`` for their timestamps.
        end_index : int
            End index of the chunk in the marker stream; the two chunks of a pair have the same one.
        values : ndarray
            The records or the timestamps.
        """
        mine, other = (self._events, self._times) if kind == "events" else (self._times, self._events)
        end_index = int(end_index)
        if end_index in other:
            partner = other.pop(end_index)
            ev, ts = (values, partner) if kind == "events" else (partner, values)
            self.add(ev, ts)
        else:
            mine[end_index] = np.array(values, copy=True)
            if len(mine) > 10000:
                raise RuntimeError(
                    "TimeAligner: over 10000 marker chunks have no timestamps (or timestamps no "
                    "markers); connect the marker inlet's 'timestamps' output to 'event_timestamps'"
                )

    def ready(self) -> np.ndarray:
        """Return the markers that can now be placed (EVENT_DTYPE), ``index`` set to their signal sample."""
        ring = self._ring
        if not self._pending or ring.end is None:
            return np.zeros(0, dtype=EVENT_DTYPE)
        newest = float(ring.data[(ring.end - 1) % ring.size])
        n = bisect.bisect_right(self._pending, (newest, float("inf")))
        if not n:
            return np.zeros(0, dtype=EVENT_DTYPE)
        todo, self._pending = self._pending[:n], self._pending[n:]
        ts = ring.read(ring.first, ring.end)
        times = np.array([t for t, _, _ in todo])
        right = np.searchsorted(ts, times)
        nearest = np.empty(len(times), dtype=np.int64)
        before = right == 0
        nearest[before] = ring.first + np.rint((times[before] - ts[0]) * self.sample_rate).astype(np.int64)
        inner = ~before
        r = np.minimum(right[inner], len(ts) - 1)
        left = r - 1
        pick = np.where(np.abs(ts[left] - times[inner]) <= np.abs(ts[r] - times[inner]), left, r)
        nearest[inner] = ring.first + pick
        out = np.array([rec for _, _, rec in todo], dtype=EVENT_DTYPE)
        out["index"] = nearest
        return out


class EpochingEngine:
    """Cut epochs of a (time, channel) signal around marker events, as mne.Epochs does.

    Parameters
    ----------
    n_channels : int
        Channels of the signal.
    sample_rate : float
        Hz.
    event_id : dict or list of str
        ``{label: marker}``, see :func:`check_event_id`.
    tmin, tmax : float
        Epoch limits in seconds around the event; ``tmax`` is included.
    baseline : (a, b) or None
        MNE's baseline: subtract each channel's mean over ``a <= t <= b``
        (None: from the first / to the last time).
    reject : float or None
        Peak-to-peak threshold in the signal's units; epochs above it on any
        picked channel are rejected (counted in :attr:`n_rejected`).
    picks : sequence of int or str, optional
        Channels kept (indexes, or names among ``channel_names``).
    channel_names : sequence of str, optional
        Names of the signal's channels (for ``picks`` by name).
    dtype : numpy dtype
        dtype of the epochs (computed in float64, then cast).
    buffer_size : int, optional
        Signal history kept for markers that arrive after their signal, in
        samples (default: the larger of two epochs and 5 s).
    scale, offset : float, optional
        Raw integer streams: epochs hold ``offset + scale * raw``.
    timestamps_size : int, optional
        Signal timestamps kept to place timed markers (default ``buffer_size``).

    Attributes
    ----------
    labels : list of str
        The ``event_id`` labels, in order (a label's position is its ``code``
        in the labels records).
    times : ndarray
        Epoch times in seconds.
    n_epochs, n_rejected, n_dropped, n_ignored : int
        Epochs cut; rejected by ``reject``; dropped because their window was
        not (or no longer) in the signal; events matching no label.
    """

    def __init__(
        self,
        n_channels: int,
        sample_rate: float,
        event_id,
        tmin: float,
        tmax: float,
        baseline: Sequence | None = None,
        reject: float | None = None,
        picks: Sequence | None = None,
        channel_names: Sequence[str] | None = None,
        dtype=np.float32,
        buffer_size: int | None = None,
        scale: float | None = None,
        offset: float | None = None,
        timestamps_size: int | None = None,
        owner: str = "EpochingEngine",
    ):
        self.owner = owner
        if isinstance(n_channels, bool) or not isinstance(n_channels, (int, np.integer)) or n_channels < 1:
            raise ValueError(f"{owner}: n_channels must be a positive int, got {n_channels!r}")
        if not isinstance(sample_rate, (int, float, np.number)) or not float(sample_rate) > 0:
            raise ValueError(f"{owner}: the signal needs a sample_rate > 0 Hz, got {sample_rate!r}")
        self.n_channels = int(n_channels)
        self.sample_rate = float(sample_rate)
        self.matcher = EventMatcher(event_id) if not isinstance(event_id, EventMatcher) else event_id
        self.event_id = self.matcher.event_id
        self.labels = self.matcher.labels
        for name, value in (("tmin", tmin), ("tmax", tmax)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
                raise ValueError(f"{owner}: {name}={value!r} must be a finite number of seconds")
        if tmin > tmax:
            raise ValueError(f"{owner}: tmin ({tmin} s) must be less than or equal to tmax ({tmax} s)")
        self.tmin, self.tmax = float(tmin), float(tmax)
        self.start, self.stop, self.times = epoch_times(tmin, tmax, self.sample_rate)
        self.n_times = len(self.times)
        self.baseline = None if baseline is None else tuple(baseline)
        self._baseline = _baseline_slice(baseline, self.times, self.sample_rate, owner)
        if reject is not None:
            if isinstance(reject, bool) or not isinstance(reject, (int, float, np.number)) or not float(reject) > 0:
                raise ValueError(
                    f"{owner}: reject={reject!r} must be None or a peak-to-peak threshold > 0 in the signal's units"
                )
            reject = float(reject)
        self.reject = reject
        self.channel_names = list(channel_names) if channel_names is not None else None
        self.picks = self._check_picks(picks)
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ValueError(f"{owner}: dtype={self.dtype} must be a float dtype (float32 or float64)")
        self.scale, self.offset = scale, offset
        default = max(2 * self.n_times, int(5 * self.sample_rate))
        if buffer_size is not None and (not isinstance(buffer_size, (int, np.integer)) or buffer_size < 1):
            raise ValueError(f"{owner}: buffer_size={buffer_size!r} must be a positive number of samples")
        self.buffer_size = max(int(buffer_size or default), self.n_times)
        self._ring: _Ring | None = None
        self.aligner = TimeAligner(self.sample_rate, int(timestamps_size or self.buffer_size))
        self.reset()

    def _check_picks(self, picks) -> np.ndarray:
        n = self.n_channels
        if picks is None:
            return np.arange(n)
        if isinstance(picks, (str, int, np.integer)):
            picks = [picks]
        out = []
        for p in picks:
            if isinstance(p, str):
                if self.channel_names is None or p not in self.channel_names:
                    raise ValueError(
                        f"{self.owner}: picks: no channel named {p!r}; channels: "
                        f"{self.channel_names if self.channel_names else 'unnamed (use indexes)'}"
                    )
                out.append(self.channel_names.index(p))
            elif isinstance(p, (int, np.integer)) and not isinstance(p, bool):
                if not -n <= p < n:
                    raise ValueError(
                        f"{self.owner}: picks: channel {p} does not exist in a {n}-channel signal (0..{n - 1})"
                    )
                out.append(int(p) % n)
            else:
                raise ValueError(f"{self.owner}: picks must be channel indexes or names, got {p!r}")
        if not out:
            raise ValueError(f"{self.owner}: picks is empty; give at least one channel (or None for all)")
        if len(set(out)) != len(out):
            raise ValueError(f"{self.owner}: picks {list(picks)!r} names a channel twice")
        return np.asarray(out, dtype=np.int64)

    @property
    def n_picks(self) -> int:
        """Number of channels an epoch keeps."""
        return len(self.picks)

    @property
    def pick_names(self) -> list[str] | None:
        """Names of the picked channels (None if the signal has none)."""
        return None if self.channel_names is None else [self.channel_names[i] for i in self.picks]

    @property
    def epoch_shape(self) -> tuple[int, int]:
        """``(n_channels, n_times)`` of one epoch (picked channels)."""
        return (self.n_picks, self.n_times)

    def reset(self) -> None:
        """Forget the signal, the waiting events and the counters (a new stream starts).

        The signal history's memory (see :meth:`prepare`) is kept for the new stream.
        """
        if self._ring is not None:
            self._ring.clear()
        self._pending: list[tuple[int, int, np.ndarray]] = []  # (trigger index, seq, record)
        self._active: list[_Epoch] = []  # epochs being filled, by trigger
        self._deferred: tuple | None = None  # (end_index, picked chunk) that feed_first left to finish()
        self._seq = 0
        self.aligner.reset()
        self.n_epochs = self.n_rejected = self.n_dropped = self.n_ignored = 0
        self._last_drop_log = -1e9

    def prepare(self, dtype) -> None:
        """Allocate the signal history for samples of ``dtype`` and touch all of its memory now.

        Otherwise the history (``buffer_size`` x the picked channels: 92 MB for 384 channels, 2 s at
        30 kHz) is allocated by the first chunk :meth:`feed` gets, whose write then faults in every page
        of it: 10-40 ms on an idle machine, over a second for the first big allocation of a process on a
        busy VM, a stall of the first epochs of a live session. A node calls it before its data flows
        (the Epocher at start). Nothing is done if the history already has this dtype (it is kept by
        :meth:`reset`).
        """
        dtype = np.dtype(dtype)
        if self._ring is not None and self._ring.data.dtype == dtype:
            return
        self._ring = None  # the old one's memory goes before the new one is touched
        self._ring = _Ring(self.buffer_size, (self.n_picks,), dtype, channel_major=True, touch=True)

    @property
    def signal_end(self) -> int | None:
        """Absolute index after the newest signal sample received (None before the first)."""
        return None if self._ring is None else self._ring.end

    @property
    def pending(self) -> list[int]:
        """Trigger indexes waiting for the end of their epoch."""
        return sorted([ep.trigger for ep in self._active] + [t for t, _, _ in self._pending])

    # -- input -------------------------------------------------------------------------------
    def feed(self, end_index: int, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Append a signal chunk ``(n_samples, n_channels)`` ending at absolute ``end_index``.

        Returns
        -------
        epochs : ndarray, shape (n_epochs, n_picks, n_times)
            The epochs completed by this chunk (oldest trigger first).
        labels : ndarray of EVENT_DTYPE
            One record per epoch: ``index`` the trigger's sample, ``description``
            its label, ``code`` the label's position in ``event_id``.
        """
        x = np.asarray(chunk)
        if x.ndim == 1 and self.n_channels == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.n_channels:
            raise ValueError(
                f"{self.owner}: signal chunk must have shape (n_samples, {self.n_channels}), got {x.shape}"
            )
        if not x.shape[0]:
            return self._empty()
        if self.n_picks != self.n_channels:
            x = x[:, self.picks]
        if self._ring is None or (self._ring.data.dtype != x.dtype and self._ring.end is None):
            self._ring = _Ring(self.buffer_size, (self.n_picks,), x.dtype, channel_major=True)
        ring = self._ring
        end_index = int(end_index)
        n = x.shape[0]
        if n > ring.size // 2:  # a big chunk (offline): in pieces, so no epoch ending inside it is overwritten
            step = max(ring.size // 2, 1)
            parts = [self.feed_picked(end_index - n + min(k + step, n), x[k : k + step]) for k in range(0, n, step)]
            return self._join(parts)
        return self.feed_picked(end_index, x)

    def feed_first(self, end_index: int, chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Do :meth:`feed` in two steps, for the lowest latency.

        The epochs this chunk completes, filled straight from the chunk, come back first; the rest of the work
        (writing the chunk to the history, starting and filling the other epochs) waits for :meth:`finish`,
        which must be called next (it returns any epoch that only the rest completes). Same epochs as
        :meth:`feed`.
        """
        if self._deferred is not None:
            raise RuntimeError(
                f"{self.owner}: feed_first() called again before finish(); call finish() after each feed_first()"
            )
        x = np.asarray(chunk)
        if x.ndim == 1 and self.n_channels == 1:
            x = x[:, None]
        ring = self._ring
        n = x.shape[0] if x.ndim == 2 else 0
        end_index = int(end_index)
        start = end_index - n
        if (
            ring is None
            or not self._active
            or x.ndim != 2
            or x.shape[1] != self.n_channels
            or not n
            or n > ring.size // 2
            or ring.end != start
        ):
            self._deferred = None
            return self.feed(end_index, x)
        if self.n_picks != self.n_channels:
            x = x[:, self.picks]
        done = [ep for ep in self._active if ep.stop <= end_index and ep.done >= start]
        for ep in done:
            self._write(ep, ep.done, x[ep.done - start : ep.stop - start].T)
            ep.done = ep.stop
        if done:
            self._active = [ep for ep in self._active if ep.done != ep.stop]
        self._deferred = (end_index, x)
        return self._finish_epochs(done)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Do the rest of the work of the last :meth:`feed_first` (nothing if there is none)."""
        deferred, self._deferred = self._deferred, None
        if deferred is None:
            return self._empty()
        return self.feed_picked(*deferred)

    def feed_picked(self, end_index: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Append a chunk already reduced to the picked channels, ``(n_samples, n_picks)``; no checks.

        The step of :meth:`feed` after its checks (the history must exist: :meth:`feed` creates it). Returns
        what :meth:`feed` returns.
        """
        ring = self._ring
        if ring.write(end_index, x):
            logger.warning(
                "%s: the signal jumped to index %d; history before it cleared", self.owner, end_index - x.shape[0]
            )
            for ep in self._active:  # their samples before the jump are gone
                self._drop(ep.trigger, ep.start, ep.label, ring)
            self._active = []
        return self._cut_ready()

    def add_events(self, events) -> tuple[np.ndarray, np.ndarray]:
        """Add marker events (EVENT_DTYPE records whose ``index`` is a sample of the signal).

        Returns the epochs (and labels) that are complete now: those of
        events arriving after their signal.
        """
        ev = np.asarray(events).reshape(-1)
        if ev.dtype.names is None or "index" not in ev.dtype.names:
            raise ValueError(
                f"{self.owner}: events must be EVENT_DTYPE records (lslacq.core.stream.events), got dtype {ev.dtype}"
            )
        which = self.matcher.match(ev)
        self.n_ignored += int(np.count_nonzero(which < 0))
        for rec, k in zip(ev[which >= 0], which[which >= 0].tolist(), strict=True):
            lab = np.zeros((), dtype=EVENT_DTYPE)
            lab["index"] = rec["index"]
            lab["type"] = rec["type"] if "type" in ev.dtype.names else b""
            lab["channel"] = -1
            lab["description"] = self.labels[k].encode("ascii", errors="replace")
            lab["code"] = k
            bisect.insort(self._pending, (int(rec["index"]), self._seq, lab))
            self._seq += 1
        return self._cut_ready()

    def feed_timestamps(self, end_index: int, timestamps) -> tuple[np.ndarray, np.ndarray]:
        """Timestamps of the signal's samples (same indexes); places timed markers that are now due."""
        self.aligner.feed(end_index, timestamps)
        return self._place_timed()

    def add_timed_events(self, events, times) -> tuple[np.ndarray, np.ndarray]:
        """Markers of another stream with their timestamps (on the signal's timestamps' clock)."""
        self.aligner.add(events, times)
        return self._place_timed()

    def add_marker_chunk(self, kind: str, end_index: int, values) -> tuple[np.ndarray, np.ndarray]:
        """Add a chunk of marker records or of their timestamps, as an LslInlet of a marker stream sends them.

        ``kind`` is ``'events'`` for the records, ``'times'`` for the timestamps; the two chunks of a pair
        have the same end index in the marker stream (:meth:`TimeAligner.add_chunk`). Returns the epochs (and
        labels) complete now.
        """
        self.aligner.add_chunk(kind, end_index, values)
        return self._place_timed()

    def _place_timed(self) -> tuple[np.ndarray, np.ndarray]:
        placed = self.aligner.ready()
        if not len(placed):
            return self._empty()
        return self.add_events(placed)

    # -- cutting ------------------------------------------------------------------------------
    def _empty(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((0, self.n_picks, self.n_times), dtype=self.dtype), np.zeros(0, dtype=EVENT_DTYPE)

    @staticmethod
    def _join(parts) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _drop(self, t: int, a: int, lab: np.ndarray, ring) -> None:
        self.n_dropped += 1
        why = (
            "before the start of the signal"
            if a < ring.stream_start
            else f"older than the {self.buffer_size}-sample history (the marker came too late; increase "
            "buffer_duration)"
        )
        now = time.monotonic()
        if now - self._last_drop_log >= 5.0:  # at most one line every 5 s; all are counted
            self._last_drop_log = now
            logger.warning(
                "%s: epoch of %r at sample %d needs samples from %d, %s; dropped (%d dropped so far)",
                self.owner,
                lab["description"].item().decode("ascii", "replace"),
                t,
                a,
                why,
                self.n_dropped,
            )

    def _converted(self, part: np.ndarray) -> np.ndarray:
        """Raw samples in physical units (float64), for integer streams with scale/offset."""
        return (self.offset or 0.0) + (1.0 if self.scale is None else self.scale) * part.astype(np.float64)

    def _fill(self, ep: _Epoch, upto: int) -> None:
        """Write samples ``[ep.done, upto)`` of the ring into the epoch.

        The baseline is subtracted as MNE does (in float64, then cast); the epoch's peak-to-peak range is
        tracked for ``reject``.
        """
        if upto <= ep.done:
            return
        for offset, part in self._ring.pieces(ep.done, upto):
            self._write(ep, ep.done + offset, part)
        ep.done = upto

    def _write(self, ep: _Epoch, first: int, part: np.ndarray) -> None:
        """Write raw samples ``part`` ``(n_picks, k)``, absolute samples from ``first``, into the epoch."""
        if self.scale is not None or self.offset is not None:
            part = self._converted(part)
        if self.reject is not None:
            high, low = part.max(axis=1), part.min(axis=1)
            ep.high = high if ep.high is None else np.maximum(ep.high, high)
            ep.low = low if ep.low is None else np.minimum(ep.low, low)
        lo = first - ep.start
        dst = ep.data[:, lo : lo + part.shape[1]]
        if ep.mean is None:
            dst[...] = part
        else:
            np.subtract(part, ep.mean, out=dst, dtype=np.float64, casting="unsafe")  # in float64, as MNE

    def _activate(self, t: int, seq: int, lab: np.ndarray) -> _Epoch | None:
        """Start filling the epoch of trigger ``t`` (its baseline, if any, is complete); None if dropped."""
        ring = self._ring
        a, b = t + self.start, t + self.stop + 1
        if a < ring.first:
            self._drop(t, a, lab, ring)
            return None
        ep = _Epoch(t, seq, lab, a, b, (self.n_picks, self.n_times), self.dtype)
        if self._baseline is not None:
            bl = self._baseline
            parts = [p for _, p in ring.pieces(a + bl.start, a + bl.stop)]
            block = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
            block = (
                self._converted(block)
                if self.scale is not None or self.offset is not None
                else block.astype(np.float64)
            )
            ep.mean = block.mean(axis=1, keepdims=True)
        return ep

    def _cut_ready(self) -> tuple[np.ndarray, np.ndarray]:
        ring = self._ring
        if ring is None or ring.end is None or not (self._pending or self._active):
            return self._empty()
        end = ring.end
        # markers whose epoch can start filling: its first sample (and its whole baseline) has arrived
        need = self._baseline.stop if self._baseline is not None else 1
        activated = False
        while self._pending and self._pending[0][0] + self.start + need <= end:
            t, seq, lab = self._pending.pop(0)
            ep = self._activate(t, seq, lab)
            if ep is not None:
                self._active.append(ep)
                activated = True
        if activated:
            self._active.sort(key=lambda e: (e.trigger, e.seq))
        done: list[_Epoch] = []
        still: list[_Epoch] = []
        for ep in self._active:
            self._fill(ep, min(end, ep.stop))
            (done if ep.done == ep.stop else still).append(ep)
        self._active = still
        return self._finish_epochs(done)

    def _finish_epochs(self, done: list) -> tuple[np.ndarray, np.ndarray]:
        """Reject (peak-to-peak) and stack the completed epochs."""
        if not done:
            return self._empty()
        kept = []
        for ep in done:
            if self.reject is not None and np.any(ep.high.astype(np.float64) - ep.low.astype(np.float64) > self.reject):
                self.n_rejected += 1
                continue
            kept.append(ep)
        if not kept:
            return self._empty()
        self.n_epochs += len(kept)
        data = kept[0].data[None] if len(kept) == 1 else np.stack([ep.data for ep in kept])
        return data, np.array([ep.label for ep in kept], dtype=EVENT_DTYPE)
