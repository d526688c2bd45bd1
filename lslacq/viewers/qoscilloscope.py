"""QOscilloscope: continuous multi-channel display (pyacq 5.4.1), with event markers and a status line."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..dsp.events import as_event_indexes, event_labels
from ._qt import QtCore, QtWidgets, pg
from .decimation import DECIMATION_METHODS, ScopeBuffer
from .params import ByChannelParams, ParamDialog, ParamGroup, make_group
from .rastertraces import RasterTraces, channel_colors
from .widgetnode import WidgetNode

__all__ = ["OSCILLOSCOPE_CHANNEL_PARAMS", "OSCILLOSCOPE_PARAMS", "QOscilloscope", "ScopeViewBox"]

logger = logging.getLogger(__name__)

#: global parameters of QOscilloscope (pyacq's, plus show_status and show_events)
OSCILLOSCOPE_PARAMS = [
    {"name": "xsize", "type": "float", "value": 3.0, "step": 0.1, "suffix": "s"},
    {"name": "ylim_max", "type": "float", "value": 10.0},
    {"name": "ylim_min", "type": "float", "value": -10.0},
    {"name": "scale_mode", "type": "list", "value": "real_scale", "limits": ["real_scale", "same_for_all",
                                                                              "by_channel"]},
    {"name": "background_color", "type": "color", "value": "k"},
    {"name": "refresh_interval", "type": "int", "value": 100, "limits": [5, 1000], "suffix": "ms"},
    {"name": "mode", "type": "list", "value": "scan", "limits": ["scan", "scroll"]},
    {"name": "auto_decimate", "type": "bool", "value": True},
    {"name": "decimate", "type": "int", "value": 1, "limits": [1, None]},
    {"name": "decimation_method", "type": "list", "value": "pure_decimate", "limits": list(DECIMATION_METHODS)},
    {"name": "display_labels", "type": "bool", "value": False},
    {"name": "show_bottom_axis", "type": "bool", "value": False},
    {"name": "show_left_axis", "type": "bool", "value": False},
    {"name": "show_status", "type": "bool", "value": True},
    {"name": "show_events", "type": "bool", "value": True},
    {"name": "event_color", "type": "color", "value": "#ffcc00"},
]

#: per-channel parameters (the colour default depends on the channel)
OSCILLOSCOPE_CHANNEL_PARAMS = [
    {"name": "gain", "type": "float", "value": 1.0, "step": 0.1},
    {"name": "offset", "type": "float", "value": 0.0, "step": 0.1},
    {"name": "visible", "type": "bool", "value": True},
    {"name": "color", "type": "color", "value": "#7FFF00"},
]

_MAX_EVENTS = 2000  # markers remembered for display
_NB_POINTS = 4000  # most points per channel aimed at by auto_decimate (pyacq's figure)
_MIN_POINTS = 1000  # fewest


class ScopeViewBox(pg.ViewBox):
    """ViewBox of the viewers: no mouse panning; double-click and wheel are reported as signals."""

    doubleclicked = QtCore.Signal()
    gain_zoom = QtCore.Signal(float)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.disableAutoRange()
        self.setMouseEnabled(False, False)
        self.setMenuEnabled(False)

    def mouseClickEvent(self, ev):
        if ev.double():
            self.doubleclicked.emit()
        ev.accept()

    def mouseDoubleClickEvent(self, ev):
        self.doubleclicked.emit()
        ev.accept()

    def mouseDragEvent(self, ev, axis=None):
        ev.accept()

    def wheelEvent(self, ev, axis=None):
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        self.gain_zoom.emit(1.3 if delta > 0 else 1 / 1.3)
        ev.accept()


class QOscilloscope(WidgetNode):
    """Continuous, multi-channel oscilloscope based on Qt and pyqtgraph.

    Inputs
    ------
    signals
        Any numeric ``(time, channel)`` (or 1-D) stream with a ``sample_rate``:
        plaindata or sharedmem, any axisorder. A stream that declares
        ``scale``/``offset`` is shown in physical units (``offset + scale * value``).
    events (optional)
        An event stream (:data:`lslacq.dsp.EVENT_DTYPE`, pyacq's int64 indexes
        or ``'pos'`` records) whose sample indexes refer to ``signals``: each
        event is drawn as a labelled vertical line. Leave it unconnected if
        there are no events.

    configure() parameters
    ----------------------
    with_user_dialog : bool
        Double-clicking the plot opens a dialog with the parameters (default True).
    max_xsize : float
        Largest ``params['xsize']`` allowed, in seconds (default 60).

    Online parameters
    -----------------
    ``params``: ``xsize`` (window, s), ``ylim_min``/``ylim_max``,
    ``scale_mode`` (real_scale, same_for_all, by_channel: what
    :meth:`auto_scale` does), ``background_color``, ``refresh_interval`` (ms),
    ``mode`` (scan: a sweep that overwrites; scroll: the newest data at the
    right), ``auto_decimate``/``decimate``, ``decimation_method``
    (pure_decimate, min_max, mean), ``display_labels``, ``show_bottom_axis``,
    ``show_left_axis``, ``show_status`` (rate, samples dropped for display,
    latency, frame rate), ``show_events``, ``event_color``.

    ``by_channel_params[channel, key]`` with ``channel`` a channel name,
    ``'ch<i>'`` or an index and ``key`` one of ``gain``, ``offset``,
    ``visible``, ``color``; a trace is drawn at ``data * gain + offset``.

    Notes
    -----
    Each chunk is decimated once when it arrives (in the input thread), so a
    frame costs the same whatever the window length; a viewer slower than the
    stream skips frames, never samples, and never slows the source. A window
    with at least as many points as the plot has pixel columns is drawn as one
    image updated column by column (:class:`~lslacq.viewers.rastertraces.RasterTraces`),
    a sparser one as a pyqtgraph curve per channel.

    Examples
    --------
    >>> viewer = QOscilloscope()
    >>> viewer.configure(with_user_dialog=True)
    >>> viewer.input.connect(device.output)
    >>> viewer.initialize()
    >>> viewer.show()
    >>> viewer.params['decimation_method'] = 'min_max'
    >>> viewer.by_channel_params['ch0', 'gain'] = 0.001
    >>> viewer.start()
    """

    _input_specs = {"signals": {}, "events": {"streamtype": "event"}}
    _default_params = OSCILLOSCOPE_PARAMS
    _default_by_channel_params = OSCILLOSCOPE_CHANNEL_PARAMS

    def __init__(self, name: str = "", parent: Any = None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.graphicsview = pg.GraphicsView()
        layout.addWidget(self.graphicsview)
        self._make_plot_area()
        self.status_label = QtWidgets.QLabel("")
        self.status_label.setStyleSheet("QLabel { font-family: monospace; padding: 1px 4px; }")
        layout.addWidget(self.status_label)
        self.params_controller = None
        self.resize(800, 500)

    def _make_plot_area(self) -> None:
        """Create the plot (``self.plot``, ``self.viewBox``, ``self.plots``) shown by ``self.graphicsview``."""
        self.viewBox = ScopeViewBox()
        self.plot = self._new_plot(self.viewBox)
        self.plots = [self.plot]
        self.graphicsview.setCentralItem(self.plot)

    @staticmethod
    def _new_plot(viewbox: ScopeViewBox) -> pg.PlotItem:
        plot = pg.PlotItem(viewBox=viewbox)
        plot.hideButtons()
        plot.showAxis("left", False)
        plot.showAxis("bottom", False)
        return plot

    # pyacq's examples use ``viewer.input`` although there may be an events input too
    @property
    def input(self):
        """The ``signals`` input."""
        return self.inputs["signals"]

    # -- lifecycle ---------------------------------------------------------------------------
    def _configure(self, with_user_dialog: bool = True, max_xsize: float = 60.0) -> None:
        if not float(max_xsize) > 0:
            raise ValueError(f"{self.name}: max_xsize must be > 0 seconds, got {max_xsize!r}")
        self.with_user_dialog = bool(with_user_dialog)
        self.max_xsize = float(max_xsize)

    def initialize(self) -> None:
        """As Node.initialize; the ``events`` input is optional (dropped if not connected)."""
        events = self.inputs.get("events")
        if events is not None and not events.connected and not self.initialized():
            del self.inputs["events"]
            events.close()
        super().initialize()

    def after_input_connect(self, inputname: str) -> None:
        params = self.inputs[inputname].params
        if inputname == "events":
            dtype = params.np_dtype
            if dtype.names is None and dtype.kind not in "iu":
                raise ValueError(f"{self.name}: input 'events' has dtype {dtype}; connect an event stream "
                                 "(lslacq.dsp.EVENT_DTYPE records or integer sample indexes)")
            return
        frame = params.frame_shape
        if len(frame) > 1:
            raise ValueError(f"{self.name}: input 'signals' has shape {tuple(params.shape)}; QOscilloscope shows "
                             "(time, channel) or 1-D streams (use ImageViewer for images)")
        dtype = params.np_dtype
        if dtype.kind not in "iufb":
            raise ValueError(f"{self.name}: input 'signals' has dtype {dtype}; QOscilloscope needs numbers")

    def check_input_specs(self) -> None:
        sample_rate = self.input.params.get("sample_rate")
        if not sample_rate:
            raise ValueError(f"{self.name}: the 'signals' stream has no sample_rate; configure the source output "
                             "with sample_rate=... (the time axis needs it)")

    def _initialize(self) -> None:
        params = self.input.params
        self.sample_rate = float(params["sample_rate"])
        frame = params.frame_shape
        self.nb_channel = int(frame[0]) if frame else 1
        names = [str(n) for n in (params.get("channel_names") or [])]
        if len(names) != self.nb_channel or len(set(names)) != len(names):
            names = [f"ch{i}" for i in range(self.nb_channel)]
        self.channel_names = names
        # streams that declare a scale/offset are shown in physical units: offset + scale * value
        scale, offset = params.get("scale"), params.get("offset")
        self._to_physical = None if scale is None and offset is None else (
            np.float32(1.0 if scale is None else scale), np.float32(0.0 if offset is None else offset))
        self._make_params()
        self._scope = ScopeBuffer(self.nb_channel, self._window_samples(), self.params["decimate"],
                                  self.params["decimation_method"])
        self._make_items()
        self._events: collections.deque = collections.deque(maxlen=_MAX_EVENTS)
        self._events_lock = threading.Lock()
        self._source_t0: float | None = None  # arrival time - index / rate, best seen
        self._status_history: collections.deque = collections.deque(maxlen=64)
        self._drawn_head: int | None = None
        self.skipped_samples = 0
        self._received = 0  # signal samples received in this run (the status line's rate)
        self.n_events = 0
        self.latency: float | None = None
        self.add_poller("signals", self._on_signals)
        if "events" in self.inputs:
            self.add_poller("events", self._on_events)
        if self.with_user_dialog:
            self.params_controller = ParamDialog(self, parent=self)
        self._connect_views()
        self._resize_timer = QtCore.QTimer(self)
        self._resize_timer.setSingleShot(True)
        self._resize_timer.setInterval(200)
        self._resize_timer.timeout.connect(self._after_resize)
        self._apply_all_params()

    def _connect_views(self) -> None:
        """Double-click opens the dialog (with_user_dialog), the wheel zooms."""
        if self.with_user_dialog:
            self.viewBox.doubleclicked.connect(self.show_params_controller)
        self.viewBox.gain_zoom.connect(self.gain_zoom)

    def _make_params(self) -> None:
        self.params = ParamGroup(make_group("Global options", self._default_params), f"{self.name}.params")
        self.params.param("xsize").setLimits([2.0 / self.sample_rate, self.max_xsize])
        groups = []
        for i, name in enumerate(self.channel_names):
            children = [dict(c) for c in self._default_by_channel_params]
            for child in children:
                if child["name"] == "color":
                    child["value"] = pg.intColor(i, hues=max(self.nb_channel, 1), values=1, maxValue=255,
                                                 minValue=150)
            groups.append({"name": name, "type": "group", "children": children})
        self.by_channel_params = ByChannelParams(
            pg.parametertree.Parameter.create(name="AnalogSignals", type="group", children=groups),
            f"{self.name}.by_channel_params", self.channel_names)
        self.all_params = pg.parametertree.Parameter.create(
            name="all param", type="group", children=[self.params.parameter, self.by_channel_params.parameter])
        self.all_params.sigTreeStateChanged.connect(self.on_param_change)

    def _make_items(self) -> None:
        self.curves = []
        self.channel_labels = []
        self._labels_shown = True  # until a frame hides them
        self.traces = RasterTraces()  # dense windows: one image instead of the curves
        self.plot.addItem(self.traces, ignoreBounds=True)
        self._channel_traces = [self.traces] * self.nb_channel
        for i in range(self.nb_channel):
            self._add_channel_items(self.plot, i)
        self._event_lines: list = []

    def _add_channel_items(self, plot: pg.PlotItem, channel: int) -> None:
        """Add channel ``channel``'s curve (sparse windows) and its name label to ``plot``."""
        color = self.by_channel_params[channel, "color"]
        curve = pg.PlotCurveItem(pen=pg.mkPen(color), antialias=False)
        plot.addItem(curve)
        self.curves.append(curve)
        label = pg.TextItem(self.channel_names[channel], color=color, anchor=(0, 0.5),
                            fill=pg.mkColor((128, 128, 128, 120)))
        label.setVisible(False)
        plot.addItem(label, ignoreBounds=True)
        self.channel_labels.append(label)

    def _window_samples(self) -> int:
        return max(2, int(round(self.params["xsize"] * self.sample_rate)))

    def _start(self) -> None:
        self._scope.reset()
        for traces in set(self._channel_traces):
            traces.invalidate()
        with self._events_lock:
            self._events.clear()
            self.n_events = 0
        self._source_t0 = None
        self._drawn_head = None
        self._received = 0
        self._status_history.clear()
        super()._start()

    def _close(self) -> None:
        if self.params_controller is not None:
            self.params_controller.close()
            self.params_controller.deleteLater()  # its parameter trees go now, not at interpreter exit
            self.params_controller = None

    # -- data (input threads) ------------------------------------------------------------------
    def _on_signals(self, index: int, data: np.ndarray) -> None:
        if self._to_physical is not None:
            scale, offset = self._to_physical
            data = np.asarray(data, dtype=np.float32) * scale + offset
        self._scope.feed(index, data)
        self._received += len(data)
        t0 = time.monotonic() - index / self.sample_rate
        if self._source_t0 is None or t0 < self._source_t0:
            self._source_t0 = t0

    def _on_events(self, index: int, data: Any) -> None:
        events = np.asarray(data)
        if events.size == 0:
            return
        indexes = as_event_indexes(events)
        if events.dtype.names is not None and "description" in events.dtype.names:
            labels = event_labels(events)
        elif events.dtype.names is not None and "label" in events.dtype.names:
            labels = [bytes(x).decode("ascii", "replace") if isinstance(x, bytes) else str(x)
                      for x in events["label"].reshape(-1)]
        else:
            labels = [""] * len(indexes)
        with self._events_lock:
            self._events.extend(zip(indexes.tolist(), labels))
            self.n_events += len(labels)

    # -- parameters ------------------------------------------------------------------------------
    def _channel_arrays(self) -> None:
        bcp = self.by_channel_params
        self._gains = np.array(bcp.values("gain"), dtype=np.float32)
        self._offsets = np.array(bcp.values("offset"), dtype=np.float32)
        self._visibles = np.array(bcp.values("visible"), dtype=bool)
        self._colors = channel_colors(bcp.values("color"))

    def _apply_all_params(self) -> None:
        p = self.params
        if p["auto_decimate"]:
            self.estimate_decimate()
        self._channel_arrays()
        self.graphicsview.setBackground(p["background_color"])
        self.set_refresh_interval(p["refresh_interval"])
        self._show_axes()
        self.status_label.setVisible(p["show_status"])
        self._show_curves()
        self._reset_scope()

    def estimate_decimate(self, nb_point: int | None = None) -> None:
        """Set ``params['decimate']`` so the window holds about ``nb_point`` points per channel.

        Default: two points per pixel column of the plot (a min/max pair per
        column with min_max: what the screen can show), between 1000 and 4000.
        """
        if nb_point is None:
            width = int(self.viewBox.width()) if self.isVisible() else 0
            nb_point = _NB_POINTS if width <= 0 else min(_NB_POINTS, max(_MIN_POINTS, 2 * width))
        self.params["decimate"] = max(-(-self._window_samples() // int(nb_point)), 1)

    def resizeEvent(self, event) -> None:
        """A new width may call for another decimation (applied once resizing settles)."""
        super().resizeEvent(event)
        timer = getattr(self, "_resize_timer", None)
        if timer is not None:
            timer.start()

    def _after_resize(self) -> None:
        if self.initialized() and not self.closed() and self.params["auto_decimate"]:
            self.estimate_decimate()

    def _reset_scope(self) -> None:
        self._scope.reconfigure(size=self._window_samples(), decimate=self.params["decimate"],
                                method=self.params["decimation_method"])
        self._x_cache = None
        for traces in set(self._channel_traces):
            traces.invalidate()

    def _show_axes(self) -> None:
        """Show or hide the axes following ``show_left_axis`` and ``show_bottom_axis``."""
        for plot in self.plots:
            plot.showAxis("left", self.params["show_left_axis"])
            plot.showAxis("bottom", self.params["show_bottom_axis"])

    def on_param_change(self, params, changes) -> None:
        """React to parameter changes (from code, the dialog or a remote call)."""
        scope_changed = False
        for param, change, data in changes:
            if change != "value":
                continue
            name = param.name()
            parent = param.parent()
            if parent is not None and parent.parent() is self.by_channel_params.parameter:
                c = self.by_channel_params.channel_index(parent.name())
                if name == "color":
                    self.curves[c].setPen(pg.mkPen(data))
                    self.channel_labels[c].setColor(data)
                self._channel_arrays()
                if name == "visible":
                    self._show_curves()
                continue
            if name == "background_color":
                self.graphicsview.setBackground(data)
            elif name in ("xsize", "auto_decimate"):
                if self.params["auto_decimate"]:
                    self.estimate_decimate()
                scope_changed = True
            elif name in ("decimate", "decimation_method", "mode"):
                scope_changed = True
            elif name == "refresh_interval":
                self.set_refresh_interval(data)
            elif name == "scale_mode":
                self.auto_scale()
            elif name in ("show_left_axis", "show_bottom_axis"):
                self._show_axes()
            elif name == "show_status":
                self.status_label.setVisible(bool(data))
        if scope_changed:
            self._reset_scope()

    def show_params_controller(self) -> None:
        """Open the parameter dialog (what a double-click does)."""
        if self.params_controller is None:
            self.params_controller = ParamDialog(self, parent=self)
        self.params_controller.show()
        self.params_controller.raise_()

    def show_all_channels(self) -> None:
        """Make every channel visible."""
        for i in range(self.nb_channel):
            self.by_channel_params[i, "visible"] = True

    # -- scaling -----------------------------------------------------------------------------------
    def get_visible_chunk(self) -> np.ndarray:
        """Raw samples of the current window ``(time, channel)`` (NaN where not received yet)."""
        return self._scope.get_raw()

    def auto_scale(self, spacing_factor: float = 9.0) -> None:
        """Fit the traces in the view, following ``params['scale_mode']``.

        real_scale: ``ylim_min``/``ylim_max`` span the visible channels' data
        (gains 1, offsets 0); same_for_all: one gain for all channels (from the
        largest robust deviation) and channels stacked one unit apart;
        by_channel: a gain per channel, stacked.
        """
        sigs = self.get_visible_chunk()
        visible = np.array(self.by_channel_params.values("visible"), dtype=bool)
        finite = np.isfinite(sigs).any(axis=0)
        use = visible & finite
        if not use.any():
            logger.info("%s: auto_scale skipped: no data received on the visible channels yet", self.name)
            return
        with np.errstate(all="ignore"):
            med = np.nanmedian(sigs[:, use], axis=0)
            mad = np.nanmedian(np.abs(sigs[:, use] - med), axis=0) * 1.4826
            lo, hi = np.nanmin(sigs[:, use]), np.nanmax(sigs[:, use])
        mode = self.params["scale_mode"]
        gains = np.ones(self.nb_channel)
        offsets = np.zeros(self.nb_channel)
        blocker = QtCore.QSignalBlocker(self.all_params)
        try:
            if mode == "real_scale":
                if lo == hi:
                    lo, hi = lo - 1, hi + 1
                margin = (hi - lo) * 0.05
                self.params["ylim_min"] = float(lo - margin)
                self.params["ylim_max"] = float(hi + margin)
            else:
                n = int(use.sum())
                if mode == "same_for_all":
                    inv = float(np.max(mad)) * spacing_factor or 1.0
                    g = np.full(n, 1.0 / inv)
                else:
                    inv = mad * spacing_factor
                    inv[inv == 0] = 1.0
                    g = 1.0 / inv
                gains[use] = g
                offsets[use] = np.arange(n)[::-1] - med * g
                self.params["ylim_min"] = -0.5
                self.params["ylim_max"] = n - 0.5
            for i in range(self.nb_channel):
                self.by_channel_params[i, "gain"] = float(gains[i])
                self.by_channel_params[i, "offset"] = float(offsets[i])
        finally:
            blocker.unblock()
        self._channel_arrays()
        self._label_y = {i: float(m) for i, m in zip(np.flatnonzero(use), med)}
        self.refresh()

    def gain_zoom(self, factor: float) -> None:
        """Zoom the traces vertically by ``factor`` (the mouse wheel)."""
        if self.params["scale_mode"] == "real_scale":
            lo, hi = self.params["ylim_min"], self.params["ylim_max"]
            mid, half = (lo + hi) / 2, (hi - lo) / 2 / factor
            self.params["ylim_min"], self.params["ylim_max"] = mid - half, mid + half
        else:
            for i in range(self.nb_channel):
                self.by_channel_params[i, "gain"] = self.by_channel_params[i, "gain"] * factor
        self.refresh()

    # -- drawing ------------------------------------------------------------------------------------
    def _x_vector(self, n: int, mode: str) -> np.ndarray:
        key = (n, mode, self._scope.decimate)
        if self._x_cache is None or self._x_cache[0] != key:
            step = self._scope.decimate / self.sample_rate
            x = np.arange(n, dtype=np.float64) * step
            if mode == "scroll":
                x -= n * step
            self._x_cache = (key, x)
        return self._x_cache[1]

    def _plot_pixels(self, viewbox: pg.ViewBox) -> tuple[int, int]:
        """Width and height of ``viewbox`` in device pixels."""
        ratio = self.devicePixelRatioF()
        return int(viewbox.width() * ratio), int(viewbox.height() * ratio)

    def _plot_channels(self) -> list[tuple[pg.PlotItem, RasterTraces, np.ndarray, tuple[float, float]]]:
        """``(plot, traces item, channels, ylim)`` of each plot to draw."""
        return [(self.plot, self.traces, np.flatnonzero(self._visibles),
                 (self.params["ylim_min"], self.params["ylim_max"]))]

    def _refresh(self) -> None:
        mode = self.params["mode"]
        n, decimate = self._scope.n_points, self._scope.decimate
        # the input thread feeds the scope meanwhile: the frame (every plot, the events, the status) ends here
        end = self._scope.end
        frame: list = []  # the window's points, read once if a plot draws curves

        def points() -> np.ndarray:
            if not frame:
                frame.append(self._scope.read_points(end - n, end)[1])
            return frame[0]

        for plot, traces, channels, ylim in self._plot_channels():
            self._draw_plot(plot, traces, channels, ylim, mode, end, points)
        self._draw_labels(-n * decimate / self.sample_rate if mode == "scroll" else 0.0, self._visibles,
                          self._gains, self._offsets)
        self._draw_events(end * decimate, n * decimate, mode)
        self._update_status(end * decimate)

    def _draw_plot(self, plot: pg.PlotItem, traces: RasterTraces, channels: np.ndarray, ylim: tuple[float, float],
                   mode: str, end: int, points: Callable[[], np.ndarray]) -> None:
        """Draw ``channels`` in ``plot`` up to point ``end`` (the frame's) and set its range.

        A window with at least as many points as the plot has pixel columns is
        drawn as one image (``traces``, see :mod:`lslacq.viewers.raster`),
        a sparser one as a curve per channel (``points()``: the window's points
        ``[end - n_points, end)``).
        """
        n, decimate = self._scope.n_points, self._scope.decimate
        size = self._plot_pixels(plot.vb)
        dense = n >= size[0] > 0
        if dense != traces.active:
            traces.set_active(dense)
            self._show_curves()
        if dense:
            traces.update_traces(self._scope, end, self.sample_rate, mode, size, channels, self._gains[channels],
                                 self._offsets[channels], self._colors[channels], ylim)
        else:
            self._draw_curves(mode, channels, end, points())
        xsize = n * decimate / self.sample_rate
        x0 = -xsize if mode == "scroll" else 0.0
        plot.setXRange(x0, x0 + xsize, padding=0)
        plot.setYRange(*ylim, padding=0)

    def _show_curves(self) -> None:
        """Show the curves of the visible channels, none where the traces are drawn as an image."""
        for i, curve in enumerate(self.curves):
            curve.setVisible(bool(self._visibles[i]) and not self._channel_traces[i].active)

    def _draw_curves(self, mode: str, channels: np.ndarray, end: int, pts: np.ndarray) -> None:
        """Draw ``channels`` of the window's points ``pts`` (ending at point ``end``) as curves."""
        n = pts.shape[0]
        pts = pts[:, channels]
        if mode == "scan":
            shift = end % n
            pts = np.roll(pts, shift, axis=0)
            pts[shift] = np.nan  # a break at the sweep's write position
        x = self._x_vector(n, mode)
        ys = np.ascontiguousarray((pts * self._gains[channels] + self._offsets[channels]).T)
        complete = np.isfinite(ys).all(axis=1)  # these skip pyqtgraph's slower NaN-aware path
        for k, c in enumerate(channels):
            if complete[k]:
                self.curves[c].setData(x, ys[k], connect="all", skipFiniteCheck=True)
            else:
                self.curves[c].setData(x, ys[k], connect="finite")

    def _draw_labels(self, x0: float, visibles, gains, offsets) -> None:
        show = self.params["display_labels"]
        if not show and not self._labels_shown:
            return  # all hidden already
        self._labels_shown = show
        centers = getattr(self, "_label_y", {})
        for c, label in enumerate(self.channel_labels):
            if show and visibles[c]:
                label.setPos(x0, centers.get(c, 0.0) * gains[c] + offsets[c])
                label.setVisible(True)
            else:
                label.setVisible(False)

    def event_x(self, index: int, head: int | None = None) -> float:
        """x coordinate (s) at which an event at sample ``index`` is drawn, for the current mode."""
        size = self._scope.n_points * self._scope.decimate
        if self.params["mode"] == "scan":
            return (index % size) / self.sample_rate
        head = self._scope.end * self._scope.decimate if head is None else head
        return (index - head) / self.sample_rate

    def _draw_events(self, head: int, size: int, mode: str) -> None:
        if "events" not in self.inputs:
            return
        shown = []
        if self.params["show_events"]:
            with self._events_lock:
                shown = [(i, lab) for i, lab in self._events if head - size <= i < head]
        color = self.params["event_color"]
        while len(self._event_lines) < len(shown):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(color),
                                   label="", labelOpts={"position": 0.95, "color": color, "anchors": [(0, 0), (0, 0)]})
            self.plot.addItem(line, ignoreBounds=True)
            self._event_lines.append(line)
        for line, (index, label) in zip(self._event_lines, shown):
            line.setPen(pg.mkPen(color))
            line.setPos(self.event_x(index, head))
            line.label.setFormat(label)
            line.label.setColor(color)
            line.setVisible(True)
        for line in self._event_lines[len(shown):]:
            line.setVisible(False)

    def _update_status(self, head: int) -> None:
        now = time.monotonic()
        if self._drawn_head is not None:
            new = head - self._drawn_head
            size = self._scope.size
            if new > size:  # these samples scrolled through the window between two frames
                self.skipped_samples += new - size
        self._drawn_head = head
        samples = self._received
        self._status_history.append((now, samples, self.frames))
        t_old, s_old, f_old = self._status_history[0]
        for item in self._status_history:
            if now - item[0] <= 2.0:
                t_old, s_old, f_old = item
                break
        dt = now - t_old
        rate = (samples - s_old) / dt if dt > 0 else 0.0
        fps = (self.frames - f_old) / dt if dt > 0 else 0.0
        if self._source_t0 is not None and self._scope.head:
            self.latency = max(0.0, now - (self._source_t0 + self._scope.head / self.sample_rate))
        if self.params["show_status"]:
            lost = sum(int(getattr(inp, "lost_samples", 0)) for inp in self.inputs.values())
            latency = "-" if self.latency is None else f"{self.latency * 1000:.0f} ms"
            self.status_label.setText(f"{rate:.1f} Hz (nominal {self.sample_rate:g})  |  dropped: stream {lost}, "
                                      f"display {self.skipped_samples}  |  latency {latency}  |  {fps:.0f} fps")

    def counters(self) -> dict:
        """Node counters plus the viewer's: ``skipped_samples`` (never displayed) and ``latency`` (s)."""
        out = super().counters()
        out["latency"] = getattr(self, "latency", None)
        out["skipped_samples"] = getattr(self, "skipped_samples", 0)
        out["events"] = getattr(self, "n_events", 0)
        return out

    def status_text(self) -> str:
        """The status line's text."""
        return self.status_label.text()
