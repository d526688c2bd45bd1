"""Epocher node: epochs of a signal around the markers of an event stream (as mne.Epochs cuts them)."""

from __future__ import annotations

import collections
import threading
from typing import Any

import numpy as np

from ..core.configargs import Arg
from ..core.processing import ProcessingNode, as_time_channel, check_signal_input
from ..core.signal import Signal
from ..core.stream import InputStream
from ..core.stream.events import EVENT_DTYPE, EVENT_STREAM_SPEC, is_event_dtype
from .engine import EpochingEngine, check_event_id

__all__ = ["Epocher"]


class Epocher(ProcessingNode):
    """Cut epochs around marker events; send them as ``(n_epochs, n_channels, n_times)`` chunks.

    Inputs
    ------
    signals
        A (time, channel) signal stream with a ``sample_rate``.
    events
        An event stream of :data:`~lslacq.core.stream.events.EVENT_DTYPE`
        records whose ``index`` is a sample of ``signals``: triggers
        (AnalogTrigger...), device markers (SimulatedEEG's ``events``,
        BrainAmp's ``triggers``), or an :class:`~lslacq_lsl.LslInlet` of a
        marker stream given ``reference=`` the signal's inlet.
    signal_timestamps, event_timestamps
        Only with ``configure(timestamps=True)``: markers of a separate LSL
        stream are then placed through the two streams' LSL timestamps.
        Connect ``signal_timestamps`` to the signal LslInlet's ``timestamps``
        output and ``event_timestamps`` to the marker LslInlet's; ``events``
        to the marker inlet's ``signals``. Each marker goes to the signal
        sample whose timestamp is nearest (liblsl's ``clocksync``, on by
        default in LslInlet, puts both on this host's clock). This works
        across processes, unlike the inlet's ``reference``.

    Outputs (both optional: in-process scripts can use :meth:`get_data`)
    -------------------------------------------------------------------
    epochs
        float chunks ``(n_epochs, n_channels, n_times)``; the chunk index is
        the running epoch count. Spec keys: ``sample_rate``, ``tmin``,
        ``tmax``, ``times``, ``channel_names`` (picked), ``event_id``.
    labels
        One EVENT_DTYPE record per epoch, sent just before it with the same
        index: ``index`` the trigger's sample in ``signals``, ``description``
        its label (a key of ``event_id``), ``code`` the label's position in
        ``event_id``, ``type`` the marker's type.

    configure() parameters
    ----------------------
    event_id : dict or list of str
        ``{label: marker}``: a str marker matches an event's ``description``
        (``{'target': 'target', 'left': 'S  1'}``), an int marker its
        ``code``. A list of str means ``{s: s}``. Other events are ignored
        (counted in :attr:`n_ignored`).
    tmin, tmax : float
        Seconds around the event; the epoch holds samples
        ``round(tmin*fs)..round(tmax*fs)``, both included, as mne.Epochs.
    baseline : (a, b) or None
        MNE's baseline correction, e.g. ``(None, 0)``.
    reject : float or None
        Peak-to-peak threshold in the signal's units; epochs above it on any
        picked channel are not sent (counted in :attr:`n_rejected`).
    picks : list of int or str, optional
        Channels kept (indexes or names from the signal's ``channel_names``).
    max_epochs : int
        Epochs kept for :meth:`get_data` (default 100).
    buffer_duration : float, optional
        Seconds of signal kept for markers arriving after their signal
        (default: max(2 epoch lengths, 5 s)); older markers are dropped
        (counted in :attr:`n_dropped`).
    dtype : str, optional
        dtype of the epochs (default: float32, float64 for a float64 signal).
    timestamps : bool
        Place the markers through LSL timestamps (adds the two inputs above).

    Attributes
    ----------
    n_epochs, n_rejected, n_dropped, n_ignored : int
    times : ndarray
        Epoch times in seconds.
    new_epochs : Signal
        Emitted with the epoch count after each batch of epochs (node thread).
    """

    _input_specs = {"signals": {}, "events": {"streamtype": "event"}}
    _output_specs = {
        "epochs": {"streamtype": "analogsignal", "optional": True},
        "labels": dict(EVENT_STREAM_SPEC, optional=True),
    }
    _dynamic_streams = True
    _batch_inputs = ("signals", "signal_timestamps")
    #: catch-up merging also stops at this many bytes of signal: merged big chunks cost more than they save
    #: (384 ch x 300-sample chunks: 13 cut 1.6x slower merged) and hold every epoch of the batch back to its end
    batch_max_bytes: int = 2**18

    configure_args = {
        "event_id": Arg((dict, list), doc="{label: description str or code int}"),
        "tmin": Arg(float, doc="seconds"),
        "tmax": Arg(float, doc="seconds, included"),
        "baseline": Arg((tuple, list), none=True, doc="(a, b) seconds, None for the epoch's first/last time"),
        "reject": Arg(float, gt=0, none=True, doc="peak-to-peak threshold in the signal's units"),
        "picks": Arg((list, tuple), none=True, doc="channel indexes or names"),
        "max_epochs": Arg(int, ge=1, doc="epochs kept for get_data()"),
        "buffer_duration": Arg(float, gt=0, none=True, doc="seconds of signal kept for late markers"),
        "dtype": Arg(str, none=True, choices=("float32", "float64")),
        "timestamps": Arg(bool, doc="place markers by LSL timestamps"),
    }

    def __init__(self, name: str = "", parent: Any = None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        self.new_epochs = Signal()
        self._lock = threading.RLock()
        self.engine: EpochingEngine | None = None
        self._store: collections.deque = collections.deque(maxlen=100)
        self._count = 0

    def _configure(
        self,
        event_id=None,
        tmin: float = -0.2,
        tmax: float = 0.5,
        baseline=None,
        reject=None,
        picks=None,
        max_epochs: int = 100,
        buffer_duration: float | None = None,
        dtype: str | None = None,
        timestamps: bool = False,
    ) -> None:
        if event_id is None:
            raise ValueError(
                f"{self.name}: configure() needs event_id={{label: marker}}, e.g. "
                "{'target': 'target', 'nontarget': 'nontarget'} (str: the event's description, "
                "int: its code)"
            )
        self.event_id = check_event_id(event_id, self.name)
        if tmin > tmax:
            raise ValueError(f"{self.name}: tmin ({tmin} s) must be less than or equal to tmax ({tmax} s)")
        if baseline is not None:  # the form now; the times against the epoch once the rate is known
            baseline = tuple(baseline)
            if len(baseline) != 2:
                raise ValueError(
                    f"{self.name}: baseline={baseline!r} must have exactly two elements (a, b), e.g. (None, 0)"
                )
            if baseline == (None, 0) and tmin == 0:
                raise ValueError(
                    f"{self.name}: baseline=(None, 0) with tmin=0 is a one-sample baseline; use "
                    "baseline=(0, 0) if this is desired (MNE's rule)"
                )
            a, b = baseline
            if a is not None and b is not None and a > b:
                raise ValueError(f"{self.name}: baseline min ({a}) must be less than baseline max ({b})")
        self.tmin, self.tmax, self.baseline, self.reject = float(tmin), float(tmax), baseline, reject
        self.picks = None if picks is None else list(picks)
        self.max_epochs = int(max_epochs)
        self.buffer_duration = buffer_duration
        self.dtype = dtype
        self.timestamps = bool(timestamps)
        self._store = collections.deque(maxlen=self.max_epochs)
        if self.timestamps:
            for key in ("signal_timestamps", "event_timestamps"):
                if key not in self.inputs:
                    self.inputs[key] = InputStream(spec={}, node=self, name=key)
        else:
            for key in ("signal_timestamps", "event_timestamps"):
                self.inputs.pop(key, None)

    def after_input_connect(self, inputname: str) -> None:
        """Check the connected stream's dtype; the ``signals`` input also sets up the engine and output specs.

        ``signals`` must be numeric, ``events`` event records, the timestamp inputs float64 LSL times.
        """
        if inputname == "signals":
            self.nb_channel, self._in_dtype = check_signal_input(self, "signals")
            if self._in_dtype.kind not in "iuf":
                raise ValueError(f"{self.name}: input 'signals' has dtype {self._in_dtype}; a numeric signal is needed")
            params = self.inputs["signals"].params
            self.sample_rate = params.get("sample_rate")
            if self.sample_rate:
                self._make_engine()  # the output specs are known once the signal is connected
        elif inputname == "events":
            dtype = self.inputs["events"].params.np_dtype
            if not is_event_dtype(dtype) or "index" not in (dtype.names or ()):
                raise ValueError(
                    f"{self.name}: input 'events' has dtype {dtype}; it must carry event records "
                    "(lslacq.core.stream.events.EVENT_DTYPE)"
                )
        else:
            dtype = self.inputs[inputname].params.np_dtype
            if dtype.kind != "f":
                raise ValueError(
                    f"{self.name}: input {inputname!r} has dtype {dtype}; connect it to an LslInlet's "
                    "'timestamps' output (float64 LSL times)"
                )

    def _make_engine(self) -> None:
        params = self.inputs["signals"].params
        dtype = self.dtype or ("float64" if self._in_dtype == np.float64 else "float32")
        buffer_size = None if self.buffer_duration is None else int(round(self.buffer_duration * self.sample_rate))
        names = params.get("channel_names") or None
        if names is not None and len(names) != self.nb_channel:
            names = None
        scale, offset = params.get("scale"), params.get("offset")
        if self._in_dtype.kind == "f" and scale in (None, 1, 1.0) and offset in (None, 0, 0.0):
            scale = offset = None
        self.engine = EpochingEngine(
            self.nb_channel,
            float(self.sample_rate),
            self.event_id,
            self.tmin,
            self.tmax,
            self.baseline,
            self.reject,
            self.picks,
            names,
            dtype,
            buffer_size,
            scale=scale,
            offset=offset,
            owner=self.name,
        )
        eng = self.engine
        spec = self.outputs["epochs"].spec
        spec.update(
            dtype=eng.dtype.str,
            shape=(-1, eng.n_picks, eng.n_times),
            sample_rate=eng.sample_rate,
            tmin=eng.times[0],
            tmax=eng.times[-1],
            times=eng.times.tolist(),
            event_id=dict(eng.event_id),
            labels=list(eng.labels),
        )
        if eng.pick_names is not None:
            spec["channel_names"] = eng.pick_names
        if params.get("units"):
            spec["units"] = params.get("units")
        lab = self.outputs["labels"].spec
        lab.update(sample_rate=eng.sample_rate, event_id=dict(eng.event_id), labels=list(eng.labels))

    def check_input_specs(self) -> None:
        """Raise if the ``signals`` input has no sample rate (``tmin``/``tmax`` are in seconds)."""
        if not self.sample_rate:
            raise ValueError(
                f"{self.name}: the 'signals' input has no sample_rate, needed to turn tmin/tmax into "
                "samples; configure the source output with sample_rate=..."
            )
        if self.engine is None:
            self._make_engine()

    def _initialize(self) -> None:
        self._count = 0

    def _start(self) -> None:
        with self._lock:
            self.engine.reset()
            # the signal history allocated and faulted in now, not by the first chunk (a stall of the
            # first epochs: over a second for 384 channels x 2 s at 30 kHz on a busy VM)
            self.engine.prepare(self._in_dtype)
        cap = type(self).batch_max_samples
        if cap:  # catch-up merging of small chunks only (see batch_max_bytes)
            per_sample = self.nb_channel * self._in_dtype.itemsize
            self.batch_max_samples = max(1, min(cap, self.batch_max_bytes // per_sample))
        super()._start()

    # -- in process ---------------------------------------------------------------------------
    @property
    def times(self) -> np.ndarray:
        """Epoch times in seconds, relative to the marker (``tmin`` to ``tmax``)."""
        return self.engine.times

    @property
    def n_epochs(self) -> int:
        """Epochs cut since the start."""
        return self.engine.n_epochs if self.engine else 0

    @property
    def n_rejected(self) -> int:
        """Epochs rejected by ``reject``."""
        return self.engine.n_rejected if self.engine else 0

    @property
    def n_dropped(self) -> int:
        """Epochs dropped because their window was not (or no longer) in the signal."""
        return self.engine.n_dropped if self.engine else 0

    @property
    def n_ignored(self) -> int:
        """Events matching no label of ``event_id``."""
        return self.engine.n_ignored if self.engine else 0

    def get_data(self, n_epochs: int | None = None) -> np.ndarray:
        """Return the last epochs kept, oldest first.

        Parameters
        ----------
        n_epochs : int, optional
            How many (default: all of them, at most ``max_epochs``).

        Returns
        -------
        ndarray, shape (n, n_channels, n_times)
        """
        with self._lock:
            items = list(self._store)
        if n_epochs is not None:
            if isinstance(n_epochs, bool) or not isinstance(n_epochs, (int, np.integer)) or n_epochs < 0:
                raise ValueError(f"{self.name}.get_data: n_epochs={n_epochs!r} must be None or an int >= 0")
            items = items[len(items) - min(int(n_epochs), len(items)) :]
        if not items:
            eng = self.engine
            return np.zeros((0, eng.n_picks, eng.n_times), dtype=eng.dtype)
        return np.stack([d for d, _ in items])

    @property
    def events(self) -> np.ndarray:
        """The labels records of the epochs :meth:`get_data` returns (oldest first)."""
        with self._lock:
            items = list(self._store)
        return np.array([lab for _, lab in items], dtype=EVENT_DTYPE)

    def counters(self) -> dict:
        """Return the node counters plus ``n_epochs``, ``n_rejected`` and ``n_dropped``."""
        counters = super().counters()
        counters.update(n_epochs=self.n_epochs, n_rejected=self.n_rejected, n_dropped=self.n_dropped)
        return counters

    # -- processing -------------------------------------------------------------------------------
    def _process(self, input_name: str, index: int, data) -> None:
        eng = self.engine
        if input_name == "signals":
            # the epochs this chunk completes first (sent at once), then the rest of the chunk's work
            with self._lock:
                epochs, labels = eng.feed_first(index, as_time_channel(data))
            self._send(epochs, labels)
            with self._lock:
                epochs, labels = eng.finish()
            self._send(epochs, labels)
            return
        with self._lock:
            if input_name == "events":
                if self.timestamps:
                    epochs, labels = eng.add_marker_chunk("events", index, data)
                else:
                    epochs, labels = eng.add_events(data)
            elif input_name == "signal_timestamps":
                epochs, labels = eng.feed_timestamps(index, data)
            else:
                epochs, labels = eng.add_marker_chunk("times", index, data)
        self._send(epochs, labels)

    def _send(self, epochs: np.ndarray, labels: np.ndarray) -> None:
        if not len(labels):
            return
        with self._lock:
            for d, lab in zip(epochs, labels, strict=True):
                self._store.append((d, lab))
            self._count += len(labels)
            count = self._count
            if self.outputs["labels"].configured:
                self.outputs["labels"].send(labels, index=count)
            if self.outputs["epochs"].configured:
                self.outputs["epochs"].send(np.ascontiguousarray(epochs), index=count)
        self.new_epochs.emit(count)
