"""QOscilloscopeMultiPlot: one plot per channel, stacked, each with its own y axis (pyacq's multi-plot viewer)."""

from __future__ import annotations

import functools
import logging
import math

import numpy as np

from ._qt import pg
from .qoscilloscope import OSCILLOSCOPE_CHANNEL_PARAMS, OSCILLOSCOPE_PARAMS, QOscilloscope, ScopeViewBox
from .rastertraces import RasterTraces
from .scopeaxes import legible_color

__all__ = ["MULTIPLOT_CHANNEL_PARAMS", "MULTIPLOT_PARAMS", "QOscilloscopeMultiPlot"]

logger = logging.getLogger(__name__)

_LEFT_AXIS_WIDTH = 50  # pixels
_PER_PLOT = ("ylim_max", "ylim_min", "scale_mode")  # per channel here, or meaningless with a plot per channel
_EVENTS = ("show_events", "event_color")
_SINGLE_PLOT = ("show_scale_bar", "clipping", "channels_per_page", "first_channel")  # the y axes are the scales here

#: global parameters of QOscilloscopeMultiPlot: QOscilloscope's without the y range (per channel here) and
#: the events; the axes are shown by default (pyacq's)
MULTIPLOT_PARAMS = [
    dict(p, value=True) if p["name"] in ("show_bottom_axis", "show_left_axis") else dict(p)
    for p in OSCILLOSCOPE_PARAMS
    if p["name"] not in _PER_PLOT + _EVENTS + _SINGLE_PLOT
]

#: per-channel parameters: QOscilloscope's plus the plot's y range (pyacq's)
MULTIPLOT_CHANNEL_PARAMS = [dict(p) for p in OSCILLOSCOPE_CHANNEL_PARAMS] + [
    {"name": "ylim_max", "type": "float", "value": 10.0},
    {"name": "ylim_min", "type": "float", "value": -10.0},
]


class QOscilloscopeMultiPlot(QOscilloscope):
    """Continuous oscilloscope with one plot per channel, stacked and sharing the time axis.

    The same node as :class:`QOscilloscope` (inputs, decimation, scan and
    scroll modes, status line, dialog), except that each channel has its own
    plot and y range, like pyacq's ``QOscilloscopeMultiPlot``. There is no
    ``events`` input.

    Online parameters
    -----------------
    ``params``: QOscilloscope's without ``ylim_min``/``ylim_max``,
    ``scale_mode``, ``show_events``, ``event_color``, ``show_scale_bar``
    and the paging (each plot's y axis is its scale); ``show_left_axis``
    and ``show_bottom_axis`` default to True (the time axis is drawn under
    the last visible plot only); ``display_labels`` writes each channel's
    name (and the stream's units) as its y axis's title.

    ``by_channel_params[channel, key]``: ``gain``, ``offset``, ``visible``
    (a hidden channel hides its plot), ``color``, and the plot's y range
    ``ylim_min``/``ylim_max``. The mouse wheel zooms the plot under it;
    :meth:`auto_scale` fits each plot's y range to its channel, which the
    viewer does by itself on the first data unless a ``gain``, ``offset``,
    ``ylim_min`` or ``ylim_max`` was set before (see :class:`QOscilloscope`).

    Examples
    --------
    >>> viewer = QOscilloscopeMultiPlot()
    >>> viewer.configure(with_user_dialog=True)
    >>> viewer.input.connect(device.output)
    >>> viewer.initialize()
    >>> viewer.params["decimation_method"] = "min_max"
    >>> viewer.by_channel_params["ch1", "ylim_max"] = 200.0
    >>> viewer.start()
    """

    _input_specs = {"signals": {}}
    _default_params = MULTIPLOT_PARAMS
    _default_by_channel_params = MULTIPLOT_CHANNEL_PARAMS

    def _make_plot_area(self) -> None:
        self.multiplot = pg.GraphicsLayout()
        self.multiplot.setContentsMargins(0, 0, 0, 0)
        self.graphicsview.setCentralItem(self.multiplot)
        self.graphicsview.installEventFilter(self)
        self.plots: list = []
        self.viewBoxes: list = []
        self.plot = self.viewBox = None  # the first plot, once the channels are known

    def _make_items(self) -> None:
        self.curves, self.channel_labels, self._channel_traces = [], [], []
        for i in range(self.nb_channel):
            viewbox = ScopeViewBox()
            plot = self._new_plot(viewbox)
            plot.getAxis("left").setWidth(_LEFT_AXIS_WIDTH)  # the same for all: the time axes line up
            self.multiplot.addItem(plot, row=i, col=0)
            self.plots.append(plot)
            self.viewBoxes.append(viewbox)
            traces = RasterTraces()
            plot.addItem(traces, ignoreBounds=True)
            self._channel_traces.append(traces)
            self._add_channel_items(plot, i)
        self._label_style: tuple | None = None
        self._left_width = _LEFT_AXIS_WIDTH
        self.plot, self.viewBox = self.plots[0], self.viewBoxes[0]
        self.traces = self._channel_traces[0]
        self._event_lines: list = []

    def _connect_views(self) -> None:
        for i, viewbox in enumerate(self.viewBoxes):
            if self.with_user_dialog:
                viewbox.doubleclicked.connect(self.show_params_controller)
            viewbox.gain_zoom.connect(functools.partial(self.ylim_zoom, i))

    def _channel_arrays(self) -> None:
        super()._channel_arrays()
        bcp = self.by_channel_params
        self._ylims = np.stack([bcp.values("ylim_min"), bcp.values("ylim_max")], axis=1).astype(float)

    def _show_curves(self) -> None:
        super()._show_curves()
        for plot, visible in zip(self.plots, self._visibles, strict=True):
            plot.setVisible(bool(visible))
        self._show_axes()

    def _show_axes(self) -> None:
        """Left axes on every plot; the shared time axis under the last visible plot only."""
        shown = np.flatnonzero(self._visibles)
        last = shown[-1] if shown.size else -1
        for c, plot in enumerate(self.plots):
            left = plot.getAxis("left")
            plot.showAxis("left", bool(self.params["show_left_axis"] or self.params["display_labels"]))
            left.showLabel(bool(self.params["display_labels"]))
            left.setStyle(showValues=bool(self.params["show_left_axis"]))
            plot.showAxis("bottom", bool(self.params["show_bottom_axis"] and c == last))

    def _plot_channels(self) -> list:
        return [
            (self.plots[c], self._channel_traces[c], np.array([c]), (self._ylims[c, 0], self._ylims[c, 1]))
            for c in np.flatnonzero(self._visibles)
        ]

    def _draw_labels(self, x0: float, visibles, gains, offsets) -> None:
        """Style the y axes' titles, which are the names here (see :meth:`_show_axes`), and align the axes."""
        self._style_axis_titles()
        self._align_left_axes()

    def _style_axis_titles(self) -> None:
        """Each y axis titled with its channel's name and units, in its colour made legible on the background."""
        background = self.params["background_color"]
        colors = tuple(pg.mkColor(self.by_channel_params[i, "color"]).name() for i in range(self.nb_channel))
        style = (colors, pg.mkColor(background).name())
        if style == self._label_style:
            return
        self._label_style = style
        for i, plot in enumerate(self.plots):
            plot.getAxis("left").setLabel(
                self.channel_names[i] + (f" ({self.units})" if self.units else ""),
                color=legible_color(colors[i], background).name(),
            )

    def _align_left_axes(self) -> None:
        """Give every left axis the width the widest one needs (its tick labels and title).

        The plots' time ranges then line up and no title overlaps its tick labels (an offset of 45000 uV has
        wide ticks).
        """
        needed = [_LEFT_AXIS_WIDTH]
        for plot, visible in zip(self.plots, self._visibles, strict=True):
            axis = plot.getAxis("left")
            if not visible or not axis.isVisible():
                continue
            width = max(0, axis.style["tickLength"])
            if axis.style["showValues"]:
                width += axis.textWidth + axis.style["tickTextOffset"][0]
            if axis.label.isVisible():
                width += axis.label.boundingRect().height() * 0.8
            needed.append(width)
        width = int(math.ceil(max(needed)))
        if width != self._left_width:
            self._left_width = width
            for plot in self.plots:
                plot.getAxis("left").setWidth(width)

    def _draw_scale_bar(self) -> None:
        """Each plot's y axis is its scale."""

    # -- scaling -----------------------------------------------------------------------------------
    def auto_scale(self, spacing_factor: float = 9.0) -> None:
        """Fit each visible plot's y range to its channel's data in the window.

        The range spans the 1st-99th percentiles of ``data * gain + offset``
        with 10 % margins (a few outlier samples do not set it).
        ``spacing_factor`` is accepted for pyacq compatibility and unused.
        """
        if not self._scale_from(self.get_visible_chunk()):
            logger.info("%s: auto_scale waits for data", self.name)
            self._auto = "first"
            return
        self._auto = "done"
        self.refresh()

    def _scale_from(self, sigs: np.ndarray, min_change: float | None = None) -> bool:
        use = self._visibles & np.isfinite(sigs).any(axis=0)
        if not use.any():
            return False
        shown = sigs * self._gains + self._offsets
        _, lo, hi = self._robust_levels(shown, use)
        with self._internal():
            for k, c in enumerate(np.flatnonzero(use)):
                low, high = float(lo[k]), float(hi[k])
                if not high > low:
                    low, high = low - 1.0, high + 1.0
                margin = (high - low) * 0.1
                old = self._ylims[c, 1] - self._ylims[c, 0]
                if min_change is not None and 1 / min_change < (high - low + 2 * margin) / old < min_change:
                    continue
                self.by_channel_params[int(c), "ylim_min"] = low - margin
                self.by_channel_params[int(c), "ylim_max"] = high + margin
        self._channel_arrays()
        return True

    def ylim_zoom(self, channel: int, factor: float) -> None:
        """Zoom the y range of one channel's plot around its centre (what the mouse wheel over it does).

        Parameters
        ----------
        channel : int
            Index of the channel (and of its plot).
        factor : float
            Zoom factor: the range becomes ``1 / factor`` as tall (> 1 zooms in).
        """
        self._zoom([channel], factor)

    def gain_zoom(self, factor: float) -> None:
        """Zoom the y range of every plot around its centre.

        Parameters
        ----------
        factor : float
            Zoom factor: each range becomes ``1 / factor`` as tall (> 1 zooms in).
        """
        self._zoom(range(self.nb_channel), factor)

    def _zoom(self, channels, factor: float) -> None:
        self._user_scaled = True
        self._auto = "done"
        for c in channels:
            lo, hi = self._ylims[c]
            mid, half = (lo + hi) / 2, (hi - lo) / 2 / factor
            self.by_channel_params[c, "ylim_min"] = float(mid - half)
            self.by_channel_params[c, "ylim_max"] = float(mid + half)
        self.refresh()
