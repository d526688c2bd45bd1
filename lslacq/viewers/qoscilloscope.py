"""QOscilloscope: continuous multi-channel display (pyacq 5.4.1), with event markers and a status line."""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..dsp.events import as_event_indexes, event_labels
from ._qt import QtCore, QtGui, QtWidgets, pg
from .decimation import DECIMATION_METHODS, ScopeBuffer
from .params import ByChannelParams, ParamDialog, ParamGroup, make_group
from .rastertraces import RasterTraces, channel_colors
from .scopeaxes import ChannelGutter, MarkerBand, ScaleBarAxis, nice_ceil, nice_floor, unit_label
from .widgetnode import WidgetNode

__all__ = ["OSCILLOSCOPE_CHANNEL_PARAMS", "OSCILLOSCOPE_PARAMS", "QOscilloscope", "ScopeViewBox", "trace_color"]

logger = logging.getLogger(__name__)

#: global parameters of QOscilloscope (pyacq's, plus show_status and show_events)
OSCILLOSCOPE_PARAMS = [
    {"name": "xsize", "type": "float", "value": 3.0, "step": 0.1, "suffix": "s"},
    {"name": "ylim_max", "type": "float", "value": 10.0},
    {"name": "ylim_min", "type": "float", "value": -10.0},
    {
        "name": "scale_mode",
        "type": "list",
        "value": "same_for_all",
        "limits": ["real_scale", "same_for_all", "by_channel"],
    },
    {"name": "background_color", "type": "color", "value": "k"},
    {"name": "refresh_interval", "type": "int", "value": 16, "limits": [5, 1000], "suffix": "ms"},  # ~60 fps
    {"name": "mode", "type": "list", "value": "scan", "limits": ["scan", "scroll"]},
    {"name": "auto_decimate", "type": "bool", "value": True},
    {"name": "decimate", "type": "int", "value": 1, "limits": [1, None]},
    {"name": "decimation_method", "type": "list", "value": "pure_decimate", "limits": list(DECIMATION_METHODS)},
    {"name": "display_labels", "type": "bool", "value": True},
    {"name": "show_bottom_axis", "type": "bool", "value": True},
    {"name": "show_left_axis", "type": "bool", "value": False},
    {"name": "show_scale_bar", "type": "bool", "value": True},
    {"name": "clipping", "type": "float", "value": 1.5, "limits": [0.0, None]},
    {"name": "channels_per_page", "type": "int", "value": 32, "limits": [1, None]},
    {"name": "first_channel", "type": "int", "value": 0, "limits": [0, None]},
    {"name": "show_status", "type": "bool", "value": True},
    {"name": "show_events", "type": "bool", "value": True},
    {"name": "event_color", "type": "color", "value": "#ffcc00"},
]

#: parameters that set the traces' scaling: set by the user before the first data, no automatic scaling
_SCALING_PARAMS = ("ylim_min", "ylim_max")
_SCALING_CHANNEL_PARAMS = ("gain", "offset")
_FIRST_SCALE_S = 0.5  # seconds of data before the automatic scaling (nothing is drawn until then)
_REFINE_S = 3.5  # seconds after the first scaling, it is refined once (a filter's start transient has gone) ...
_REFINE_SPAN_S = 2.0  # ... from the last this many seconds of data
_BAND_FILL = 0.8  # a channel's robust peak-to-peak takes this fraction of its band

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


def trace_color(index: int, count: int) -> Any:
    """Default colour of channel ``index`` of ``count``: hues around the circle, light enough to read on black.

    Parameters
    ----------
    index, count : int
        The channel and the number of channels.

    Returns
    -------
    QColor
    """
    hue = (index % max(count, 1)) / max(count, 1) * 0.85  # red to magenta, not back to red
    return QtGui.QColor.fromHslF(hue, 0.9, 0.62)


@contextlib.contextmanager
def _quiet_nan_warnings():
    """Silence numpy's all-NaN slice warnings (channels not received yet)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


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
        """Emit ``doubleclicked`` on a double click; take the click (no context menu)."""
        if ev.double():
            self.doubleclicked.emit()
        ev.accept()

    def mouseDoubleClickEvent(self, ev):
        """Emit ``doubleclicked``."""
        self.doubleclicked.emit()
        ev.accept()

    def mouseDragEvent(self, ev, axis=None):
        """Take the drag and do nothing (the view does not pan)."""
        ev.accept()

    def wheelEvent(self, ev, axis=None):
        """Emit ``gain_zoom`` with 1.3 (wheel up) or 1 / 1.3 (wheel down) instead of zooming the view."""
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
    ``scale_mode`` (what :meth:`auto_scale` does: same_for_all, the default:
    each channel in its own band, offset removed, one gain for all;
    by_channel: a gain per channel; real_scale: overlaid in the stream's
    units), ``background_color``, ``refresh_interval`` (ms),
    ``mode`` (scan: a sweep that overwrites; scroll: the newest data at the
    right), ``auto_decimate``/``decimate``, ``decimation_method``
    (pure_decimate, min_max, mean), ``display_labels`` (the channel names in
    a gutter left of the traces), ``show_bottom_axis`` (the time axis),
    ``show_left_axis`` (a numeric y axis where the names are not shown),
    ``show_scale_bar`` (an amplitude bar in the stream's units, right of the
    traces), ``clipping`` (banded traces are clamped at this many band
    heights around their centre, MNE's default 1.5; 0: never),
    ``channels_per_page``/``first_channel`` (which of the visible
    channels are shown), ``show_status`` (rate, samples dropped for display,
    latency, frame rate), ``show_events``, ``event_color``.

    ``by_channel_params[channel, key]`` with ``channel`` a channel name,
    ``'ch<i>'`` or an index and ``key`` one of ``gain``, ``offset``,
    ``visible``, ``color``; a trace is drawn at ``data * gain + offset``.

    Scaling: once :data:`_FIRST_SCALE_S` s of data have arrived (or a full
    window, if shorter; no trace is drawn before) the viewer runs
    :meth:`auto_scale` (pyacq's "auto scale on first data"), and once more
    :data:`_REFINE_S` s later, from the last :data:`_REFINE_SPAN_S` s, if the
    scale it finds then differs by more than 1.5x (a filter's start
    transient); after that the scale stays until the user changes it. A
    ``gain``, ``offset``, ``ylim_min`` or ``ylim_max`` set by the user before
    the data arrives is honoured: no automatic scaling then. Setting
    ``scale_mode`` asks for an automatic scaling in that mode (at once if
    there is data, else when it arrives).

    Keys (the plot has the focus): ``+``/``-`` gain up/down, ``PgDown``/``PgUp``
    next/previous page of channels, ``Down``/``Up`` one channel,
    ``Right``/``Left`` a longer/shorter time window, ``A`` auto scale now.
    The mouse wheel changes the gain, a double-click opens the options.

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
    >>> viewer.params["decimation_method"] = "min_max"
    >>> viewer.by_channel_params["ch0", "gain"] = 0.001
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
        self.count_paints(self.graphicsview.viewport())  # the status line's fps: frames the window painted
        self._make_plot_area()
        self.status_label = QtWidgets.QLabel("")
        self.status_label.setStyleSheet("QLabel { font-family: monospace; padding: 1px 4px; }")
        layout.addWidget(self.status_label)
        self.params_controller = None
        QtWidgets.QWidget.resize(self, 800, 500)  # offscreen and in layouts; a window on a screen: window_size

    def _make_plot_area(self) -> None:
        """Create the plot (``self.plot``, ``self.viewBox``, ``self.plots``) shown by ``self.graphicsview``.

        Its margins: :attr:`gutter` (the channel names, left), :attr:`scale_bar`
        (right) and :attr:`marker_band` (the marker labels, top).
        """
        self.viewBox = ScopeViewBox()
        self.plot = self._new_plot(self.viewBox, margins=True)
        self.plots = [self.plot]
        self.gutter: ChannelGutter = self.plot.getAxis("left")
        self.scale_bar: ScaleBarAxis = self.plot.getAxis("right")
        self.marker_band: MarkerBand = self.plot.getAxis("top")
        self.graphicsview.setCentralItem(self.plot)
        self.graphicsview.installEventFilter(self)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)

    @staticmethod
    def _new_plot(viewbox: ScopeViewBox, margins: bool = False) -> pg.PlotItem:
        axes = {"left": ChannelGutter(), "right": ScaleBarAxis(), "top": MarkerBand()} if margins else None
        plot = pg.PlotItem(viewBox=viewbox, axisItems=axes)
        plot.hideButtons()
        for side in ("left", "bottom", "right", "top"):
            plot.showAxis(side, False)
            # the margins change far less often than the traces: Qt keeps each one's pixels and repaints it
            # only when it changes (its update(): new names, bar or markers, a new range or size)
            plot.getAxis(side).setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        plot.getAxis("bottom").setLabel("time", units="s")
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
        """Check the connected stream: ``signals`` numeric, (time, channel) or 1-D; ``events`` event records."""
        params = self.inputs[inputname].params
        if inputname == "events":
            dtype = params.np_dtype
            if dtype.names is None and dtype.kind not in "iu":
                raise ValueError(
                    f"{self.name}: input 'events' has dtype {dtype}; connect an event stream "
                    "(lslacq.dsp.EVENT_DTYPE records or integer sample indexes)"
                )
            return
        frame = params.frame_shape
        if len(frame) > 1:
            raise ValueError(
                f"{self.name}: input 'signals' has shape {tuple(params.shape)}; QOscilloscope shows "
                "(time, channel) or 1-D streams (use ImageViewer for images)"
            )
        dtype = params.np_dtype
        if dtype.kind not in "iufb":
            raise ValueError(f"{self.name}: input 'signals' has dtype {dtype}; QOscilloscope needs numbers")

    def check_input_specs(self) -> None:
        """Raise if the ``signals`` stream has no sample rate (the time axis needs it)."""
        sample_rate = self.input.params.get("sample_rate")
        if not sample_rate:
            raise ValueError(
                f"{self.name}: the 'signals' stream has no sample_rate; configure the source output "
                "with sample_rate=... (the time axis needs it)"
            )

    def _initialize(self) -> None:
        params = self.input.params
        self.sample_rate = float(params["sample_rate"])
        frame = params.frame_shape
        self.nb_channel = int(frame[0]) if frame else 1
        names = [str(n) for n in (params.get("channel_names") or [])]
        if len(names) != self.nb_channel or len(set(names)) != len(names):
            names = [f"ch{i}" for i in range(self.nb_channel)]
        self.channel_names = names
        units = params.get("units") or ""
        channel_units = [u for u in (params.get("channel_units") or []) if u]
        if not units and channel_units and len(set(channel_units)) == 1:
            units = channel_units[0]
        self.units = unit_label(units)
        self._centers = np.zeros(self.nb_channel)  # each channel's level in its data (the offset removed)
        self._banded = False  # the automatic scaling laid the channels out in bands (paging re-lays them)
        self._user_scaled = False  # the user set a gain/offset/ylim: no automatic scaling
        self._auto = "first"  # automatic scaling due: 'first', 'refine', 'done'
        self._auto_at = 0  # samples received at the first automatic scaling
        # streams that declare a scale/offset are shown in physical units: offset + scale * value
        scale, offset = params.get("scale"), params.get("offset")
        self._to_physical = (
            None
            if scale is None and offset is None
            else (np.float32(1.0 if scale is None else scale), np.float32(0.0 if offset is None else offset))
        )
        self._make_params()
        self._scope = ScopeBuffer(
            self.nb_channel, self._window_samples(), self.params["decimate"], self.params["decimation_method"]
        )
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
                    child["value"] = trace_color(i, self.nb_channel)
            groups.append({"name": name, "type": "group", "children": children})
        self.by_channel_params = ByChannelParams(
            pg.parametertree.Parameter.create(name="AnalogSignals", type="group", children=groups),
            f"{self.name}.by_channel_params",
            self.channel_names,
        )
        self.all_params = pg.parametertree.Parameter.create(
            name="all param", type="group", children=[self.params.parameter, self.by_channel_params.parameter]
        )
        self.all_params.sigTreeStateChanged.connect(self.on_param_change)
        self._writing = False
        self.params.on_set = self._on_user_set
        self.by_channel_params.on_set = lambda names, value: self._on_user_set(names[1:], value)

    @contextlib.contextmanager
    def _internal(self):
        """Mark the viewer's own parameter writes (scaling, paging): no change signals, not the user's."""
        blocker = QtCore.QSignalBlocker(self.all_params)
        self._writing = True
        try:
            yield
        finally:
            self._writing = False
            blocker.unblock()

    def _on_user_set(self, names: tuple, value: Any) -> None:
        """Turn the automatic scaling off when the user sets a scaling parameter (an assignment in code)."""
        if not self._writing and names and names[-1] in _SCALING_PARAMS + _SCALING_CHANNEL_PARAMS:
            self._user_scaled = True
            if names[-1] != "gain":
                self._banded = False

    def _make_items(self) -> None:
        self.curves = []
        self.channel_labels = []
        self.traces = RasterTraces()  # dense windows: one image instead of the curves
        self.plot.addItem(self.traces, ignoreBounds=True)
        self._channel_traces = [self.traces] * self.nb_channel
        for i in range(self.nb_channel):
            self._add_channel_items(self.plot, i)
        self.gutter.fit_width(self.channel_names)
        self._event_lines: list = []

    def _add_channel_items(self, plot: pg.PlotItem, channel: int) -> None:
        """Add channel ``channel``'s curve (sparse windows) to ``plot``."""
        color = self.by_channel_params[channel, "color"]
        curve = pg.PlotCurveItem(pen=pg.mkPen(color), antialias=False)
        plot.addItem(curve)
        self.curves.append(curve)

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
            labels = [
                bytes(x).decode("ascii", "replace") if isinstance(x, bytes) else str(x)
                for x in events["label"].reshape(-1)
            ]
        else:
            labels = [""] * len(indexes)
        with self._events_lock:
            self._events.extend(zip(indexes.tolist(), labels, strict=True))
            self.n_events += len(labels)

    # -- parameters ------------------------------------------------------------------------------
    def _channel_arrays(self) -> None:
        bcp = self.by_channel_params
        self._gains = np.array(bcp.values("gain"), dtype=np.float32)
        self._offsets = np.array(bcp.values("offset"), dtype=np.float32)
        self._visibles = np.array(bcp.values("visible"), dtype=bool)
        self._colors = channel_colors(bcp.values("color"))
        self._update_page()

    def _update_page(self) -> None:
        """``_shown``: the visible channels of the current page (``channels_per_page`` from ``first_channel``)."""
        visible = np.flatnonzero(self._visibles)
        shown = np.zeros(self.nb_channel, dtype=bool)
        if "channels_per_page" in self.params:
            per_page = self.params["channels_per_page"]
            first = min(self.params["first_channel"], max(0, visible.size - per_page))
            shown[visible[first : first + per_page]] = True
        else:
            shown[visible] = True
        self._shown = shown
        if self._banded:
            self._layout_bands()

    def _layout_bands(self) -> None:
        """Stack the shown channels one unit apart (top to bottom), each at ``centre * gain`` removed."""
        shown = np.flatnonzero(self._shown)
        n = shown.size
        if n == 0:
            return
        rows = np.arange(n)[::-1].astype(np.float64)
        offsets = np.array(self.by_channel_params.values("offset"), dtype=np.float64)
        offsets[shown] = rows - self._centers[shown] * self._gains[shown]
        with self._internal():
            for c in shown:
                self.by_channel_params[int(c), "offset"] = float(offsets[c])
            self.params["ylim_min"], self.params["ylim_max"] = -0.5, n - 0.5
        self._offsets = offsets.astype(np.float32)

    def _apply_all_params(self) -> None:
        p = self.params
        if p["auto_decimate"]:
            self.estimate_decimate()
        self._channel_arrays()
        self._set_background(p["background_color"])
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
        """Restart the resize timer: a new width may call for another decimation (applied once resizing settles)."""
        super().resizeEvent(event)
        timer = getattr(self, "_resize_timer", None)
        if timer is not None:
            timer.start()

    def _after_resize(self) -> None:
        if self.initialized() and not self.closed() and self.params["auto_decimate"]:
            self.estimate_decimate()

    def _reset_scope(self) -> None:
        self._scope.reconfigure(
            size=self._window_samples(), decimate=self.params["decimate"], method=self.params["decimation_method"]
        )
        self._x_cache = None
        for traces in set(self._channel_traces):
            traces.invalidate()

    def _set_background(self, color) -> None:
        self.graphicsview.setBackground(color)
        for side in ("left", "right", "top"):
            axis = self.plot.getAxis(side)
            if hasattr(axis, "set_background"):
                axis.set_background(color)
        text = "#202020" if pg.mkColor(color).lightness() > 140 else "#d0d0d0"
        for plot in self.plots:
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setTextPen(text)
                axis.setPen(text)

    def _show_axes(self) -> None:
        """Show or hide the margins: the names or a numeric left axis, the time axis, the scale bar, the markers."""
        p = self.params
        self.plot.showAxis("left", bool(p["display_labels"] or p["show_left_axis"]))
        self.gutter.set_numeric(not p["display_labels"])
        self.plot.showAxis("bottom", bool(p["show_bottom_axis"]))
        self.plot.showAxis("right", bool(p["show_scale_bar"]))
        self.plot.showAxis("top", "events" in self.inputs and bool(p["show_events"]))

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
                if name in _SCALING_CHANNEL_PARAMS:
                    self._user_scaled = True
                    if name == "offset":
                        self._banded = False  # the user places the traces now
                self._channel_arrays()
                if name == "visible":
                    self._show_curves()
                continue
            if name in _SCALING_PARAMS:
                self._user_scaled = True
                self._banded = False
            elif name in ("channels_per_page", "first_channel"):
                self._update_page()
                self._show_curves()
            elif name == "background_color":
                self._set_background(data)
            elif name in ("xsize", "auto_decimate"):
                if self.params["auto_decimate"]:
                    self.estimate_decimate()
                scope_changed = True
            elif name in ("decimate", "decimation_method", "mode"):
                scope_changed = True
            elif name == "refresh_interval":
                self.set_refresh_interval(data)
            elif name == "scale_mode":
                self._user_scaled = False
                self.auto_scale()
            elif name in ("show_left_axis", "show_bottom_axis", "display_labels", "show_scale_bar", "show_events"):
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
        """Fit the traces in the view from the data of the window, following ``params['scale_mode']``.

        same_for_all: each shown channel in a band of its own (one unit tall,
        the first at the top), its median removed, one gain for all (from the
        median over channels of their 1st-99th percentile range: a few
        outlier samples or one dead or wild channel do not set the scale);
        by_channel: the same with a gain per channel; real_scale: gains 1,
        offsets 0 and ``ylim_min``/``ylim_max`` spanning the shown channels'
        1st-99th percentiles with a margin. Gains are rounded to a 1-2-5
        series (the scale bar then reads a round number). Without data yet,
        the scaling happens when enough has arrived.

        ``spacing_factor`` is accepted for pyacq compatibility and unused.
        """
        sigs = self.get_visible_chunk()
        if not self._scale_from(sigs):
            self._auto = "first"
            logger.info("%s: auto_scale waits for data on the visible channels", self.name)
            return
        self._auto = "done"
        self.refresh()

    def _robust_levels(self, sigs: np.ndarray, use: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Median, 1st and 99th percentiles of the ``use`` channels of ``sigs`` (NaN: not received)."""
        with np.errstate(all="ignore"), _quiet_nan_warnings():
            data = sigs[:, use].astype(np.float64)
            med = np.nanmedian(data, axis=0)
            lo, hi = np.nanpercentile(data, [1.0, 99.0], axis=0)
        return med, lo, hi

    def _scale_from(self, sigs: np.ndarray, min_change: float | None = None) -> bool:
        """Scale following ``scale_mode`` from ``sigs``; False if no shown channel has data.

        With ``min_change``, nothing changes unless some gain (or the real_scale
        range) differs from the current one by more than that factor.
        """
        use = self._shown & np.isfinite(sigs).any(axis=0)
        if not use.any():
            return False
        med, lo, hi = self._robust_levels(sigs, use)
        mode = self.params["scale_mode"]
        gains = self._gains.astype(np.float64).copy()
        if mode == "real_scale":
            low, high = float(np.min(lo)), float(np.max(hi))
            if not high > low:
                low, high = low - 1.0, high + 1.0
            margin = (high - low) * 0.1
            if min_change is not None:
                old = self.params["ylim_max"] - self.params["ylim_min"]
                if 1 / min_change < (high - low + 2 * margin) / old < min_change:
                    return True
            with self._internal():
                self.params["ylim_min"], self.params["ylim_max"] = low - margin, high + margin
                for i in range(self.nb_channel):
                    self.by_channel_params[i, "gain"] = 1.0
                    self.by_channel_params[i, "offset"] = 0.0
            self._centers[:] = 0.0
            self._centers[use] = med
            self._banded = False
            self._channel_arrays()
            return True
        spread = hi - lo
        positive = spread[spread > 0]
        typical = float(np.median(positive)) if positive.size else 1.0
        if mode == "same_for_all":
            new = np.full(spread.size, 1.0 / nice_ceil(typical / _BAND_FILL))
        else:
            spread = np.where(spread > 0, spread, typical)
            new = np.array([1.0 / nice_ceil(v / _BAND_FILL) for v in spread])
        if min_change is not None and self._banded:
            ratio = new / gains[use]
            if np.all((ratio < min_change) & (ratio > 1 / min_change)):
                return True
        gains[use] = new
        self._centers[use] = med
        with self._internal():
            for c in np.flatnonzero(use):
                self.by_channel_params[int(c), "gain"] = float(gains[c])
        self._banded = True
        self._channel_arrays()  # lays the bands out
        return True

    def _auto_scale_when_ready(self) -> None:
        """Scale automatically on the first data, and refine once later (see the class notes)."""
        if self._user_scaled:
            self._auto = "done"
            return
        window = self._window_samples()
        if self._auto == "first":
            if self._received < min(window, max(2, int(_FIRST_SCALE_S * self.sample_rate))):
                return
            if self._scale_from(self.get_visible_chunk()):
                self._auto, self._auto_at = "refine", self._received
        elif self._auto == "refine":
            if self._received - self._auto_at < max(2, int(_REFINE_S * self.sample_rate)):
                return
            span = min(window, max(2, int(_REFINE_SPAN_S * self.sample_rate)))
            head = self._scope.head
            self._scale_from(self._scope.get_raw(head - span, head), min_change=1.5)
            self._auto = "done"

    def gain_zoom(self, factor: float) -> None:
        """Zoom the traces vertically by ``factor`` (the mouse wheel, ``+``/``-``).

        Banded channels stay centred in their bands; in real_scale the y
        range shrinks around its middle.
        """
        if self.params["scale_mode"] == "real_scale" and not self._banded:
            lo, hi = self.params["ylim_min"], self.params["ylim_max"]
            mid, half = (lo + hi) / 2, (hi - lo) / 2 / factor
            with self._internal():
                self.params["ylim_min"], self.params["ylim_max"] = mid - half, mid + half
        else:
            with self._internal():
                for i in range(self.nb_channel):
                    self.by_channel_params[i, "gain"] = self.by_channel_params[i, "gain"] * factor
            self._channel_arrays()
        self._user_scaled = True  # the user's scale from now on
        self._auto = "done"
        self.refresh()

    def page_channels(self, step: int) -> None:
        """Move the page of shown channels by ``step`` channels (PgDown: +channels_per_page, Down: +1)."""
        visible = int(self._visibles.sum())
        per_page = self.params["channels_per_page"]
        first = min(max(0, self.params["first_channel"] + int(step)), max(0, visible - per_page))
        self.params["first_channel"] = first
        self.refresh()

    def change_xsize(self, factor: float) -> None:
        """Multiply the time window by ``factor`` (Right: longer, Left: shorter), within its limits."""
        low, high = self.params.param("xsize").opts["limits"]
        self.params["xsize"] = float(min(max(self.params["xsize"] * factor, low), high))

    def eventFilter(self, obj, event) -> bool:
        """Key presses on the plot go to :meth:`keyPressEvent` (the view would scroll with them)."""
        if event.type() == QtCore.QEvent.Type.KeyPress and self._handle_key(event):
            return True
        return super().eventFilter(obj, event)

    def keyPressEvent(self, event) -> None:
        """Handle the viewer's keys (gain, time window, auto scale, paging); pass the others on to the widget."""
        if not self._handle_key(event):
            super().keyPressEvent(event)

    def _handle_key(self, event) -> bool:
        if not self.initialized():
            return False
        key = QtCore.Qt.Key
        k = event.key()
        actions = {
            key.Key_Plus: lambda: self.gain_zoom(1.25),
            key.Key_Equal: lambda: self.gain_zoom(1.25),
            key.Key_Minus: lambda: self.gain_zoom(1 / 1.25),
            key.Key_Right: lambda: self.change_xsize(1.5),
            key.Key_Left: lambda: self.change_xsize(1 / 1.5),
            key.Key_A: self._auto_scale_key,
        }
        if "channels_per_page" in self.params:
            per_page = self.params["channels_per_page"]
            actions.update(
                {
                    key.Key_PageDown: lambda: self.page_channels(per_page),
                    key.Key_PageUp: lambda: self.page_channels(-per_page),
                    key.Key_Down: lambda: self.page_channels(1),
                    key.Key_Up: lambda: self.page_channels(-1),
                }
            )
        action = actions.get(k)
        if action is None:
            return False
        action()
        return True

    def _auto_scale_key(self) -> None:
        self._user_scaled = False
        self.auto_scale()

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
        return [
            (self.plot, self.traces, np.flatnonzero(self._shown), (self.params["ylim_min"], self.params["ylim_max"]))
        ]

    def _refresh(self) -> None:
        if self._auto != "done":
            self._auto_scale_when_ready()
            if self._auto == "first":  # not scaled yet: a wall of off-scale traces would be all there is to see
                self._update_status(self._scope.end * self._scope.decimate)
                return
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
        self._draw_labels(
            -n * decimate / self.sample_rate if mode == "scroll" else 0.0, self._shown, self._gains, self._offsets
        )
        self._draw_scale_bar()
        self._draw_events(end * decimate, n * decimate, mode)
        self._update_status(end * decimate)

    def _draw_plot(
        self,
        plot: pg.PlotItem,
        traces: RasterTraces,
        channels: np.ndarray,
        ylim: tuple[float, float],
        mode: str,
        end: int,
        points: Callable[[], np.ndarray],
    ) -> None:
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
        clip = self._clip_for(channels)
        traces.set_clip(clip)
        if dense:
            traces.update_traces(
                self._scope,
                end,
                self.sample_rate,
                mode,
                size,
                channels,
                self._gains[channels],
                self._offsets[channels],
                self._colors[channels],
                ylim,
            )
        else:
            self._draw_curves(mode, channels, end, points(), clip)
        xsize = n * decimate / self.sample_rate
        x0 = -xsize if mode == "scroll" else 0.0
        plot.setXRange(x0, x0 + xsize, padding=0)
        plot.setYRange(*ylim, padding=0)

    def _show_curves(self) -> None:
        """Show the curves of the visible channels, none where the traces are drawn as an image."""
        for i, curve in enumerate(self.curves):
            curve.setVisible(bool(self._shown[i]) and not self._channel_traces[i].active)

    def _clip_for(self, channels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Per drawn channel, the band limits its trace is clamped to (``clipping`` band heights), or None."""
        clipping = self.params["clipping"] if "clipping" in self.params else 0.0
        if not self._banded or not clipping:
            return None
        centers = (self._centers[channels] * self._gains[channels] + self._offsets[channels]).astype(np.float32)
        half = np.float32(clipping / 2)
        return centers - half, centers + half

    def _draw_curves(
        self,
        mode: str,
        channels: np.ndarray,
        end: int,
        pts: np.ndarray,
        clip: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Draw ``channels`` of the window's points ``pts`` (ending at point ``end``) as curves."""
        n = pts.shape[0]
        pts = pts[:, channels]
        if mode == "scan":
            shift = end % n
            pts = np.roll(pts, shift, axis=0)
            pts[shift] = np.nan  # a break at the sweep's write position
        x = self._x_vector(n, mode)
        ys = pts * self._gains[channels] + self._offsets[channels]
        if clip is not None:
            ys = np.clip(ys, clip[0], clip[1])
        ys = np.ascontiguousarray(ys.T)
        complete = np.isfinite(ys).all(axis=1)  # these skip pyqtgraph's slower NaN-aware path
        for k, c in enumerate(channels):
            if complete[k]:
                self.curves[c].setData(x, ys[k], connect="all", skipFiniteCheck=True)
            else:
                self.curves[c].setData(x, ys[k], connect="finite")

    def _draw_labels(self, x0: float, shown, gains, offsets) -> None:
        """Draw the names of the ``shown`` channels in the gutter, at their traces' levels (centre * gain + offset)."""
        if not self.params["display_labels"]:
            return
        # unchanged from the last frame (the usual case): nothing to do (reading 384 colours from the
        # parameter tree took 4 ms a frame)
        key = (
            np.asarray(shown).tobytes(),
            np.asarray(gains).tobytes(),
            np.asarray(offsets).tobytes(),
            self._centers.tobytes(),
            self._colors.tobytes(),
        )
        if key == getattr(self, "_gutter_key", None):
            return
        self._gutter_key = key
        colors = self.by_channel_params.values("color")
        entries = [
            (float(self._centers[c] * gains[c] + offsets[c]), self.channel_names[c], colors[c])
            for c in np.flatnonzero(shown)
        ]
        if entries != getattr(self, "_gutter_entries", None):
            self._gutter_entries = entries
            self.gutter.set_channels(entries)

    def scale_bar_amount(self) -> float | None:
        """Length of the scale bar in the stream's units, or None when none is drawn (unequal gains)."""
        shown = np.flatnonzero(self._shown)
        if not shown.size:
            return None
        gains = self._gains[shown].astype(np.float64)
        if np.ptp(gains) > 1e-6 * np.abs(gains).max() or not gains[0] > 0:
            return None
        gain = float(gains[0])
        span = (self.params["ylim_max"] - self.params["ylim_min"]) / gain
        per_band = span / shown.size if self._banded else span / 4
        return nice_floor(0.6 * per_band)

    def _draw_scale_bar(self) -> None:
        if not self.params["show_scale_bar"]:
            return
        amount = self.scale_bar_amount()
        if amount is None:
            self.scale_bar.set_bar(None, label="scale per channel")
            return
        gain = float(self._gains[np.flatnonzero(self._shown)[0]])
        y0 = self.params["ylim_min"] + 0.02 * (self.params["ylim_max"] - self.params["ylim_min"])
        self.scale_bar.set_bar(y0, y0 + amount * gain, f"{amount:g} {self.units}".strip())

    def event_x(self, index: int, head: int | None = None) -> float:
        """Return the x coordinate (s) at which an event at sample ``index`` is drawn, for the current mode."""
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
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(color), label="")
            line.label.setVisible(False)  # the labels are drawn in the marker band, above the traces
            self.plot.addItem(line, ignoreBounds=True)
            self._event_lines.append(line)
        band = []
        for line, (index, label) in zip(self._event_lines, shown, strict=False):  # the lines left over are hidden
            line.setPen(pg.mkPen(color))
            x = self.event_x(index, head)
            line.setPos(x)
            line.label.setFormat(label)
            line.setVisible(True)
            band.append((x, label, color))
        for line in self._event_lines[len(shown) :]:
            line.setVisible(False)
        self.marker_band.set_markers(band)

    def _update_status(self, head: int) -> None:
        now = time.monotonic()
        if self._drawn_head is not None:
            new = head - self._drawn_head
            size = self._scope.size
            if new > size:  # these samples scrolled through the window between two frames
                self.skipped_samples += new - size
        self._drawn_head = head
        samples = self._received
        self._status_history.append((now, samples, self.paints))
        t_old, s_old, f_old = self._status_history[0]
        for item in self._status_history:
            if now - item[0] <= 2.0:
                t_old, s_old, f_old = item
                break
        dt = now - t_old
        rate = (samples - s_old) / dt if dt > 0 else 0.0
        fps = (self.paints - f_old) / dt if dt > 0 else 0.0  # painted, not only refreshed
        if self._source_t0 is not None and self._scope.head:
            self.latency = max(0.0, now - (self._source_t0 + self._scope.head / self.sample_rate))
        if self.params["show_status"]:
            lost = sum(int(getattr(inp, "lost_samples", 0)) for inp in self.inputs.values())
            latency = "-" if self.latency is None else f"{self.latency * 1000:.0f} ms"
            self.status_label.setText(
                f"{rate:.1f} Hz (nominal {self.sample_rate:g})  |  dropped: stream {lost}, "
                f"display {self.skipped_samples}  |  latency {latency}  |  {fps:.0f} fps"
            )

    def frame_geometry(self) -> dict:
        """Where the last frame put things, in the pixels of :meth:`grab_array` (for tests and remote checks).

        Returns
        -------
        dict
            ``plot``: (left, top, right, bottom) of the traces' area;
            ``banded``: whether the channels are laid out in bands;
            ``bands``: per shown channel ``(name, (r, g, b), top, bottom)`` of its band
            (``top``/``bottom`` None when not banded); ``labels``: the name boxes
            (left, top, right, bottom); ``markers``: the marker label boxes;
            ``scale_bar``: its label or None; ``time_axis``: whether the time axis is shown.
        """
        ratio = self.devicePixelRatioF()
        view = self.graphicsview

        def to_px(point) -> tuple[float, float]:
            local = view.mapTo(self, view.mapFromScene(point))
            return local.x() * ratio, local.y() * ratio

        def rect_px(item, rect) -> tuple[float, float, float, float]:
            scene = item.mapRectToScene(rect)
            return to_px(scene.topLeft()) + to_px(scene.bottomRight())

        vb = self.viewBox
        (x0, x1), (y0, y1) = vb.viewRange()
        left, top = to_px(vb.mapViewToScene(QtCore.QPointF(x0, y1)))
        right, bottom = to_px(vb.mapViewToScene(QtCore.QPointF(x1, y0)))
        shown = np.flatnonzero(self._shown)
        n = shown.size
        bands = []
        for k, c in enumerate(shown):
            rgb = tuple(pg.mkColor(self.by_channel_params[int(c), "color"]).getRgb()[:3])
            if self._banded:
                band_top = to_px(vb.mapViewToScene(QtCore.QPointF(x0, n - 1 - k + 0.5)))[1]
                band_bottom = to_px(vb.mapViewToScene(QtCore.QPointF(x0, n - 1 - k - 0.5)))[1]
            else:
                band_top = band_bottom = None
            bands.append((self.channel_names[c], rgb, band_top, band_bottom))
        gutter_on = self.gutter.isVisible() and not self.gutter.numeric
        return {
            "plot": (left, top, right, bottom),
            "banded": bool(self._banded),
            "bands": bands,
            "labels": [rect_px(self.gutter, b) for b in self.gutter.boxes] if gutter_on else [],
            "markers": [rect_px(self.marker_band, b) for b in self.marker_band.boxes]
            if self.marker_band.isVisible()
            else [],
            "scale_bar": self.scale_bar.bar[2] if self.scale_bar.isVisible() and self.scale_bar.bar else None,
            "time_axis": bool(self.plot.getAxis("bottom").isVisible()),
        }

    def counters(self) -> dict:
        """Node counters plus the viewer's: ``skipped_samples`` (never displayed) and ``latency`` (s)."""
        out = super().counters()
        out["latency"] = getattr(self, "latency", None)
        out["skipped_samples"] = getattr(self, "skipped_samples", 0)
        out["events"] = getattr(self, "n_events", 0)
        return out

    def status_text(self) -> str:
        """Return the status line's text."""
        return self.status_label.text()
