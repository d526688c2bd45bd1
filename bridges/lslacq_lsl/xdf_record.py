"""LslXdfRecording: record LSL streams to an XDF file as LabRecorder does, crash-safe.

One inlet per stream (no timestamp post-processing: the file holds the
timestamps as the outlets sent them, in their hosts' clocks) and a
ClockOffset measurement (``inlet.time_correction()``) per stream every
``offset_interval`` seconds, so ``pyxdf.load_xdf`` puts every stream on the
recording host's clock. The StreamHeader of each stream is its full LSL info
(``info.as_xml()``), as LabRecorder writes it. One recording thread takes
every sample queued in every inlet and hands the chunks to
:class:`lslacq.rec.xdf_writer.XdfWriter`, which writes them whole, at once,
on the fixed deadlines of :class:`lslacq.rec.deadlines.WriteDeadlines`
(about 1.1 wake-ups a second at the 1 s default): what an inlet has
received is on disk at most ``flush_interval`` later, scheduling included,
and a killed recording loads in pyxdf as it is, missing less than
``flush_interval``. (LabRecorder pulls every 0.5 s; a wake-up per LSL chunk
would cost more CPU than the recording itself.)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import numpy as np
import pylsl

from lslacq.rec.deadlines import WriteDeadlines
from lslacq.rec.xdf_writer import XdfWriter

from ._liblsl import ChunkPuller
from ._pylsl import LostError, LslTimeoutError
from .metadata import describe_stream

__all__ = ["LslXdfRecording"]

logger = logging.getLogger(__name__)


class _Stream:
    def __init__(self, key: str, inlet: pylsl.StreamInlet, info: pylsl.StreamInfo, stream_id: int):
        self.key = key
        self.inlet = inlet
        self.info = info
        self.stream_id = stream_id
        self.description = describe_stream(info)
        self.is_string = self.description.channel_format == "string"
        self.n_received = 0
        self.lost = False  # liblsl cannot recover it: its recording ended
        self.puller: ChunkPuller | None = None
        self.data: np.ndarray | None = None
        self.ts: np.ndarray | None = None


class LslXdfRecording:
    """Record LSL streams into a new XDF file until :meth:`stop`.

    Parameters
    ----------
    filename : str or path
        The ``.xdf`` file to create (never overwritten).
    infos : list of pylsl.StreamInfo
        The streams (e.g. from :func:`lslacq_lsl.resolve_stream`).
    flush_interval : float
        Longest time (s) received data waits in memory (default 1.0): the
        writes are scheduled so that it is on disk by then, the time they
        take and their wake-up's lateness included.
    offset_interval : float
        Seconds between clock-offset measurements (default 5, as LabRecorder).
    timeout : float
        Seconds to wait for each stream's full info and subscription.
    max_chunk : int
        Largest chunk pulled at once, in samples (one XDF chunk each).
    pull_interval : float, optional
        Seconds between the recording thread's pulls (each takes every
        queued sample of every stream); default: ``flush_interval``: every
        pull goes to the disk at once. Shorter pulls add pulls between the
        writes (the writes keep their deadlines).
    fsync : bool
        Also ``os.fsync`` at each flush.

    Attributes
    ----------
    error : Exception or None
        The first failure of a background thread (then recording stopped).
    on_error : callable or None
        Called with that failure (in the failing thread); without one, the
        failure is logged.
    """

    def __init__(
        self,
        filename: str | os.PathLike,
        infos: list,
        flush_interval: float = 1.0,
        offset_interval: float = 5.0,
        timeout: float = 5.0,
        max_chunk: int = 8192,
        fsync: bool = False,
        max_buflen: int = 360,
        pull_interval: float | None = None,
    ):
        if not infos:
            raise ValueError("LslXdfRecording needs at least one LSL stream to record")
        self.filename = filename
        self.offset_interval = float(offset_interval)
        self.max_chunk = int(max_chunk)
        if not flush_interval > 0:
            raise ValueError(f"LslXdfRecording: flush_interval must be > 0 s, got {flush_interval!r}")
        pull_interval = flush_interval if pull_interval is None else pull_interval
        if not 0 < pull_interval <= flush_interval:
            raise ValueError(
                f"LslXdfRecording: pull_interval must be > 0 s and at most flush_interval "
                f"({flush_interval:g} s), got {pull_interval!r}"
            )
        self.pull_interval = float(pull_interval)
        self.flush_interval = float(flush_interval)
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._error_lock = threading.Lock()
        self.on_error: Callable[[BaseException], None] | None = None
        opened = []
        for info in infos:
            inlet = pylsl.StreamInlet(info, max_buflen=max_buflen, recover=True)
            opened.append(inlet)
            try:
                full = inlet.info(timeout=timeout)
            except LslTimeoutError:
                raise TimeoutError(
                    f"LSL stream {describe_stream(info).summary()} was found but did not send its "
                    f"description within {timeout:g} s"
                ) from None
            opened[-1] = (inlet, full)
        self.writer = XdfWriter(filename, flush_interval=flush_interval, fsync=fsync)
        self.streams: list[_Stream] = []
        used: set[str] = set()
        for inlet, full in opened:
            d = describe_stream(full)
            key, k = d.name, 1
            while key in used:
                k += 1
                key = f"{d.name}_{k}"
            used.add(key)
            stream_id = self.writer.add_stream(full.as_xml(), d.channel_format, d.channel_count, name=d.name)
            s = _Stream(key, inlet, full, stream_id)
            if not s.is_string:
                s.puller = ChunkPuller(inlet, d.channel_count, d.channel_format)
                s.data = np.empty((self.max_chunk, d.channel_count), dtype=d.dtype)
                s.ts = np.empty(self.max_chunk, dtype=np.float64)
            self.streams.append(s)
        # markers first in each pull: their small chunks go to the disk before the big ones of the same interval
        self._pull_order = sorted(self.streams, key=lambda s: not s.is_string)
        for s in self.streams:  # subscribe now: every sample pushed from here on is recorded
            s.inlet.open_stream(timeout=timeout)
        self._offset_thread = threading.Thread(target=self._offsets, name="xdf-clock-offsets", daemon=True)
        self._thread = threading.Thread(
            target=self._record, name=f"xdf-record-{os.path.basename(filename)}", daemon=True
        )
        self._thread.start()
        self._offset_thread.start()

    # -- threads ------------------------------------------------------------------
    def _fail(self, exc: BaseException) -> None:
        with self._error_lock:
            if self.error is not None:
                return
            self.error = exc
        self._stop.set()
        if self.on_error is not None:
            self.on_error(exc)
        else:
            logger.error("recording %s failed: %s", self.filename, exc)

    def _record(self) -> None:
        """Take what every inlet holds and write it out, on fixed deadlines (and pull in between if asked).

        The writes follow :class:`~lslacq.rec.deadlines.WriteDeadlines`:
        what an inlet has received is on disk at most ``flush_interval``
        later, the cycle's own time and its wake-up's lateness included.
        """
        try:
            deadlines = WriteDeadlines(self.flush_interval)
            pulls_between = self.pull_interval < deadlines.period
            next_pull = time.monotonic() + self.pull_interval
            while True:
                write = not pulls_between or deadlines.due <= next_pull
                wake = deadlines.due if write else next_pull
                # after stop(): take what is queued, then end (stop() writes the rest and the footers)
                stopping = self._stop.wait(max(0.0, wake - time.monotonic()))
                for s in self._pull_order:
                    if not s.lost:
                        self._pull(s)
                if stopping:
                    return
                next_pull = max(wake + self.pull_interval, time.monotonic())
                if write:
                    self.writer.tick()
                    deadlines.done()
        except Exception as exc:
            self._fail(exc)

    def _pull(self, s: _Stream) -> None:
        try:
            if s.is_string:
                while True:
                    samples, times = s.inlet.pull_chunk(timeout=0.0, max_samples=self.max_chunk)
                    if times:
                        self.writer.add_samples(s.stream_id, samples, times)
                        s.n_received += len(times)
                    if len(times) < self.max_chunk:
                        return
            while True:
                n = s.puller.pull_array(s.data, s.ts)
                if n:
                    self.writer.add_samples(s.stream_id, s.data[:n], s.ts[:n])
                    s.n_received += n
                if n < self.max_chunk:
                    return
        except LostError:
            s.lost = True
            logger.warning("LSL stream %r is lost and cannot be recovered; its recording ends here", s.description.name)

    def _offsets(self) -> None:
        try:
            while True:
                for s in self.streams:
                    if self._stop.is_set():
                        return
                    try:
                        offset = s.inlet.time_correction(timeout=2.0)
                    except (LslTimeoutError, LostError):
                        continue  # the outlet is away: measured again at the next round
                    self.writer.add_clock_offset(s.stream_id, pylsl.local_clock(), offset)
                if self._stop.wait(self.offset_interval):
                    return
        except Exception as exc:
            self._fail(exc)

    # -- control ------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Return the samples received per stream (keyed by stream name)."""
        return {s.key: s.n_received for s in self.streams}

    def stop(self) -> None:
        """Stop pulling, write what was received and the StreamFooters, close the file."""
        self._stop.set()
        self._thread.join(10)
        self._offset_thread.join(10)
        try:
            self.writer.close()
        finally:
            for s in self.streams:
                s.inlet.close_stream()
