"""AnalogTrigger and DigitalTrigger nodes: threshold crossings -> event stream (pyacq 5.5.1)."""

from __future__ import annotations

import numpy as np

from ..core.stream.events import EVENT_STREAM_SPEC, make_events
from ._node import DspNode, as_time_channel, check_signal_input
from .detect import DEBOUNCE_MODES, FRONTS, ThresholdDetector, extract_bit
from .params import Param

__all__ = ["AnalogTrigger", "DigitalTrigger"]

#: the trigger outputs: event records (default) or pyacq's plain int64 sample indexes
OUTPUT_FORMATS = ("records", "indexes")
INDEX_STREAM_SPEC = {"streamtype": "event", "dtype": "int64", "shape": (-1,)}

_TRIGGER_PARAMS = (
    Param("channel", 0, int, limits=(0, None), doc="channel (AnalogTrigger) or bit (DigitalTrigger) to watch"),
    Param("threshold", 0.0, float, doc="level to cross (AnalogTrigger)"),
    Param("front", "+", str, choices=FRONTS, doc="'+' upward / rising, '-' downward / falling"),
    Param("debounce_mode", "no-debounce", str, choices=DEBOUNCE_MODES),
    Param("debounce_time", 0.01, float, limits=(0.0, None), doc="seconds"),
)


class _TriggerBase(DspNode):
    _input_specs = {"signals": {}}
    _output_specs = {"events": dict(EVENT_STREAM_SPEC)}
    _batch_inputs = ("signals",)
    _param_decl = _TRIGGER_PARAMS
    _event_type = b""

    def _configure(self, output_format: str = "records", **kwargs) -> None:
        """Any online parameter may be given here too (``configure(threshold=0.5)``).

        ``output_format``: ``'records'`` (default) sends :data:`EVENT_DTYPE`
        records; ``'indexes'`` sends pyacq's plain ``int64`` sample indexes.
        """
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(
                f"{self.name}: output_format={output_format!r} is unknown; use 'records' (event "
                "records, the default) or 'indexes' (pyacq's int64 sample indexes)"
            )
        self._configure_params(kwargs)
        self.output_format = output_format
        self.output.spec.update(EVENT_STREAM_SPEC if output_format == "records" else INDEX_STREAM_SPEC)

    def _check_param(self, name, value, values):
        n_max = getattr(self, "_n_watchable", None)
        if name == "channel" and n_max is not None and value >= n_max:
            raise ValueError(
                f"{self.name}.params['channel'] = {value} does not exist; the input has "
                f"{n_max} {self._watch_unit}s (0..{n_max - 1})"
            )
        return value

    def after_input_connect(self, inputname: str) -> None:
        self.nb_channel, self._in_dtype = check_signal_input(self, "signals")
        self._n_watchable = self._count_watchable()

    def check_input_specs(self) -> None:
        if not self.input.params.get("sample_rate"):
            raise ValueError(
                f"{self.name}: the input stream has no sample_rate; it is needed to turn "
                "debounce_time into samples. Configure the source output with sample_rate=..."
            )
        self._check_param("channel", self.params["channel"], self.params.snapshot())

    def _initialize(self) -> None:
        self.sample_rate = float(self.input.params["sample_rate"])
        self.detector = ThresholdDetector()
        self.n_events = 0
        self._apply(self.params.snapshot())

    def _apply(self, p: dict) -> None:
        det = self.detector
        if getattr(self, "_channel", None) is not None and p["channel"] != self._channel:
            det.reset()  # the history belongs to the old channel
        self._channel = p["channel"]
        det.threshold = self._threshold(p)
        det.front = p["front"]
        det.debounce_mode = p["debounce_mode"]
        det.debounce = int(round(p["debounce_time"] * self.sample_rate))
        self._front = p["front"]

    def _start(self) -> None:
        self.detector.reset()
        super()._start()

    def _apply_params(self, params: dict) -> None:
        self._apply(params)

    def _process(self, input_name: str, index: int, data: np.ndarray) -> None:
        found = self.detector.process(index, self._extract(as_time_channel(data)))
        if found.size and self.output_format == "indexes":
            self.n_events += found.size
            self.output.send(np.ascontiguousarray(found, dtype=np.int64))
        elif found.size:
            front = self._front
            events = make_events(
                found,
                type=self._event_type,
                code=1 if front == "+" else -1,
                channel=self._channel,
                description=f"{self._label_prefix}{self._channel}{front}",
            )
            self.n_events += found.size
            self.output.send(events)


class AnalogTrigger(_TriggerBase):
    """Trigger on an analog signal crossing a threshold.

    A standard trigger with a threshold and a front, on one channel chosen
    among all. Every parameter can be changed online with
    ``AnalogTrigger.params['XXX'] = ...`` (``channel``, ``threshold``,
    ``front``, ``debounce_mode``, ``debounce_time``).

    The debounce mode, combined with ``debounce_time`` (seconds):

    * ``'no-debounce'``: every threshold crossing is a trigger;
    * ``'after-stable'``: when triggers follow each other too closely, the
      *last* one counts: a crossing is kept only if the signal stays beyond
      the threshold for ``debounce_time`` (reported once that time has passed);
    * ``'before-stable'``: when triggers follow each other too closely, the
      *first* one counts: a crossing is kept only if the signal was on the
      other side for ``debounce_time`` before it (reported at once).

    Output: an event stream (``streamtype='event'``, dtype
    :data:`lslacq.dsp.EVENT_DTYPE`) with, for each trigger, the absolute
    sample index of the first sample beyond the threshold, ``type=b'analog'``,
    ``code=+1`` ('+') or ``-1`` ('-'), ``channel`` and a description such as
    ``b'ch2+'``. Crossings straddling two chunks are found exactly once.

    ``configure(output_format='indexes')`` sends pyacq's output instead: a
    1-D ``int64`` array of those sample indexes per chunk (the chunk index is
    the running count of triggers, as in pyacq).
    """

    _event_type = b"analog"
    _label_prefix = "ch"
    _watch_unit = "channel"

    def _count_watchable(self) -> int:
        if self._in_dtype.kind not in "iufb":
            raise ValueError(f"{self.name}: AnalogTrigger needs a numeric stream, got dtype {self._in_dtype}")
        return self.nb_channel

    def _threshold(self, p: dict) -> float:
        return p["threshold"]

    def _extract(self, x: np.ndarray) -> np.ndarray:
        return x[:, self._channel]


class DigitalTrigger(_TriggerBase):
    """Trigger on the edges of one bit of a digital stream.

    ``params['channel']`` is the bit number, counted across the columns of the
    stream: bit ``b`` is bit ``b % nbits`` of column ``b // nbits`` with
    ``nbits = 8 * itemsize`` (for a single uint8 column, bits 0-7). ``front``
    '+' detects rising edges (0 -> 1), '-' falling edges; the debounce modes
    are those of :class:`AnalogTrigger`. The input must have an integer (or
    bool) dtype. Events have ``type=b'digital'`` and descriptions such as
    ``b'bit3+'``.
    """

    _event_type = b"digital"
    _label_prefix = "bit"
    _watch_unit = "bit"

    def _count_watchable(self) -> int:
        if self._in_dtype.kind not in "iub":
            raise ValueError(
                f"{self.name}: DigitalTrigger needs an integer stream (digital lines as bits), "
                f"got dtype {self._in_dtype}; use AnalogTrigger for analog signals"
            )
        bits = 8 if self._in_dtype.kind == "b" else 8 * self._in_dtype.itemsize
        return self.nb_channel * bits

    def _threshold(self, p: dict) -> float:
        return 0.5

    def _extract(self, x: np.ndarray) -> np.ndarray:
        return extract_bit(x, self._channel)
