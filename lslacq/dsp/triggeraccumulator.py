"""TriggerAccumulator node: stack signal epochs around trigger events (pyacq 5.5.1)."""

from __future__ import annotations

import threading

import numpy as np

from ..core.signal import Signal
from ..core.stream.events import is_event_dtype
from ._node import DspNode, as_time_channel, check_signal_input
from .epochs import EpochStacker
from .params import Param

__all__ = ["TriggerAccumulator"]


class TriggerAccumulator(DspNode):
    """Accumulate, in a ring buffer, epochs of a multichannel signal around trigger events.

    Inputs: ``'signals'`` (a (time, channel) stream) and ``'events'`` (an
    event stream of :data:`lslacq.dsp.EVENT_DTYPE`, or pyacq's plain int64
    sample indexes). The node has no output: the stack size can change online.

    ``self.stack`` has 3 dims: 0 - trigger, 1 - channel, 2 - time; it behaves
    as a ring buffer along axis 0 (the newest epoch is at
    ``(total_trig - 1) % stack_size``; :meth:`get_epochs` returns them in
    chronological order). ``total_trig`` counts triggers since the last
    :meth:`reset_stack`. ``t_vect`` holds the epoch times in seconds.

    ``new_chunk`` (a plain callback signal: ``node.new_chunk.connect(f)``) is
    emitted with ``total_trig`` after each epoch is stacked; this happens not
    on the trigger but once the signal has reached ``trigger + right_sweep``.
    Epochs that need samples not yet arrived wait for them; events that arrive
    later than the signal are served from a signal history of
    ``buffer_duration`` seconds; older ones are dropped and counted in
    ``n_dropped``.

    configure() parameters
    ----------------------
    max_stack_size : int
        Upper limit of ``params['stack_size']`` (default 1000).
    buffer_duration : float, optional
        Seconds of signal history kept for late events (default: max(2 x
        epoch length, 5 s)).
    left_sweep, right_sweep, stack_size
        Initial values of the online parameters.

    Online parameters
    -----------------
    ``params['left_sweep']`` and ``params['right_sweep']`` (seconds relative to
    the trigger, default -1 and 1) and ``params['stack_size']`` (default 1).
    Changing any of them recreates (empties) the stack.
    """

    _input_specs = {"signals": {}, "events": dict(streamtype="event")}
    _output_specs: dict = {}
    _batch_inputs = ("signals",)
    _param_decl = (
        Param("left_sweep", -1.0, float, doc="epoch start in s relative to the trigger"),
        Param("right_sweep", 1.0, float, doc="epoch end in s relative to the trigger"),
        Param("stack_size", 1, int, limits=(1, None), doc="number of epochs kept"),
    )

    def __init__(self, name: str = "", parent=None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        self.new_chunk = Signal()
        self._lock = threading.RLock()
        self._stacker: EpochStacker | None = None
        self.max_stack_size = 1000

    def _configure(self, max_stack_size: int = 1000, buffer_duration: float | None = None, **params) -> None:
        if not isinstance(max_stack_size, (int, np.integer)) or max_stack_size < 1:
            raise ValueError(f"{self.name}: max_stack_size must be an int >= 1, got {max_stack_size!r}")
        if buffer_duration is not None and not float(buffer_duration) > 0:
            raise ValueError(f"{self.name}: buffer_duration must be > 0 seconds, got {buffer_duration!r}")
        self.max_stack_size = int(max_stack_size)
        self.buffer_duration = buffer_duration
        self._configure_params(params)

    def _check_param(self, name, value, values):
        if name == "stack_size" and value > self.max_stack_size:
            raise ValueError(
                f"{self.name}.params['stack_size'] = {value} exceeds max_stack_size="
                f"{self.max_stack_size}; configure(max_stack_size=...) to allow more"
            )
        left, right = values["left_sweep"], values["right_sweep"]
        if name in ("left_sweep", "right_sweep") and not left < right:
            raise ValueError(f"{self.name}: left_sweep ({left} s) must be smaller than right_sweep ({right} s)")
        return value

    def after_input_connect(self, inputname: str) -> None:
        """Take the channel count, dtype and sample rate from ``signals``; check that ``events`` carries events."""
        if inputname == "signals":
            self.nb_channel, self._dtype = check_signal_input(self, "signals")
            self.sample_rate = self.inputs["signals"].params.get("sample_rate")
        else:
            dtype = self.inputs["events"].params.np_dtype
            if not (is_event_dtype(dtype) or dtype.kind in "iu"):
                raise ValueError(
                    f"{self.name}: input 'events' has dtype {dtype}; it must carry event records "
                    "(lslacq.dsp.EVENT_DTYPE) or integer sample indexes"
                )

    def check_input_specs(self) -> None:
        """Raise if the ``signals`` input has no sample rate (the sweeps are given in seconds)."""
        if not self.sample_rate:
            raise ValueError(
                f"{self.name}: the 'signals' input has no sample_rate, needed to convert the sweeps "
                "to samples; configure the source output with sample_rate=..."
            )

    def _initialize(self) -> None:
        p = self.params.snapshot()
        buffer_size = None if self.buffer_duration is None else int(round(self.buffer_duration * self.sample_rate))
        self._stacker = EpochStacker(
            self.nb_channel,
            self.sample_rate,
            self._dtype,
            p["left_sweep"],
            p["right_sweep"],
            p["stack_size"],
            buffer_size=buffer_size,
        )
        self.params.connect(self._recreate_on_change)

    def _recreate_on_change(self, name, value) -> None:
        self.recreate_stack()

    def recreate_stack(self) -> None:
        """Apply the current sweeps and stack size (empties the stack)."""
        p = self.params.snapshot()
        with self._lock:
            self._stacker.configure_window(p["left_sweep"], p["right_sweep"], p["stack_size"])

    def reset_stack(self) -> None:
        """Empty the stack (total_trig = 0) and forget triggers still waiting."""
        with self._lock:
            self._stacker.reset_stack()

    def _start(self) -> None:
        with self._lock:
            self._stacker.reset()
        super()._start()

    # -- pyacq attributes -------------------------------------------------------------------
    @property
    def stack(self) -> np.ndarray:
        """The ring of epochs, ``(stack_size, n_channels, size)``; slot ``stack_pos`` is written next."""
        return self._stacker.stack

    @property
    def total_trig(self) -> int:
        """Epochs stacked since the stack was last emptied (start, :meth:`reset_stack`, new sweeps)."""
        return self._stacker.total_trig

    @property
    def stack_pos(self) -> int:
        """Slot of :attr:`stack` the next epoch goes to."""
        return self._stacker.stack_pos

    @property
    def t_vect(self) -> np.ndarray:
        """Time of each epoch sample relative to its trigger, in seconds."""
        return self._stacker.t_vect

    @property
    def limit1(self) -> int:
        """First sample of an epoch, relative to its trigger (``left_sweep`` in samples)."""
        return self._stacker.limit1

    @property
    def limit2(self) -> int:
        """End of an epoch (exclusive), relative to its trigger (``right_sweep`` in samples)."""
        return self._stacker.limit2

    @property
    def size(self) -> int:
        """Samples per epoch (``limit2 - limit1``)."""
        return self._stacker.size

    @property
    def n_dropped(self) -> int:
        """Epochs dropped because their start had left the signal history."""
        return self._stacker.n_dropped

    @property
    def pending(self) -> list[int]:
        """Trigger indexes waiting for their right sweep."""
        with self._lock:
            return self._stacker.pending

    def get_epochs(self) -> np.ndarray:
        """Copy of the stacked epochs in chronological order ``(n, channel, time)``."""
        with self._lock:
            return self._stacker.epochs()

    # -- processing -------------------------------------------------------------------------------
    def _process(self, input_name: str, index: int, data) -> None:
        with self._lock:
            before = self._stacker.total_trig
            if input_name == "signals":
                self._stacker.feed(index, as_time_channel(data))
            else:
                self._stacker.add_events(data)
            after = self._stacker.total_trig
        for total in range(before + 1, after + 1):
            self.new_chunk.emit(total)
