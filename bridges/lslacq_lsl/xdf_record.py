"""LslXdfRecording: record LSL streams to an XDF file as LabRecorder does, crash-safe.

One inlet per stream (no timestamp post-processing: the file holds the
timestamps as the outlets sent them, in their hosts' clocks), a pull thread
per stream, and a ClockOffset measurement (``inlet.time_correction()``) per
stream every ``offset_interval`` seconds, so ``pyxdf.load_xdf`` puts every
stream on the recording host's clock. The StreamHeader of each stream is
its full LSL info (``info.as_xml()``), as LabRecorder writes it. Data goes
through :class:`lslacq.rec.xdf_writer.XdfWriter`: whole chunks, handed to
the OS every ``flush_interval`` seconds, so a killed recording loads in
pyxdf as it is.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import numpy as np
import pylsl

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
        self.thread: threading.Thread | None = None


class LslXdfRecording:
    """Record LSL streams into a new XDF file until :meth:`stop`.

    Parameters
    ----------
    filename : str or path
        The ``.xdf`` file to create (never overwritten).
    infos : list of pylsl.StreamInfo
        The streams (e.g. from :func:`lslacq_lsl.resolve_stream`).
    flush_interval : float
        Longest time (s) data waits in memory (default 1.0).
    offset_interval : float
        Seconds between clock-offset measurements (default 5, as LabRecorder).
    timeout : float
        Seconds to wait for each stream's full info and subscription.
    max_chunk : int
        Largest chunk pulled at once, in samples.
    pull_interval : float
        Seconds between pulls of a numeric stream (each pull takes every
        queued sample; default 0.1). Data reaches the disk at most
        ``pull_interval + flush_interval`` after it was sent.
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

    def __init__(self, filename: str | os.PathLike, infos: list, flush_interval: float = 1.0,
                 offset_interval: float = 5.0, timeout: float = 5.0, max_chunk: int = 8192, fsync: bool = False,
                 max_buflen: int = 360, pull_interval: float = 0.1):
        if not infos:
            raise ValueError("LslXdfRecording needs at least one LSL stream to record")
        self.filename = filename
        self.offset_interval = float(offset_interval)
        self.max_chunk = int(max_chunk)
        if not pull_interval > 0:
            raise ValueError(f"LslXdfRecording: pull_interval must be > 0 s, got {pull_interval!r}")
        self.pull_interval = float(pull_interval)
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
                raise TimeoutError(f"LSL stream {describe_stream(info).summary()} was found but did not send its "
                                   f"description within {timeout:g} s") from None
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
            self.streams.append(_Stream(key, inlet, full, stream_id))
        for s in self.streams:  # subscribe now: every sample pushed from here on is recorded
            s.inlet.open_stream(timeout=timeout)
        self._offset_thread = threading.Thread(target=self._offsets, name="xdf-clock-offsets", daemon=True)
        for s in self.streams:
            s.thread = threading.Thread(target=self._pull, args=(s,), name=f"xdf-pull-{s.key}", daemon=True)
            s.thread.start()
        self._offset_thread.start()
        self.writer.start_flusher(on_error=self._fail)

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

    def _pull(self, s: _Stream) -> None:
        try:
            if s.is_string:
                self._pull_strings(s)
            else:
                self._pull_numeric(s)
        except Exception as exc:
            self._fail(exc)

    def _pull_numeric(self, s: _Stream) -> None:
        """Every ``pull_interval`` s, take every queued sample (LabRecorder's way: few wake-ups, big chunks)."""
        d = s.description
        puller = ChunkPuller(s.inlet, d.channel_count, d.channel_format)
        data = np.empty((self.max_chunk, d.channel_count), dtype=d.dtype)
        ts = np.empty(self.max_chunk, dtype=np.float64)
        while True:
            stopping = self._stop.is_set()  # after stop(): take what is queued, then end
            while True:
                try:
                    n = puller.pull_array(data, ts)
                except LostError:
                    logger.warning("LSL stream %r is lost and cannot be recovered; its recording ends here", d.name)
                    return
                if n:
                    self.writer.add_samples(s.stream_id, data[:n], ts[:n])
                    s.n_received += n
                if n < self.max_chunk:
                    break
            if stopping:
                return
            self._stop.wait(self.pull_interval)

    def _pull_strings(self, s: _Stream) -> None:
        while True:
            stopping = self._stop.is_set()
            try:
                samples, times = s.inlet.pull_chunk(timeout=0.0 if stopping else 0.2, max_samples=self.max_chunk)
            except LostError:
                logger.warning("LSL stream %r is lost and cannot be recovered; its recording ends here",
                               s.description.name)
                return
            if times:
                self.writer.add_samples(s.stream_id, samples, times)
                s.n_received += len(times)
            elif stopping:
                return

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
        """Samples received per stream (keyed by stream name)."""
        return {s.key: s.n_received for s in self.streams}

    def stop(self) -> None:
        """Stop pulling, write what was received and the StreamFooters, close the file."""
        self._stop.set()
        for s in self.streams:
            if s.thread is not None:
                s.thread.join(10)
        self._offset_thread.join(10)
        try:
            self.writer.close()
        finally:
            for s in self.streams:
                s.inlet.close_stream()
