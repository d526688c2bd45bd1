"""TimeFreqWorker: computes the Morlet scalogram of one channel on request (no Qt).

QTimeFreq runs one worker per channel, in its own process or in other
NodeGroups (``nodegroup_friends``); the worker is also usable alone, as a
processing node whose output is a stream of time-frequency maps.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from ..core.node import Node
from ..core.tools import join_thread
from ..errors import BrokenStreamError, StreamClosedError
from .morlet import MorletEngine, TimeFreqParams

__all__ = ["TimeFreqWorker"]

logger = logging.getLogger(__name__)


class TimeFreqWorker(Node):
    """Morlet scalogram of one channel of a signal stream, computed when asked.

    Input ``signal``: a ``(time, channel)`` (or 1-D) stream with a ``sample_rate``.
    pyacq requires sharedmem with ``axisorder=(1, 0)``; that is the fastest
    (the worker reads the channel straight from shared memory), but any
    stream works (the worker then keeps its own ring of the history).

    Output ``timefreq``: one frame per map, ``(plot_length, n_freqs)``
    float32 amplitudes (time on axis 0), as an ``image/video`` stream whose
    params carry ``freqs``, ``sub_sample_rate`` and ``times`` (seconds of
    each column relative to the head).

    :meth:`compute_one_map` returns at once; the map is computed in the
    worker's thread and sent on the output. A request arriving while a map is
    being computed replaces any request still waiting (counted in
    ``counters()['skipped_maps']``): a slow worker skips maps, never the data.

    configure() parameters
    ----------------------
    channel : int
        Channel of the input to analyse.
    xsize : float
        Seconds per map.
    timefreq : dict, optional
        ``f_start``, ``f_stop``, ``deltafreq``, ``f0``, ``normalisation``
        (see :class:`~lslacq.viewers.morlet.TimeFreqParams`).
    max_xsize : float
        Accepted for pyacq compatibility (the history kept follows ``xsize``).
    local : bool
        Accepted for pyacq compatibility (unused).
    fft_workers : int
        Threads per FFT.
    """

    _input_specs = {"signal": dict(streamtype="analogsignal")}
    _output_specs = {"timefreq": dict(streamtype="image/video", dtype="float32")}

    def _configure(
        self,
        channel: int = 0,
        xsize: float = 10.0,
        timefreq: dict | None = None,
        max_xsize: float = 60.0,
        local: bool = True,
        fft_workers: int = 1,
    ) -> None:
        try:
            channel = int(channel)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name}: channel={channel!r} must be an integer") from None
        if channel < 0:
            raise ValueError(f"{self.name}: channel={channel} must be >= 0")
        self.channel = channel
        self.xsize = xsize
        self.timefreq = dict(timefreq or {})
        unknown = sorted(set(self.timefreq) - set(TimeFreqParams.__dataclass_fields__))
        if unknown:
            raise ValueError(
                f"{self.name}: unknown timefreq parameters {unknown}; accepted: "
                f"{sorted(TimeFreqParams.__dataclass_fields__)}"
            )
        self.max_xsize = max_xsize
        self.local = local
        self.fft_workers = max(1, int(fft_workers))
        self.engine: MorletEngine | None = None

    def after_input_connect(self, inputname: str) -> None:
        """Check the signal (shape, channel, sample rate, dtype); make the engine and the output spec."""
        params = self.input.params
        if len(params.frame_shape) > 1:
            raise ValueError(f"{self.name}: input must be a (time, channel) or 1-D signal, got shape {params.shape}")
        if self.channel >= params.nb_channel:
            raise ValueError(
                f"{self.name}: channel={self.channel} but the input has {params.nb_channel} "
                f"channel(s); configure channel=0..{params.nb_channel - 1}"
            )
        if not params.sample_rate:
            raise ValueError(
                f"{self.name}: the input stream has no sample_rate; configure the source's output with sample_rate=..."
            )
        if np.dtype(params.np_dtype).kind not in "biuf":
            raise ValueError(f"{self.name}: input dtype {params.np_dtype} is not a real numeric type")
        self.engine = engine = MorletEngine(params.sample_rate, self.xsize, self.timefreq)
        spec = self.output.spec
        spec["shape"] = (-1,) + engine.shape
        spec["freqs"] = [float(f) for f in engine.freqs]
        spec["times"] = [float(t) for t in engine.times]
        spec["sub_sample_rate"] = float(engine.sub_sample_rate)
        spec["channel"] = self.channel

    def _initialize(self) -> None:
        engine = self.engine
        # the window, plus room for the source to keep writing while a map is being read
        slack = max(engine.window_size // 2, int(2 * self.input.params.sample_rate))
        one_d = not self.input.params.frame_shape
        self.input.set_buffer(size=engine.window_size + slack, double=True, axisorder=None if one_d else (1, 0))
        self._column = () if one_d else (slice(None), self.channel)
        # reading the sender's shared ring (written by another process) or our own copy (written by recv)
        self._own_buffer = self.input.buffer is not getattr(self.input.receiver, "ring", None)
        self._buffer_lock = threading.Lock()
        self._request = threading.Condition()
        self._pending: int | None = None  # head asked for, not yet computed (-1: latest)
        self._stop_event = threading.Event()
        self._threads: list[threading.Thread] = []
        self.head = 0
        self.n_maps = 0
        self.skipped_maps = 0
        self.compute_time = 0.0  # seconds spent in the last map
        self.last_map_head: int | None = None

    # -- control ---------------------------------------------------------------------------
    def compute_one_map(self, head: int | None = None) -> None:
        """Ask for the map ending at sample ``head`` (None: the latest sample received); returns at once."""
        if not self.running():
            return
        with self._request:
            if self._pending is not None:
                self.skipped_maps += 1
            self._pending = -1 if head is None else int(head)
            self._request.notify()

    def _start(self) -> None:
        self._stop_event.clear()
        self._pending = None
        if not self._own_buffer:  # the shared ring already holds the history: usable at once
            self.head = self.input.buffer.index()
        self._threads = [
            threading.Thread(
                target=self._guard, args=(self._read_loop, "reading its input"), name=f"{self.name}-read", daemon=True
            ),
            threading.Thread(
                target=self._guard,
                args=(self._compute_loop, "computing a map"),
                name=f"{self.name}-compute",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()

    def _stop(self) -> None:
        self._stop_event.set()
        with self._request:
            self._request.notify_all()
        for thread in self._threads:
            join_thread(thread, 10, f"{self.name}: thread {thread.name}", logger)
        self._threads = []

    def counters(self) -> dict:
        """Return the Node counters plus ``maps`` sent, ``skipped_maps``, ``compute_time`` and ``error``.

        ``compute_time`` is in seconds, for the last map; ``error`` is the failure's text, or None (what a
        viewer in another process can read).
        """
        base = getattr(super(), "counters", None)
        out = dict(base()) if base is not None else {}
        error = getattr(self, "error", None)
        out.update(
            maps=getattr(self, "n_maps", 0),
            skipped_maps=getattr(self, "skipped_maps", 0),
            compute_time=getattr(self, "compute_time", 0.0),
            error=None if error is None else f"{type(error).__name__}: {error}",
        )
        return out

    # -- threads ------------------------------------------------------------------------------
    def _guard(self, loop, what: str) -> None:
        try:
            loop()
        except StreamClosedError as exc:
            if not self._stop_event.is_set():
                logger.info("%s: %s", self.name, exc)
        except Exception as exc:
            report = getattr(self, "_report_error", None)
            if report is not None:
                report(exc, context=what)
            else:  # pragma: no cover - before the Node contract lands
                logger.exception("%s failed while %s", self.name, what)
            self._stop_event.set()

    def _read_loop(self) -> None:
        stream = self.input
        while not self._stop_event.is_set():
            if not stream.poll(timeout=100):
                continue
            with self._buffer_lock:
                try:
                    index, _ = stream.recv()
                except BrokenStreamError:
                    continue  # logged and counted by the stream
            self.head = int(index)

    def _compute_loop(self) -> None:
        while True:
            with self._request:
                while self._pending is None and not self._stop_event.is_set():
                    self._request.wait(0.5)
                if self._stop_event.is_set():
                    return
                head, self._pending = self._pending, None
            t0 = time.perf_counter()
            wt_map = self._compute(self.head if head < 0 else min(head, self.head))
            self.compute_time = time.perf_counter() - t0
            self.n_maps += 1
            self.output.send(wt_map[np.newaxis], index=self.n_maps)

    def _compute(self, head: int) -> np.ndarray:
        engine = self.engine
        head = engine.align_head(head)
        self.last_map_head = head
        window = self._read_window(head - engine.window_size, head)
        return np.ascontiguousarray(engine.compute(window, workers=self.fft_workers))

    def _read_window(self, start: int, stop: int) -> np.ndarray:
        """Return samples [start, stop) of the channel (zeros where not available)."""
        out = np.zeros(stop - start, dtype=np.float32)
        buffer = self.input.buffer
        with self._buffer_lock:
            for _ in range(3):
                first = max(start, buffer.first_index())
                stop_ = min(stop, buffer.index())
                if stop_ <= first:
                    return out
                try:
                    out[first - start : stop_ - start] = buffer.get_data(first, stop_)[self._column]
                except IndexError:  # a shared ring's writer moved past `first` while we looked: look again
                    continue
                if not self._own_buffer:  # a shared ring written by another process: did it overwrite our read?
                    overwritten = buffer.first_index() - first
                    if overwritten > 0:
                        out[first - start : first - start + overwritten] = 0
                return out
        return out

    def _close(self) -> None:
        self.engine = None
