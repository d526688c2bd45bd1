"""QOscilloscopeMultiPlot: one plot per channel, stacked, each with its own y axis (pyacq's multi-plot viewer)."""

from __future__ import annotations

import functools
import logging

import numpy as np

from ._qt import QtCore, pg
from .qoscilloscope import OSCILLOSCOPE_CHANNEL_PARAMS, OSCILLOSCOPE_PARAMS, QOscilloscope, ScopeViewBox
from .rastertraces import RasterTraces

__all__ = ["MULTIPLOT_CHANNEL_PARAMS", "MULTIPLOT_PARAMS", "QOscilloscopeMultiPlot"]

logger = logging.getLogger(__name__)

_LEFT_AXIS_WIDTH = 50  # pixels
_PER_PLOT = ("ylim_max", "ylim_min", "scale_mode")  # per channel here, or meaningless with a plot per channel
_EVENTS = ("show_events", "event_color")

#: global parameters of QOscilloscopeMultiPlot: QOscilloscope's without the y range (per channel here) and
#: the events; the axes are shown by default (pyacq's)
MULTIPLOT_PARAMS = [
    dict(p, value=True) if p["name"] in ("show_bottom_axis", "show_left_axis") else dict(p)
    for p in OSCILLOSCOPE_PARAMS if p["name"] not in _PER_PLOT + _EVENTS
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
    ``scale_mode``, ``show_events`` and ``event_color``; ``show_left_axis``
    and ``show_bottom_axis`` default to True (the time axis is drawn under
    the last visible plot only).

    ``by_channel_params[channel, key]``: ``gain``, ``offset``, ``visible``
    (a hidden channel hides its plot), ``color``, and the plot's y range
    ``ylim_min``/``ylim_max``. The mouse wheel zooms the plot under it;
    :meth:`auto_scale` fits each plot's y range to its channel.

    Examples
    --------
    >>> viewer = QOscilloscopeMultiPlot()
    >>> viewer.configure(with_user_dialog=True)
    >>> viewer.input.connect(device.output)
    >>> viewer.initialize()
    >>> viewer.params['decimation_method'] = 'min_max'
    >>> viewer.by_channel_params['ch1', 'ylim_max'] = 200.0
    >>> viewer.start()
    """

    _input_specs = {"signals": {}}
    _default_params = MULTIPLOT_PARAMS
    _default_by_channel_params = MULTIPLOT_CHANNEL_PARAMS

    def _make_plot_area(self) -> None:
        self.multiplot = pg.GraphicsLayout()
        self.multiplot.setContentsMargins(0, 0, 0, 0)
        self.graphicsview.setCentralItem(self.multiplot)
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
        for plot, visible in zip(self.plots, self._visibles):
            plot.setVisible(bool(visible))
        self._show_axes()

    def _show_axes(self) -> None:
        """Left axes on every plot; the shared time axis under the last visible plot only."""
        shown = np.flatnonzero(self._visibles)
        last = shown[-1] if shown.size else -1
        for c, plot in enumerate(self.plots):
            plot.showAxis("left", self.params["show_left_axis"])
            plot.showAxis("bottom", bool(self.params["show_bottom_axis"] and c == last))

    def _plot_channels(self) -> list:
        return [(self.plots[c], self._channel_traces[c], np.array([c]), (self._ylims[c, 0], self._ylims[c, 1]))
                for c in np.flatnonzero(self._visibles)]

    def _draw_labels(self, x0: float, visibles, gains, offsets) -> None:
        show = self.params["display_labels"]
        for c, label in enumerate(self.channel_labels):
            label.setVisible(bool(show and visibles[c]))
            if show and visibles[c]:
                label.setPos(x0, float(self._ylims[c].mean()))

    # -- scaling -----------------------------------------------------------------------------------
    def auto_scale(self, spacing_factor: float = 9.0) -> None:
        """Fit each visible plot's y range to its channel's data in the window (5 % margins).

        ``spacing_factor`` is accepted for pyacq compatibility and unused.
        """
        sigs = self.get_visible_chunk()
        blocker = QtCore.QSignalBlocker(self.all_params)
        try:
            for c in np.flatnonzero(self._visibles):
                values = sigs[:, c] * self._gains[c] + self._offsets[c]
                values = values[np.isfinite(values)]
                if values.size == 0:
                    logger.info("%s: auto_scale left channel %s as it is: no data received yet", self.name,
                                self.channel_names[c])
                    continue
                lo, hi = float(values.min()), float(values.max())
                if lo == hi:
                    lo, hi = lo - 1.0, hi + 1.0
                margin = (hi - lo) * 0.05
                self.by_channel_params[c, "ylim_min"] = lo - margin
                self.by_channel_params[c, "ylim_max"] = hi + margin
        finally:
            blocker.unblock()
        self._channel_arrays()
        self.refresh()

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
        for c in channels:
            lo, hi = self._ylims[c]
            mid, half = (lo + hi) / 2, (hi - lo) / 2 / factor
            self.by_channel_params[c, "ylim_min"] = float(mid - half)
            self.by_channel_params[c, "ylim_max"] = float(mid + half)
        self.refresh()
