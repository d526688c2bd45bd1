"""QTriggeredOscilloscope: sweeps of a signal stacked on a trigger (pyacq example 6.6)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..dsp.trigger import AnalogTrigger, DigitalTrigger
from ..dsp.triggeraccumulator import TriggerAccumulator
from ._qt import QtCore, QtWidgets, pg
from .params import ByChannelParams, ParamDialog, ParamGroup, make_group
from .qoscilloscope import ScopeViewBox
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
    {"name": "display_labels", "type": "bool", "value": False},
    {"name": "show_bottom_axis", "type": "bool", "value": True},
    {"name": "show_left_axis", "type": "bool", "value": False},
]

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
    single sweeps, 10-255), ``display_labels``, ``show_bottom_axis``,
    ``show_left_axis``; ``by_channel_params[channel, key]`` with key
    ``gain``, ``offset``, ``visible``, ``color``.
    """

    _input_specs = {"signals": {}}

    def __init__(self, name: str = "", parent: Any = None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.graphicsview = pg.GraphicsView()
        layout.addWidget(self.graphicsview)
        self.viewBox = ScopeViewBox()
        self.plot = pg.PlotItem(viewBox=self.viewBox)
        self.plot.hideButtons()
        self.plot.showAxis("left", False)
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
        self.resize(700, 450)

    # -- lifecycle ---------------------------------------------------------------------------------
    def _configure(self, with_user_dialog: bool = True, trigger_type: str = "analog",
                   max_stack_size: int = 100) -> None:
        if trigger_type not in ("analog", "digital"):
            raise ValueError(f"{self.name}: trigger_type={trigger_type!r}; use 'analog' or 'digital'")
        self.with_user_dialog = bool(with_user_dialog)
        self.trigger_type = trigger_type
        self.max_stack_size = int(max_stack_size)

    def after_input_connect(self, inputname: str) -> None:
        params = self.input.params
        if len(params.frame_shape) > 1:
            raise ValueError(f"{self.name}: input 'signals' has shape {tuple(params.shape)}; a (time, channel) "
                             "stream is required")

    def check_input_specs(self) -> None:
        if not self.input.params.get("sample_rate"):
            raise ValueError(f"{self.name}: the 'signals' stream has no sample_rate; configure the source output "
                             "with sample_rate=...")

    def _initialize(self) -> None:
        upstream = self.input.params.to_dict()
        self.sample_rate = float(upstream["sample_rate"])
        frame = self.input.params.frame_shape
        self.nb_channel = int(frame[0]) if frame else 1
        names = [str(n) for n in (upstream.get("channel_names") or [])]
        if len(names) != self.nb_channel or len(set(names)) != len(names):
            names = [f"ch{i}" for i in range(self.nb_channel)]
        self.channel_names = names

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

        self.params = ParamGroup(make_group("Global options", TRIGGERED_PARAMS), f"{self.name}.params")
        groups = []
        for i, name in enumerate(names):
            children = [dict(c) for c in TRIGGERED_CHANNEL_PARAMS]
            children[-1]["value"] = pg.intColor(i, hues=max(self.nb_channel, 1), minValue=150)
            groups.append({"name": name, "type": "group", "children": children})
        self.by_channel_params = ByChannelParams(
            pg.parametertree.Parameter.create(name="AnalogSignals", type="group", children=groups),
            f"{self.name}.by_channel_params", names)
        self.all_params = pg.parametertree.Parameter.create(
            name="all param", type="group", children=[self.params.parameter, self.by_channel_params.parameter])
        self.all_params.sigTreeStateChanged.connect(self.on_param_change)

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
        self.set_refresh_interval(p["refresh_interval"])
        self.plot.showAxis("left", p["show_left_axis"])
        self.plot.showAxis("bottom", p["show_bottom_axis"])
        self._drawn = None

    def on_param_change(self, params, changes) -> None:
        """Any change redraws; a few also reconfigure the display."""
        self._apply_params()

    def auto_scale(self) -> None:
        """Fit ``ylim_min``/``ylim_max`` to the visible sweeps."""
        epochs = self.triggeraccumulator.get_epochs()
        visible = np.array(self.by_channel_params.values("visible"), dtype=bool)
        if epochs.shape[0] == 0 or not visible.any():
            return
        gains = np.array(self.by_channel_params.values("gain"))[visible, None]
        offsets = np.array(self.by_channel_params.values("offset"))[visible, None]
        shown = epochs[:, visible].astype(float) * gains + offsets
        lo, hi = float(np.nanmin(shown)), float(np.nanmax(shown))
        margin = (hi - lo) * 0.05 or 1.0
        self.params.update(ylim_min=lo - margin, ylim_max=hi + margin)
        self.refresh()

    # -- drawing ------------------------------------------------------------------------------------------
    def _layout_key(self, stack_size: int) -> tuple:
        colors = tuple(pg.mkColor(c).name() for c in self.by_channel_params.values("color"))
        return stack_size, colors, self.params["sweep_alpha"], self.params["show_mean"]

    def _make_curves(self, stack_size: int) -> None:
        for curves in self.list_curves:
            for curve in curves:
                self.plot.removeItem(curve)
        for item in self.mean_curves + self.channel_labels:
            self.plot.removeItem(item)
        self.list_curves, self.mean_curves, self.channel_labels = [], [], []
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
            mean = pg.PlotCurveItem(pen=pg.mkPen(color.lighter(170), width=2), antialias=False)
            self.plot.addItem(mean)
            self.mean_curves.append(mean)
            label = pg.TextItem(self.channel_names[c], color=color, anchor=(0, 0.5))
            self.plot.addItem(label, ignoreBounds=True)
            self.channel_labels.append(label)

    def _refresh(self) -> None:
        acc = self.triggeraccumulator
        total = acc.total_trig
        self.label_count.setText(f"Nb events: {total}")
        stack_size = acc.params["stack_size"]
        key = self._layout_key(stack_size)
        if self._drawn is not None and self._drawn == (total, key):
            return  # nothing new
        if self._drawn is None or self._drawn[1] != key:
            self._make_curves(stack_size)
        epochs = acc.get_epochs()  # (n, channel, time), oldest first
        t = acc.t_vect
        gains = np.array(self.by_channel_params.values("gain"))
        offsets = np.array(self.by_channel_params.values("offset"))
        visibles = np.array(self.by_channel_params.values("visible"), dtype=bool)
        n = epochs.shape[0]
        show_mean = self.params["show_mean"]
        for c in range(self.nb_channel):
            curves = self.list_curves[c]
            for j, curve in enumerate(curves):
                if visibles[c] and j < n:
                    curve.setData(t, epochs[j, c].astype(float) * gains[c] + offsets[c])
                    curve.setVisible(True)
                else:
                    curve.setVisible(False)
            mean_curve = self.mean_curves[c]
            if visibles[c] and show_mean and n:
                mean_curve.setData(t, epochs[:, c].astype(float).mean(axis=0) * gains[c] + offsets[c])
                mean_curve.setVisible(True)
            else:
                mean_curve.setVisible(False)
            label = self.channel_labels[c]
            label.setVisible(bool(self.params["display_labels"] and visibles[c]))
            label.setPos(float(t[0]), offsets[c])
        self.plot.setXRange(float(t[0]), float(t[-1]), padding=0)
        self.plot.setYRange(self.params["ylim_min"], self.params["ylim_max"], padding=0)
        self._drawn = (total, key)

    def counters(self) -> dict:
        """Node counters plus ``triggers`` (sweeps stacked so far)."""
        out = super().counters()
        acc = self.triggeraccumulator
        out["triggers"] = acc.total_trig if acc is not None and acc.initialized() else 0
        return out
