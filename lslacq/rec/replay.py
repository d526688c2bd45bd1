"""FileReplay: play a recorded file into a graph in real time (or faster), with its annotations as events."""

from __future__ import annotations

import logging
import os
import threading

import numpy as np

from ..core.node import Node
from ..core.pacing import PacedLoop, check_speed
from ..core.signal import Signal
from ..core.stream.events import EVENT_DTYPE, EVENT_STREAM_SPEC
from .sources import ReplaySource, open_source

__all__ = ["FileReplay"]

logger = logging.getLogger(__name__)


class FileReplay(Node):
    """Play a recording as if it came from a device: ``signals`` output, annotations on ``events``.

    Plays any file MNE-Python reads (FIF, EDF/BDF, BrainVision ``.vhdr``,
    EEGLAB ``.set``...) and lslacq/pyacq RawRecorder directories. Samples
    are sent in chunks on an absolute schedule (no drift), ``speed`` times
    real time. The ``events`` output (optional: configure it to use it)
    carries the file's annotations (MNE) or the recording's event streams as
    :data:`~lslacq.core.stream.events.EVENT_DTYPE` records whose ``index`` is the
    sample of ``signals`` they belong to; each is sent right after the chunk
    holding its sample.

    configure() parameters
    ----------------------
    filename : str or path
        The file, or the recording directory.
    speed : float or 'max'
        Playback speed (1.0: real time; 4.0: four times faster). The
        ``sample_rate`` of the outputs stays the file's. ``'max'``: as fast
        as the graph downstream takes the data, losslessly (the outputs wait
        for their readers instead of a clock; indexes and event positions
        are those of real time): the offline evaluation of a pipeline.
    n_repeat : int or None
        How many times the segment is played (None: forever). Sample
        indexes keep increasing across repeats.
    start, stop : float
        Segment to play, in seconds from the start of the file (stop
        None: to the end).
    chunksize : int
        Samples per chunk (default: 10 ms of data).
    stream : str
        For a recording with several signal streams: which one.
    dtype : numpy dtype
        Sample type of ``signals`` (default float64 for MNE files, the
        recorded dtype for recordings).
    microvolts : bool
        MNE files: send voltage channels in µV (``channel_units``
        ``'microvolts'``, as lslacq's EEG devices do) rather than in volts.

    Attributes
    ----------
    finished : Signal
        Emitted when the last repeat has been sent.
    n_sent : int
        Samples sent since start.
    """

    live_source = True  # real time by default (speed="max" is not live: set in _configure)

    _output_specs = {"signals": {"streamtype": "analogsignal"}, "events": dict(EVENT_STREAM_SPEC, optional=True)}

    def __init__(self, name: str = "", parent=None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        self.finished = Signal()
        self.n_sent = 0
        self.source: ReplaySource | None = None
        self._loop: PacedLoop | None = None
        self._done = threading.Event()

    def _configure(
        self,
        filename: str | os.PathLike | None = None,
        speed: float = 1.0,
        n_repeat: int | None = 1,
        start: float = 0.0,
        stop: float | None = None,
        chunksize: int | None = None,
        stream: str | None = None,
        dtype=None,
        microvolts: bool = True,
    ) -> None:
        if filename is None:
            raise ValueError(
                f"{self.name}: configure() needs filename=..., the file (or recording directory) to replay"
            )
        speed = check_speed(self.name, speed)
        if n_repeat is not None and (not isinstance(n_repeat, (int, np.integer)) or n_repeat < 1):
            raise ValueError(
                f"{self.name}: n_repeat must be an integer >= 1, or None to loop forever; got {n_repeat!r}"
            )
        source = open_source(filename, stream=stream, dtype=dtype, microvolts=microvolts)
        try:
            rate = source.sample_rate
            first = int(round(float(start) * rate))
            last = source.n_samples if stop is None else int(round(float(stop) * rate))
            if not 0 <= first < source.n_samples:
                raise ValueError(
                    f"{self.name}: start={start!r} s is outside {source.description}, which lasts "
                    f"{source.n_samples / rate:.3f} s"
                )
            if not first < last <= source.n_samples:
                raise ValueError(
                    f"{self.name}: stop={stop!r} s must be after start={start!r} s and at most the "
                    f"file's length, {source.n_samples / rate:.3f} s"
                )
            chunksize = int(chunksize) if chunksize is not None else max(1, int(round(rate * 0.01)))
            if chunksize < 1:
                raise ValueError(f"{self.name}: chunksize must be >= 1 sample, got {chunksize}")
        except BaseException:
            source.close()
            raise
        if self.source is not None:
            self.source.close()
        self.source = source
        self.filename = filename
        self.speed = speed
        self.live_source = speed != "max"  # as fast as possible: the sends wait for the readers (lossless)
        self.n_repeat = None if n_repeat is None else int(n_repeat)
        self.chunksize = chunksize
        self.segment = (first, last)
        self.sample_rate = rate
        spec = self.outputs["signals"].spec
        n_ch = len(source.channel_names)
        spec.update(
            shape=(-1, n_ch),
            dtype=source.dtype.str,
            sample_rate=rate,
            channel_names=list(source.channel_names),
            channel_units=list(source.channel_units),
            channel_types=list(source.channel_types),
        )
        if len(set(source.channel_units)) == 1 and source.channel_units[0]:
            spec["units"] = source.channel_units[0]
        self.outputs["events"].spec["sample_rate"] = rate
        cut = [
            label for label in source.events.labels if len(label.encode("ascii", "replace")) > 32 or not label.isascii()
        ]
        if cut:
            logger.warning(
                "%s: %d event label(s) of %s are not ASCII or longer than 32 bytes, which event records "
                "cannot hold: they are sent cut/with '?' (e.g. %r)",
                self.name,
                len(cut),
                source.description,
                cut[0],
            )
        logger.info(
            "%s: replaying %s: %d channels at %g Hz, samples %d..%d, %d events, speed %s, n_repeat %s",
            self.name,
            source.description,
            n_ch,
            rate,
            first,
            last,
            len(source.events.samples),
            speed,
            n_repeat,
        )

    # -- lifecycle -------------------------------------------------------------
    def _start(self) -> None:
        self._pos = self.segment[0]
        self._block: tuple[int, np.ndarray | None] = (0, None)
        self._repeat = 0
        self.n_sent = 0
        self._done.clear()
        for out in self.outputs.values():
            if out.configured:
                out.reset_buffer_index()
        period = 0.0 if self.speed == "max" else self.chunksize / (self.sample_rate * self.speed)
        self._loop = PacedLoop(self._step, period, name=f"{self.name}-replay", max_catch_up=1.0)
        self._loop.failed.connect(lambda exc: self._report_error(exc, context=f"replaying {self.source.description}"))
        self._loop.start()

    def _stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()
            self._loop = None

    def _close(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Wait until every repeat has been sent; return True if it has."""
        return self._done.wait(timeout)

    # -- the paced step -------------------------------------------------------------
    def _read(self, pos: int, end: int) -> np.ndarray:
        """Return samples [pos, end) of the file, read ahead in blocks of about a second.

        A read from MNE costs about 0.3 ms however small it is: per 10 ms
        chunk, that would cap a replay at 30x real time.
        """
        block_start, block = self._block
        if block is None or not (block_start <= pos and end <= block_start + len(block)):
            stop = max(end, min(pos + max(self.chunksize, int(self.sample_rate)), self.segment[1]))
            block_start, block = pos, self.source.read(pos, stop)
            self._block = (block_start, block)
        return block[pos - block_start : end - block_start]

    def _step(self) -> None:
        """Send one chunk; a chunk continues into the next repeat, so looping keeps the exact rate."""
        if self._done.is_set():
            return
        first, last = self.segment
        pieces, records = [], []
        ev = self.source.events
        want = self.chunksize
        finished = False
        while want > 0:
            pos = self._pos
            end = min(pos + want, last)
            pieces.append(self._read(pos, end))
            shift = self.n_sent + sum(len(p) for p in pieces[:-1]) - pos  # source sample -> output index
            lo, hi = np.searchsorted(ev.samples, [pos, end], side="left")
            if hi > lo:
                records.append(self._records(ev, lo, hi, shift))
            want -= end - pos
            self._pos = end
            if end >= last:
                self._repeat += 1
                if self.n_repeat is not None and self._repeat >= self.n_repeat:
                    finished = True
                    break
                self._pos = first
        data = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        self.n_sent += len(data)
        self.outputs["signals"].send(data, index=self.n_sent)
        events_out = self.outputs["events"]
        if records and events_out.configured:
            events_out.send(records[0] if len(records) == 1 else np.concatenate(records))
        if finished:
            self._done.set()
            self._loop.stop()  # from the loop thread: ends the loop after this step, without joining
            logger.info("%s: replay finished (%d samples sent)", self.name, self.n_sent)
            self.finished.emit()

    @staticmethod
    def _records(ev, lo: int, hi: int, shift: int) -> np.ndarray:
        records = np.zeros(hi - lo, dtype=EVENT_DTYPE)
        records["index"] = ev.samples[lo:hi] + shift
        records["duration"] = ev.durations[lo:hi]
        records["channel"] = -1
        records["code"] = ev.codes[lo:hi]
        records["type"] = [t.encode("ascii", "replace")[:16] for t in ev.types[lo:hi]]
        records["description"] = [d.encode("ascii", "replace")[:32] for d in ev.labels[lo:hi]]
        return records
