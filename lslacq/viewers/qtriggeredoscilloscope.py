"""QTriggeredOscilloscope: sweeps of a signal stacked on a trigger (pyacq example 6.6)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..dsp.trigger import AnalogTrigger, DigitalTrigger
from ..dsp.triggeraccumulator import TriggerAccumulator
from ._qt import QtCore, QtWidgets, pg
from .params import ByChannelParams, ParamDialog, ParamGroup, make_group
from .qoscilloscope import ScopeViewBox, trace_color
from .scopeaxes import ChannelGutter, ScaleBarAxis, nice_ceil, nice_floor, unit_label
from .widgetnode import WidgetNode

__all__ = ["QTriggeredOscilloscope"]

logger = logging.getLogger(__name__)

TRIGGERED_PARAMS = [
    {"name": "ylim_max", "type": "float", "value": 10.0},
    {"name": "ylim_min", "type": "float", "value": -10.0},
    {"name": "background_color", "type": "color", "value": "k"},
    {"name": "refresh_interval", "type": "int", "value": 100, "limits": [5, 1000], "suffix": "ms"},
    {"name": "show_mean", "type": "bool", "value": True},
    {"name": "sweep_alpha", "type": "int", "value": 90, "limits": [10, 255]},
    {"name": "display_labels", "type": "bool", "value": True},
    {"name": "show_bottom_axis", "type": "bool", "value": True},
    {"name": "show_left_axis", "type": "bool", "value": False},
    {"name": "show_scale_bar", "type": "bool", "value": True},
]

_SCALING = ("ylim_min", "ylim_max", "gain", "offset")  # set by the user: no automatic scaling
_REFINE_SWEEPS = 5  # the automatic scaling is refined once when this many sweeps are stacked

TRIGGERED_CHANNEL_PARAMS = [
    {"name": "gain", "type": "float", "value": 1.0, "step": 0.1},
    {"name": "offset", "type": "float", "value": 0.0, "step": 0.1},
    {"name": "visible", "type": "bool", "value": True},
    {"name": "color", "type": "color", "value": "#7FFF00"},
]


class QTriggeredOscilloscope(WidgetNode):
    """Oscilloscope of the sweeps of a signal around trigger events, stacked and aligned on the trigger.

    Two sub-nodes, created at ``initialize()`` and run with the viewer, do
    the work: :attr:`trigger` (an :class:`~lslacq.dsp.AnalogTrigger`, or a
    :class:`~lslacq.dsp.DigitalTrigger` with ``configure(trigger_type='digital')``)
    finds the events on the input, and :attr:`triggeraccumulator` (a
    :class:`~lslacq.dsp.TriggerAccumulator`) stacks the sweeps. Their
    ``params`` are the knobs: ``viewer.trigger.params['threshold'] = 1.``,
    ``viewer.triggeraccumulator.params['stack_size'] = 3``,
    ``['left_sweep']``/``['right_sweep']`` (seconds).

    The last ``stack_size`` sweeps are drawn semi-transparent in the
    channel's colour, their mean as a thicker, lighter line (``params['show_mean']``),
    and a dashed line marks the trigger (t = 0).

    configure() parameters
    ----------------------
    with_user_dialog : bool
        Double-click opens the parameter dialog (default True).
    trigger_type : {'analog', 'digital'}
        The kind of :attr:`trigger` (default 'analog').
    max_stack_size : int
        Upper limit of ``triggeraccumulator.params['stack_size']`` (default 100).

    Online parameters
    -----------------
    ``params``: ``ylim_min``, ``ylim_max``, ``background_color``,
    ``refresh_interval`` (ms), ``show_mean``, ``sweep_alpha`` (opacity of the
    single sweeps, 10-255), ``display_labels`` (the names in a gutter left of
    the plot), ``show_bottom_axis`` (the time axis, 0 at the trigger),
    ``show_left_axis`` (numeric, where the names are off), ``show_scale_bar``
    (an amplitude bar in the stream's units); ``by_channel_params[channel,
    key]`` with key ``gain``, ``offset``, ``visible``, ``color``.

    Scaling: on the first sweep the visible channels are laid out in bands of
    their own (offset removed, one gain from the sweeps' 1st-99th percentile
    range, centred on its middle), refined once at ``_REFINE_SWEEPS`` sweeps if off by more than
    1.5x, unless a ``gain``, ``offset``, ``ylim_min`` or ``ylim_max`` was set
    by the user; :meth:`auto_scale` does it again on demand.
    """

    _input_specs = {"signals": {}}
    _default_params = TRIGGERED_PARAMS
    _default_by_channel_params = TRIGGERED_CHANNEL_PARAMS

    def __init__(self, name: str = "", parent: Any = None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.graphicsview = pg.GraphicsView()
        layout.addWidget(self.graphicsview)
        self.viewBox = ScopeViewBox()
        self.gutter = ChannelGutter()
        self.scale_bar = ScaleBarAxis()
        self.plot = pg.PlotItem(viewBox=self.viewBox, axisItems={"left": self.gutter, "right": self.scale_bar})
        self.plot.hideButtons()
        self.plot.showAxis("left", False)
        self.plot.getAxis("bottom").setLabel("time from trigger", units="s")
        self.graphicsview.setCentralItem(self.plot)
        bar = QtWidgets.QHBoxLayout()
        layout.addLayout(bar)
        self.but_startstop = QtWidgets.QPushButton("Start/Stop")
        self.but_startstop.setCheckable(True)
        self.but_startstop.setChecked(True)
        self.but_startstop.toggled.connect(self.start_or_stop_trigger)
        bar.addWidget(self.but_startstop)
        reset = QtWidgets.QPushButton("Reset")
        reset.clicked.connect(self.reset_stack)
        bar.addWidget(reset)
        self.label_count = QtWidgets.QLabel("Nb events: 0")
        bar.addWidget(self.label_count)
        bar.addStretch()
        self.params_controller = None
        self.trigger = None
        self.triggeraccumulator = None
        QtWidgets.QWidget.resize(self, 700, 450)  # offscreen and in layouts; a window on a screen: window_size

    # -- lifecycle ---------------------------------------------------------------------------------
    def _configure(
        self, with_user_dialog: bool = True, trigger_type: str = "analog", max_stack_size: int = 100
    ) -> None:
        if trigger_type not in ("analog", "digital"):
            raise ValueError(f"{self.name}: trigger_type={trigger_type!r}; use 'analog' or 'digital'")
        self.with_user_dialog = bool(with_user_dialog)
        self.trigger_type = trigger_type
        self.max_stack_size = int(max_stack_size)

    def after_input_connect(self, inputname: str) -> None:
        """Check that the signal is a (time, channel) or 1-D stream."""
        params = self.input.params
        if len(params.frame_shape) > 1:
            raise ValueError(
                f"{self.name}: input 'signals' has shape {tuple(params.shape)}; a (time, channel) stream is required"
            )

    def check_input_specs(self) -> None:
        """Raise if the signal has no sample rate (the sweeps are in seconds)."""
        if not self.input.params.get("sample_rate"):
            raise ValueError(
                f"{self.name}: the 'signals' stream has no sample_rate; configure the source output "
                "with sample_rate=..."
            )

    def _initialize(self) -> None:
        upstream = self.input.params.to_dict()
        self.sample_rate = float(upstream["sample_rate"])
        frame = self.input.params.frame_shape
        self.nb_channel = int(frame[0]) if frame else 1
        names = [str(n) for n in (upstream.get("channel_names") or [])]
        if len(names) != self.nb_channel or len(set(names)) != len(names):
            names = [f"ch{i}" for i in range(self.nb_channel)]
        self.channel_names = names
        self.units = unit_label(upstream.get("units") or "")
        self._centers = np.zeros(self.nb_channel)
        self._banded = False
        self._user_scaled = False
        self._auto = "first"  # 'first', 'refine', 'done'
        self._writing = False

        trigger_cls = AnalogTrigger if self.trigger_type == "analog" else DigitalTrigger
        self.trigger = trigger_cls(name=f"{self.name}.trigger")
        self.trigger.configure()
        self.trigger.input.connect(upstream)
        self.trigger.output.configure(protocol="inproc", transfermode="plaindata")
        self.trigger.initialize()
        self.triggeraccumulator = TriggerAccumulator(name=f"{self.name}.triggeraccumulator")
        self.triggeraccumulator.configure(max_stack_size=self.max_stack_size)
        self.triggeraccumulator.inputs["signals"].connect(upstream)
        self.triggeraccumulator.inputs["events"].connect(self.trigger.output)
        self.triggeraccumulator.initialize()
        for sub in (self.trigger, self.triggeraccumulator):
            sub.failed.connect(lambda exc, s=sub: self._report_error(exc, context=f"sub-node {s.name!r}"))

        self.params = ParamGroup(make_group("Global options", self._default_params), f"{self.name}.params")
        groups = []
        for i, name in enumerate(names):
            children = [dict(c) for c in self._default_by_channel_params]
            children[-1]["value"] = trace_color(i, self.nb_channel)
            groups.append({"name": name, "type": "group", "children": children})
        self.by_channel_params = ByChannelParams(
            pg.parametertree.Parameter.create(name="AnalogSignals", type="group", children=groups),
            f"{self.name}.by_channel_params",
            names,
        )
        self.all_params = pg.parametertree.Parameter.create(
            name="all param", type="group", children=[self.params.parameter, self.by_channel_params.parameter]
        )
        self.all_params.sigTreeStateChanged.connect(self.on_param_change)
        self.params.on_set = self._on_user_set
        self.by_channel_params.on_set = self._on_user_set
        self.gutter.fit_width(names)

        self.vline = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen((128, 128, 128), style=QtCore.Qt.PenStyle.DashLine))
        self.plot.addItem(self.vline, ignoreBounds=True)
        self.list_curves: list[list] = []
        self.mean_curves: list = []
        self.channel_labels: list = []
        self._drawn = None  # (total_trig, layout key) of the last frame
        # our own input only keeps the source's back-pressure away (and counts samples)
        self.add_poller("signals", lambda index, data: None)
        if self.with_user_dialog:
            self.params_controller = ParamDialog(self, parent=self)
            self.viewBox.doubleclicked.connect(self.show_params_controller)
        self._apply_params()

    def _start(self) -> None:
        self.triggeraccumulator.start()
        self.trigger.start()
        super()._start()

    def _stop(self) -> None:
        super()._stop()
        for sub in (self.trigger, self.triggeraccumulator):
            if sub.running():
                sub.stop()

    def _close(self) -> None:
        for sub in (self.trigger, self.triggeraccumulator):
            if sub is not None:
                sub.close()
        if self.params_controller is not None:
            self.params_controller.close()
            self.params_controller.deleteLater()  # its parameter trees go now, not at interpreter exit
            self.params_controller = None

    def start_or_stop_trigger(self, state: bool) -> None:
        """Pause (False) or resume (True) the stacking while the viewer runs (the Start/Stop button)."""
        if not self.running():
            return
        for sub in (self.triggeraccumulator, self.trigger):
            if state and not sub.running():
                sub.start()
            elif not state and sub.running():
                sub.stop()

    def reset_stack(self) -> None:
        """Empty the stack (the Reset button)."""
        if self.triggeraccumulator is not None:
            self.triggeraccumulator.reset_stack()
        self._drawn = None
        self.refresh()

    def recreate_stack(self) -> None:
        """Apply the accumulator's sweeps and stack size (empties the stack)."""
        self.triggeraccumulator.recreate_stack()
        self._drawn = None

    def show_params_controller(self) -> None:
        """Open the parameter dialog (what a double-click does)."""
        if self.params_controller is None:
            self.params_controller = ParamDialog(self, parent=self)
        self.params_controller.show()

    # -- parameters -----------------------------------------------------------------------------------
    def _apply_params(self) -> None:
        p = self.params
        self.graphicsview.setBackground(p["background_color"])
        for axis in (self.gutter, self.scale_bar):
            axis.set_background(p["background_color"])
        text = "#202020" if pg.mkColor(p["background_color"]).lightness() > 140 else "#d0d0d0"
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setTextPen(text)
            self.plot.getAxis(side).setPen(text)
        self.set_refresh_interval(p["refresh_interval"])
        self.plot.showAxis("left", bool(p["show_left_axis"] or p["display_labels"]))
        self.gutter.set_numeric(not p["display_labels"])
        self.plot.showAxis("bottom", p["show_bottom_axis"])
        self.plot.showAxis("right", p["show_scale_bar"])
        self._drawn = None

    def _on_user_set(self, names: tuple, value: Any) -> None:
        if not self._writing and names and names[-1] in _SCALING:
            self._user_scaled = True
            if names[-1] != "gain":
                self._banded = False

    def on_param_change(self, params, changes) -> None:
        """Any change redraws; a few also reconfigure the display."""
        for param, change, _data in changes:
            if change == "value" and param.name() in _SCALING and not self._writing:
                self._user_scaled = True
                if param.name() != "gain":
                    self._banded = False
        self._apply_params()

    def auto_scale(self) -> None:
        """Lay the visible channels out in bands from the stacked sweeps (see the class notes)."""
        epochs = self.triggeraccumulator.get_epochs()
        if self._scale_from(epochs):
            self._auto = "done"
            self.refresh()

    def _scale_from(self, epochs: np.ndarray, min_change: float | None = None) -> bool:
        """Bands from ``epochs`` (n, channel, time): one gain, each channel's range centred in its band."""
        visible = np.flatnonzero(np.array(self.by_channel_params.values("visible"), dtype=bool))
        if epochs.shape[0] == 0 or visible.size == 0:
            return False
        data = epochs[:, visible].astype(np.float64).transpose(1, 0, 2).reshape(visible.size, -1)
        lo, hi = np.percentile(data, [1.0, 99.0], axis=1)
        centers = (lo + hi) / 2  # a response goes one way from its baseline: centre its range, not its median
        spread = hi - lo
        positive = spread[spread > 0]
        gain = 1.0 / nice_ceil((float(np.median(positive)) if positive.size else 1.0) / 0.8)
        if min_change is not None and self._banded:
            old = float(self.by_channel_params[int(visible[0]), "gain"])
            if 1 / min_change < gain / old < min_change:
                return True
        n = visible.size
        self._writing = True
        blocker = QtCore.QSignalBlocker(self.all_params)
        try:
            for k, c in enumerate(visible):
                self._centers[c] = centers[k]
                self.by_channel_params[int(c), "gain"] = gain
                self.by_channel_params[int(c), "offset"] = float(n - 1 - k - centers[k] * gain)
            self.params["ylim_min"], self.params["ylim_max"] = -0.5, n - 0.5
        finally:
            blocker.unblock()
            self._writing = False
        self._banded = True
        self._drawn = None
        return True

    def _auto_scale_when_ready(self, n_sweeps: int) -> None:
        if self._user_scaled:
            self._auto = "done"
        elif self._auto == "first" and n_sweeps >= 1:
            if self._scale_from(self.triggeraccumulator.get_epochs()):  # from all the sweeps there are
                self._auto = "refine" if n_sweeps < _REFINE_SWEEPS else "done"
        elif self._auto == "refine" and n_sweeps >= _REFINE_SWEEPS:
            self._scale_from(self.triggeraccumulator.get_epochs(), min_change=1.5)
            self._auto = "done"

    # -- drawing ------------------------------------------------------------------------------------------
    def _layout_key(self, stack_size: int) -> tuple:
        colors = tuple(pg.mkColor(c).name() for c in self.by_channel_params.values("color"))
        return stack_size, colors, self.params["sweep_alpha"], self.params["show_mean"]

    def _make_curves(self, stack_size: int) -> None:
        for curves in self.list_curves:
            for curve in curves:
                self.plot.removeItem(curve)
        for item in self.mean_curves:
            self.plot.removeItem(item)
        self.list_curves, self.mean_curves = [], []
        alpha = self.params["sweep_alpha"]
        for c in range(self.nb_channel):
            color = pg.mkColor(self.by_channel_params[c, "color"])
            sweep_color = pg.mkColor(color.red(), color.green(), color.blue(), alpha)
            curves = []
            for _ in range(stack_size):
                curve = pg.PlotCurveItem(pen=pg.mkPen(sweep_color), antialias=False)
                self.plot.addItem(curve)
                curves.append(curve)
            self.list_curves.append(curves)
            mean_color = color.lighter(170) if color.lightness() < 150 else color  # light colours stay legible
            mean = pg.PlotCurveItem(pen=pg.mkPen(mean_color, width=2), antialias=False)
            self.plot.addItem(mean)
            self.mean_curves.append(mean)

    def _refresh(self) -> None:
        acc = self.triggeraccumulator
        total = acc.total_trig
        self.label_count.setText(f"Nb events: {total}")
        if self._auto != "done":
            self._auto_scale_when_ready(min(total, acc.params["stack_size"]))
        stack_size = acc.params["stack_size"]
        key = self._layout_key(stack_size)
        if self._drawn is not None and self._drawn == (total, key):
            return  # nothing new
        if self._drawn is None or self._drawn[1] != key:
            self._make_curves(stack_size)
        epochs = acc.get_epochs()  # (n, channel, time), oldest first: sweep number total - n + j
        t = acc.t_vect
        gains = np.array(self.by_channel_params.values("gain"))
        offsets = np.array(self.by_channel_params.values("offset"))
        visibles = np.array(self.by_channel_params.values("visible"), dtype=bool)
        n = epochs.shape[0]
        show_mean = self.params["show_mean"]
        # sweep k lives in curve k % stack_size: a new sweep replaces the oldest one's curve and the others
        # keep their data (same pen for all: the order they are drawn in does not change a pixel). Only a
        # change of parameters or of the stack redraws every sweep (1600 curves took 1.7 s at 16 x 100).
        previous = self._drawn[0] if self._drawn is not None and self._drawn[1] == key else None
        full = previous is None or not 0 <= total - previous <= n
        first_new = total - n if full else previous
        for c in range(self.nb_channel):
            curves = self.list_curves[c]
            if full:
                for curve in curves:
                    curve.setVisible(False)
            for k in range(first_new, total):
                curve = curves[k % stack_size]
                if visibles[c]:
                    curve.setData(t, epochs[k - (total - n), c].astype(float) * gains[c] + offsets[c])
                curve.setVisible(bool(visibles[c]))
            mean_curve = self.mean_curves[c]
            if visibles[c] and show_mean and n:
                mean_curve.setData(t, epochs[:, c].astype(float).mean(axis=0) * gains[c] + offsets[c])
                mean_curve.setVisible(True)
            else:
                mean_curve.setVisible(False)
        colors = self.by_channel_params.values("color")
        self.gutter.set_channels(
            [
                (float(self._centers[c] * gains[c] + offsets[c]), self.channel_names[c], colors[c])
                for c in np.flatnonzero(visibles)
            ]
        )
        self._draw_scale_bar(gains[visibles])
        self.plot.setXRange(float(t[0]), float(t[-1]), padding=0)
        self.plot.setYRange(self.params["ylim_min"], self.params["ylim_max"], padding=0)
        self._drawn = (total, key)

    def _draw_scale_bar(self, gains: np.ndarray) -> None:
        if not gains.size or np.ptp(gains) > 1e-6 * np.abs(gains).max() or not gains[0] > 0:
            self.scale_bar.set_bar(None)
            return
        lo, hi = self.params["ylim_min"], self.params["ylim_max"]
        per_band = (hi - lo) / gains[0] / (gains.size if self._banded else 4)
        amount = nice_floor(0.6 * per_band)
        y0 = lo + 0.02 * (hi - lo)
        self.scale_bar.set_bar(y0, y0 + amount * gains[0], f"{amount:g} {self.units}".strip())

    def counters(self) -> dict:
        """Node counters plus ``triggers`` (sweeps stacked so far)."""
        out = super().counters()
        acc = self.triggeraccumulator
        out["triggers"] = acc.total_trig if acc is not None and acc.initialized() else 0
        return out
