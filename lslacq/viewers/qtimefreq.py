"""QTimeFreq: Morlet wavelet spectrogram of every channel (pyacq manual 5.4.2)."""

from __future__ import annotations

import functools
import logging
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..core.stream import InputStream
from ..core.tools import StreamConverter
from ._qt import QtCore, QtWidgets, pg
from .colormaps import COLORMAPS, lookup_table
from .morlet import MorletEngine, TimeFreqParams
from .params import ByChannelParams, ParamGroup, make_group
from .scopeaxes import unit_label
from .timefreqworker import TimeFreqWorker
from .widgetnode import InputPoller, WidgetNode

__all__ = ["QTimeFreq", "TimeFreqWorker"]

logger = logging.getLogger(__name__)

_TIMEFREQ_KEYS = tuple(TimeFreqParams.__dataclass_fields__)

default_params = [
    {"name": "xsize", "type": "float", "value": 10.0, "step": 0.1, "limits": (0.1, 60.0)},
    {"name": "nb_column", "type": "int", "value": 1, "limits": (1, 64)},
    {"name": "background_color", "type": "color", "value": "k"},
    {"name": "colormap", "type": "list", "value": "jet", "limits": COLORMAPS},
    {"name": "refresh_interval", "type": "int", "value": 500, "limits": (5, 10_000)},
    {"name": "show_axis", "type": "bool", "value": True},
    {"name": "freq_scale", "type": "list", "value": "linear", "limits": ["linear", "log"]},
    {"name": "show_colorbar", "type": "bool", "value": True},
    {
        "name": "timefreq",
        "type": "group",
        "children": [
            {"name": "f_start", "type": "float", "value": 3.0, "step": 1.0},
            {"name": "f_stop", "type": "float", "value": 90.0, "step": 1.0},
            {"name": "deltafreq", "type": "float", "value": 3.0, "step": 1.0, "limits": (0.001, 1e6)},
            {"name": "f0", "type": "float", "value": 2.5, "step": 0.1},
            {"name": "normalisation", "type": "float", "value": 0.0, "step": 0.1},
        ],
    },
]

default_by_channel_params = [
    {"name": "visible", "type": "bool", "value": True},
    {"name": "clim", "type": "float", "value": 1.0},
    {"name": "colormap", "type": "list", "value": "jet", "limits": COLORMAPS},
]


class _TimeFreqViewBox(pg.ViewBox):
    """ViewBox without pan/zoom: double-click opens the dialog, the wheel scales clim."""

    def __init__(self, viewer: QTimeFreq):
        super().__init__(enableMenu=False)
        self.setMouseEnabled(False, False)
        self._viewer = viewer

    def mouseDoubleClickEvent(self, ev) -> None:  # noqa: N802 - Qt's name
        self._viewer.show_params_controller()
        ev.accept()

    def wheelEvent(self, ev, axis=None) -> None:  # noqa: N802 - Qt's name
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        self._viewer.clim_zoom(1.2 if delta < 0 else 1 / 1.2)
        ev.accept()


class QTimeFreq(WidgetNode):
    """Time-frequency display (Morlet scalogram) of every channel of a signal stream.

    One :class:`TimeFreqWorker` per channel computes the maps, in this
    process (``nodegroup_friends=None``) or spread over other NodeGroups
    (``nodegroup_friends=[ng1, ng2, ...]``, channel ``i`` in
    ``nodegroup_friends[i % len]``). Workers read the signal from shared
    memory with ``axisorder=(1, 0)``; an input in another layout goes through a
    :class:`~lslacq.core.tools.StreamConverter` first, created by the viewer.

    Every ``refresh_interval`` ms the viewer asks each visible worker for the
    map of the last ``xsize`` seconds; a map is drawn as soon as it arrives.
    Workers that cannot keep up skip maps (never samples); the source's pace
    never depends on the viewer (the converter's shared ring overwrites
    instead of waiting).

    Parameters (``viewer.params``, pyacq's names): ``xsize`` (s),
    ``nb_column``, ``background_color``, ``colormap`` (sets every channel's),
    ``refresh_interval`` (ms), ``show_axis`` (default True here: the time
    axis in s, the frequency axis in Hz and the channel's name as title),
    ``freq_scale`` (``'linear'`` or ``'log'``: frequencies spaced
    logarithmically, the map resampled to that grid), ``show_colorbar`` (a
    colour bar right of each map, ``0..clim`` in the stream's units) and the
    ``timefreq`` group (``f_start``, ``f_stop``, ``deltafreq``, ``f0``,
    ``normalisation``).
    Per channel (``viewer.by_channel_params['Signal0', 'clim']``):
    ``visible``, ``clim`` (amplitude of the top colour), ``colormap``.
    Everything may change while running; changing ``xsize`` or ``timefreq``
    rebuilds the workers.

    Examples
    --------
    >>> viewer = QTimeFreq()
    >>> viewer.configure(with_user_dialog=True, nodegroup_friends=None)
    >>> viewer.input.connect(device.output)
    >>> viewer.initialize()
    >>> viewer.show()
    >>> viewer.start()
    >>> viewer.params["timefreq", "f_stop"] = 40.0
    """

    _input_specs = {"signal": dict(streamtype="analogsignal")}
    _default_params = default_params
    _default_by_channel_params = default_by_channel_params

    _map_ready = QtCore.Signal(int)

    def __init__(self, name: str = "", parent: Any = None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        layout = QtWidgets.QVBoxLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.setLayout(layout)
        self.graphiclayout = pg.GraphicsLayoutWidget()
        layout.addWidget(self.graphiclayout)
        self.status = QtWidgets.QLabel("")
        layout.addWidget(self.status)
        self._map_ready.connect(self._draw_map)
        self.plots: list = []
        self.images: list = []
        self._timefreq_workers: list = []
        self.conv = None
        self.params_controller = None

    @property
    def workers(self) -> list:
        """The ``TimeFreqWorker`` of each channel (local nodes or proxies), as pyacq's ``viewer.workers``.

        Not :class:`~lslacq.core.node.Node`'s background workers (the viewer
        registers none): this name is pyacq's.
        """
        return self._timefreq_workers

    @workers.setter
    def workers(self, value: list) -> None:
        self._timefreq_workers = value

    # -- configuration -------------------------------------------------------------------------
    def _configure(
        self,
        with_user_dialog: bool = True,
        max_xsize: float = 60.0,
        nodegroup_friends: list | None = None,
        fft_workers: int = 1,
    ) -> None:
        try:
            max_xsize = float(max_xsize)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name}: max_xsize={max_xsize!r} must be a number of seconds") from None
        if not max_xsize > 0:
            raise ValueError(f"{self.name}: max_xsize={max_xsize} must be positive")
        if nodegroup_friends is not None and len(nodegroup_friends) == 0:
            raise ValueError(
                f"{self.name}: nodegroup_friends is empty; pass None to compute in this process or a list of NodeGroups"
            )
        self.with_user_dialog = bool(with_user_dialog)
        self.max_xsize = max_xsize
        self.nodegroup_friends = None if nodegroup_friends is None else list(nodegroup_friends)
        self.local_workers = self.nodegroup_friends is None
        self.fft_workers = fft_workers

    def after_input_connect(self, inputname: str) -> None:
        """Check that the signal is (time, channel) or 1-D and has a sample rate."""
        params = self.input.params
        if len(params.frame_shape) > 1:
            raise ValueError(
                f"{self.name}: QTimeFreq displays (time, channel) or 1-D signals, got shape {params.shape}"
            )
        if not params.sample_rate:
            raise ValueError(
                f"{self.name}: the input stream has no sample_rate; configure the source's output with sample_rate=..."
            )

    def _initialize(self) -> None:
        params = self.input.params
        self.sample_rate = float(params.sample_rate)
        self.nb_channel = params.nb_channel
        names = params.get("channel_names") or []
        self.channel_names = (
            [str(n) for n in names] if len(names) == self.nb_channel else [f"Signal{i}" for i in range(self.nb_channel)]
        )
        units = params.get("units") or ""
        channel_units = [u for u in (params.get("channel_units") or []) if u]
        if not units and channel_units and len(set(channel_units)) == 1:
            units = channel_units[0]
        self.units = unit_label(units)
        self.colorbars: list = []
        self._make_params()
        self.add_poller("signal", self._on_signal)
        self.head = 0
        self.maps_drawn = 0
        self.skipped_draws = 0
        self._maps: list = [None] * self.nb_channel
        self._map_inputs: list[InputStream] = []
        self._map_pollers: list[InputPoller] = []
        self._rebuild_pending = False
        self.settings_error = ""  # the last refused setting (shown in the status line)
        self._remote_counters: dict = {}  # channel -> Future of a remote worker's counters()
        try:
            self._source = self._signal_source()
            self._create_workers()
        except BaseException:  # release what was built (a converter, some workers) before failing
            self._close()
            raise
        self.create_grid()
        self.set_refresh_interval(self.params["refresh_interval"])

    def _make_params(self) -> None:
        self.params = ParamGroup(make_group("Global options", self._default_params), f"{self.name}.params")
        self.params.param("xsize").setLimits((16.0 / self.sample_rate, self.max_xsize))
        if self.params["xsize"] > self.max_xsize:
            self.params["xsize"] = self.max_xsize
        nyquist = self.sample_rate / 2
        if self.params["timefreq", "f_stop"] > nyquist:  # pyacq's default (90 Hz) on a slow stream
            self.params["timefreq", "f_stop"] = nyquist
        channels = [
            {"name": name, "type": "group", "children": [dict(c) for c in self._default_by_channel_params]}
            for name in self.channel_names
        ]
        self.by_channel_params = ByChannelParams(
            make_group("AnalogSignals", channels), f"{self.name}.by_channel_params", self.channel_names
        )
        for i, name in enumerate(self.channel_names):  # pyacq's QTimeFreq names channels 'Signal<i>'
            self.by_channel_params._aliases.setdefault(f"Signal{i}", name)
        self.all_params = pg.parametertree.Parameter.create(
            name="all params", type="group", children=[self.params.parameter, self.by_channel_params.parameter]
        )
        self.all_params.sigTreeStateChanged.connect(self.on_param_change)

    def _timefreq(self) -> dict:
        return {key: float(self.params["timefreq", key]) for key in _TIMEFREQ_KEYS}

    def _history_needed(self, engine: MorletEngine) -> int:
        """Return the samples the workers' shared ring must hold for ``engine``: its window plus the worker's slack."""
        return engine.window_size + max(engine.window_size // 2, int(2 * self.sample_rate))

    def _signal_source(self) -> dict:
        """Params of the sharedmem, channel-major stream the workers read (a converter's if needed).

        The converter's ring holds what the current ``xsize`` and ``timefreq``
        need (not ``max_xsize``: at 32 channels x 20 kHz that was 490 MB to
        allocate and fill); a later setting that needs more replaces it
        (:meth:`_apply_rebuild`).
        """
        params = self.input.params
        engine = MorletEngine(self.sample_rate, float(self.params["xsize"]), self._timefreq())
        needed = self._history_needed(engine)
        layout = (1, 0) if params.frame_shape else None  # channel-major (a 1-D stream has one layout)
        if (
            params.transfermode == "sharedmem"
            and (layout is None or tuple(params.axisorder or ()) == layout)
            and params.double
            and int(params.buffer_size or 0) >= needed
        ):
            self._source_size = int(params.buffer_size)
            return params.to_dict()
        self.conv = StreamConverter(name=f"{self.name}-converter")
        self.conv.configure()
        self.conv.input.connect(params.to_dict())
        # never block the source: if a worker's process stalls, overwrite rather than wait for it
        self.conv.output.configure(
            protocol="tcp",
            interface="127.0.0.1",
            transfermode="sharedmem",
            axisorder=layout,
            double=True,
            buffer_size=needed,
            on_full="latest",
        )
        self.conv.initialize()
        self._source_size = needed
        return self.conv.output.params.to_dict()

    def _replace_source(self, running: bool) -> None:
        """Make a source with room for the current settings: close the old converter, make a larger one."""
        if self.conv is not None:
            if running:
                self.conv.stop()
            self.conv.close()
            self.conv = None
        self._source = self._signal_source()
        if running and self.conv is not None:
            self.conv.start()

    # -- workers -------------------------------------------------------------------------------------
    def _create_workers(self) -> None:
        xsize, timefreq = float(self.params["xsize"]), self._timefreq()
        MorletEngine(self.sample_rate, xsize, timefreq)  # raises a clear error before any worker exists
        for i in range(self.nb_channel):
            worker_name = f"{self.name}-timefreq{i}"
            if self.local_workers:
                worker = TimeFreqWorker(name=worker_name)
                worker.failed.connect(lambda exc, i=i: self._report_error(exc, context=f"computing channel {i}"))
            else:
                group = self.nodegroup_friends[i % len(self.nodegroup_friends)]
                # works whether or not the lslacq.nodes entry points are installed in that process
                group.register_node_type_from_module("lslacq.viewers.timefreqworker", "TimeFreqWorker")
                worker = group.create_node("TimeFreqWorker", name=worker_name)
            self.workers.append(worker)
            worker.configure(
                channel=i,
                xsize=xsize,
                timefreq=timefreq,
                max_xsize=self.max_xsize,
                local=self.local_workers,
                fft_workers=self.fft_workers,
            )
            try:
                worker.input.connect(self._source)
            except Exception as exc:
                if self.local_workers:
                    raise
                raise RuntimeError(
                    f"{self.name}: TimeFreqWorker {i} in nodegroup {i % len(self.nodegroup_friends)} "
                    f"of nodegroup_friends cannot read the signal ({exc}); the workers read this "
                    "process's shared memory, so nodegroup_friends must run on this machine"
                ) from exc
            worker.output.configure(
                protocol="inproc" if self.local_workers else "tcp",
                interface="127.0.0.1",
                transfermode="plaindata",
                on_full="latest",
                hwm=2,
            )
            worker.initialize()
            map_input = InputStream(name=f"map{i}")
            map_input.connect(worker.output, latest_only=True)  # an older map is never worth waiting for
            self._map_inputs.append(map_input)
        params = self._map_inputs[0].params
        self.freqs = np.asarray(params["freqs"], dtype=float)
        self.times = np.asarray(params["times"], dtype=float)

    def _close_workers(self) -> None:
        for map_input in self._map_inputs:
            map_input.close()
        self._map_inputs = []
        for i, worker in enumerate(self.workers):
            try:
                worker.close()
                if not self.local_workers:
                    self.nodegroup_friends[i % len(self.nodegroup_friends)].remove_node(worker)
            except Exception:
                logger.exception("%s: closing worker %d failed", self.name, i)
        self.workers = []
        self._remote_counters = {}
        self._maps = [None] * self.nb_channel

    def _start_workers(self) -> None:
        for worker in self.workers:
            worker.start()
        for i, map_input in enumerate(self._map_inputs):
            poller = InputPoller(map_input, lambda index, data, i=i: self._on_map(i, data), name=f"{self.name}-map{i}")
            poller.failed.connect(lambda exc, i=i: self._report_error(exc, context=f"receiving map {i}"))
            self._map_pollers.append(poller)
            poller.start()

    def _stop_workers(self) -> None:
        for poller in self._map_pollers:
            poller.stop()
        for poller in self._map_pollers:
            if not poller.wait(10):
                logger.error("%s: thread %s did not stop within 10 s", self.name, poller.name)
        self._map_pollers = []
        for worker in self.workers:
            try:
                worker.stop()
            except Exception:
                logger.exception("%s: stopping worker %s failed", self.name, worker)

    # -- lifecycle -------------------------------------------------------------------------------------
    def _start(self) -> None:
        if self.conv is not None:
            self.conv.start()
        self._start_workers()
        super()._start()

    def _stop(self) -> None:
        super()._stop()
        self._stop_workers()
        if self.conv is not None:
            self.conv.stop()

    def _close(self) -> None:
        if self.params_controller is not None:
            self.params_controller.close()
        self._close_workers()
        if self.conv is not None:
            self.conv.close()
            self.conv = None

    # -- data ----------------------------------------------------------------------------------------------
    def _on_signal(self, index: int, data: Any) -> None:
        self.head = index  # poller thread: only note how far the stream is

    def _on_map(self, i: int, data: np.ndarray) -> None:
        if self._maps[i] is not None:
            self.skipped_draws += 1  # the previous map was never drawn: the GUI is behind
        self._maps[i] = data[-1]
        self._map_ready.emit(i)

    def _refresh(self) -> None:
        """Ask every visible channel's worker for the map ending at the current head."""
        if self._rebuild_pending:
            return
        head = int(self.head)
        for i, worker in enumerate(self.workers):
            if not self.by_channel_params.children()[i]["visible"]:
                continue
            if self.local_workers:
                worker.compute_one_map(head)
            else:
                worker.compute_one_map(head, _sync="off")
        self._update_status()

    def compute_maps(self) -> None:
        """Request one refresh (pyacq's name for :meth:`refresh`)."""
        self.refresh()

    def _draw_map(self, i: int) -> None:
        tf_map = self._maps[i]
        self._maps[i] = None
        if tf_map is None or i >= len(self.images) or self.images[i] is None:
            return
        if tf_map.shape != (self.times.size, self.freqs.size):
            return  # from workers being replaced
        if self._log_rows is not None:
            tf_map = tf_map[:, self._log_rows]
        self.images[i].setImage(tf_map, autoLevels=False)
        self.maps_drawn += 1

    def _poll_remote_workers(self) -> list[float]:
        """Fetch the counters of workers in other processes without waiting.

        Each refresh collects the answers to the previous one's requests; a worker's failure is reported by
        the viewer.
        """
        times = []
        for i, worker in enumerate(self.workers):
            future = self._remote_counters.get(i)
            if future is not None and future.done():
                del self._remote_counters[i]
                try:
                    counters = future.result()
                except Exception as exc:  # the worker's process is gone or unreachable
                    self._report_error(exc, context=f"asking worker {i} for its counters")
                    continue
                if counters.get("error"):
                    self._report_error(
                        RuntimeError(f"TimeFreqWorker {i} failed in its NodeGroup: {counters['error']}"),
                        context=f"computing channel {i}",
                    )
                if counters.get("compute_time"):
                    times.append(float(counters["compute_time"]))
            if i not in self._remote_counters:
                self._remote_counters[i] = worker.counters(_sync="async")
        return times

    def _update_status(self) -> None:
        if self.local_workers:
            compute = [w.compute_time for w in self.workers if getattr(w, "compute_time", 0)]
        else:
            compute = self._poll_remote_workers()
        text = f"{self.maps_drawn} maps drawn, {self.skipped_draws} skipped"
        if compute:
            text += f", transform {1000 * max(compute):.1f} ms"
        if self.settings_error:
            text += f"  |  {self.settings_error}"
        self.status.setText(text)

    def counters(self) -> dict:
        """Node counters plus ``maps_drawn`` and ``skipped_draws`` (maps replaced before being drawn)."""
        out = super().counters()
        out["maps_drawn"] = getattr(self, "maps_drawn", 0)
        out["skipped_draws"] = getattr(self, "skipped_draws", 0)
        return out

    # -- display ---------------------------------------------------------------------------------------------
    def create_grid(self) -> None:
        """(Re)build one plot per visible channel, ``nb_column`` per row (each with its axes and colour bar)."""
        self.graphiclayout.clear()
        self.graphiclayout.setBackground(self.params["background_color"])
        self.plots = [None] * self.nb_channel
        self.images = [None] * self.nb_channel
        self.colorbars = [None] * self.nb_channel
        visible = [i for i in range(self.nb_channel) if self.by_channel_params.children()[i]["visible"]]
        show_axis = bool(self.params["show_axis"])
        log = self.params["freq_scale"] == "log"
        text = "#202020" if pg.mkColor(self.params["background_color"]).lightness() > 140 else "#d0d0d0"
        for i in visible:
            plot = pg.PlotItem(viewBox=_TimeFreqViewBox(self), axisItems={"left": _FrequencyAxis("left")})
            plot.hideButtons()
            plot.showAxis("left", show_axis)
            plot.showAxis("bottom", show_axis)
            if show_axis:
                plot.setTitle(self.channel_names[i], color=text)
                plot.setLabel("bottom", "time", units="s")
                plot.setLabel("left", "frequency (Hz)")
                plot.getAxis("left").setLogMode(log)
                for side in ("left", "bottom"):
                    plot.getAxis(side).setTextPen(text)
                    plot.getAxis(side).setPen(text)
            image = pg.ImageItem()
            plot.addItem(image)
            self.plots[i] = plot
            self.images[i] = image
            if self.params["show_colorbar"]:
                channel = self.by_channel_params.children()[i]
                label = f"amplitude ({self.units})" if self.units else "amplitude"
                bar = pg.ColorBarItem(
                    values=(0.0, float(channel["clim"])),
                    colorMap=_colormap(channel["colormap"]),
                    label=label,
                    interactive=False,
                    width=14,
                )
                bar.setImageItem(image, insert_in=plot)
                bar.axis.setTextPen(text)  # the values
                bar.axis.setPen(text)
                bar.getAxis("left").setLabel(label, color=text)  # where pyqtgraph puts a vertical bar's label
                self.colorbars[i] = bar
        self.place_plots()
        self.initialize_plots()

    def place_plots(self) -> None:
        """Lay the plots out ``nb_column`` per row (what a change of ``nb_column`` does, without rebuilding them)."""
        ncol = int(self.params["nb_column"])
        grid = self.graphiclayout.ci
        with _one_layout_pass(grid):
            grid.clear()
            for k, plot in enumerate(p for p in self.plots if p is not None):
                grid.addItem(plot, row=k // ncol, col=k % ncol)

    def initialize_plots(self) -> None:
        """Place each image on its time/frequency axes with its colormap and clim."""
        self._log_rows = None
        if self.times.size == 0 or self.freqs.size == 0:
            return
        dt = self.times[1] - self.times[0] if self.times.size > 1 else 1.0 / self.sample_rate
        df = self.freqs[1] - self.freqs[0] if self.freqs.size > 1 else 1.0
        x0, width = self.times[0] - dt / 2, dt * self.times.size
        n_rows = self.freqs.size
        if self.params["freq_scale"] == "log" and self.freqs[0] > 0 and self.freqs.size > 1:
            # rows spaced evenly in log10(f), each taking the nearest computed frequency
            lo, hi = np.log10(self.freqs[0]), np.log10(self.freqs[-1])
            n_rows = max(self.freqs.size, 64)
            step = (hi - lo) / (n_rows - 1)
            log_f = lo + step * np.arange(n_rows)
            self._log_rows = np.clip(np.round((10**log_f - self.freqs[0]) / df), 0, self.freqs.size - 1).astype(int)
            y0, height = lo - step / 2, step * n_rows
        else:
            y0, height = self.freqs[0] - df / 2, df * self.freqs.size
        for i, image in enumerate(self.images):
            if image is None:
                continue
            channel = self.by_channel_params.children()[i]
            image.setImage(
                np.zeros((self.times.size, n_rows), dtype=np.float32),
                lut=lookup_table(channel["colormap"]),
                levels=(0.0, float(channel["clim"])),
            )
            image.setRect(QtCore.QRectF(x0, y0, width, height))
            self.plots[i].setXRange(x0, x0 + width, padding=0)
            self.plots[i].setYRange(y0, y0 + height, padding=0)

    def axis_ranges(self, channel: int = 0) -> dict:
        """Return the time (s) and frequency (Hz) ranges channel ``channel``'s plot shows, and its colour bar's range.

        Returns
        -------
        dict
            ``{'time': (t0, t1), 'frequency': (f0, f1), 'colorbar': (low, high) or None}``.
        """
        plot = self.plots[channel]
        (x0, x1), (y0, y1) = plot.vb.viewRange()
        if self.params["freq_scale"] == "log":
            y0, y1 = 10**y0, 10**y1
        bar = self.colorbars[channel] if channel < len(self.colorbars) else None
        return {"time": (x0, x1), "frequency": (y0, y1), "colorbar": None if bar is None else tuple(bar.levels())}

    def on_param_change(self, params, changes) -> None:
        """React to parameter changes: colours and levels at once; the grid, the plots' places or the workers remade."""
        rebuild_workers = rebuild_grid = replace = False
        for param, change, data in changes:
            if change != "value":
                continue
            name = param.name()
            if name == "background_color":
                self.graphiclayout.setBackground(data)
            elif name == "refresh_interval":
                self.set_refresh_interval(data)
            elif name == "colormap" and param.parent() is self.params.parameter:
                for channel in self.by_channel_params.children():
                    channel["colormap"] = data
            elif name in ("clim", "colormap"):
                i = self.by_channel_params.children().index(param.parent())
                image = self.images[i] if i < len(self.images) else None
                if image is not None:
                    channel = param.parent()
                    image.setLookupTable(lookup_table(channel["colormap"]))
                    image.setLevels((0.0, float(channel["clim"])))
                    bar = self.colorbars[i] if i < len(self.colorbars) else None
                    if bar is not None:
                        bar.setColorMap(_colormap(channel["colormap"]))
                        bar.setLevels((0.0, float(channel["clim"])))
                        image.setLookupTable(lookup_table(channel["colormap"]))
            elif name in ("xsize",) + _TIMEFREQ_KEYS:
                rebuild_workers = True
            elif name == "nb_column":
                replace = True
            elif name in ("visible", "show_axis", "freq_scale", "show_colorbar"):
                rebuild_grid = True
        if rebuild_workers and not self._rebuild_pending:
            self._rebuild_pending = True
            QtCore.QTimer.singleShot(0, self._apply_rebuild)
        elif rebuild_grid:
            self.create_grid()
        elif replace:
            self.place_plots()

    def _apply_rebuild(self) -> None:
        """Replace the workers after an ``xsize`` or ``timefreq`` change (an invalid value keeps the old ones)."""
        self._rebuild_pending = False
        try:
            engine = MorletEngine(self.sample_rate, float(self.params["xsize"]), self._timefreq())
        except ValueError as exc:
            logger.error("%s: %s; the display keeps its previous settings", self.name, exc)
            self.settings_error = f"invalid setting: {exc}"
            self._update_status()
            return
        self.settings_error = ""
        running = self.running()
        if running:
            self._stop_workers()
        self._close_workers()
        try:
            if self._history_needed(engine) > self._source_size:  # a longer xsize or a lower f_start
                self._replace_source(running)
            self._create_workers()
        except Exception as exc:  # e.g. a friend NodeGroup died: say so, keep the window
            self._close_workers()
            self._report_error(exc, context="creating the time-frequency workers")
            return
        if running:
            self._start_workers()
        self.create_grid()

    # -- user helpers -------------------------------------------------------------------------------------------
    def show_params_controller(self) -> None:
        """Open the parameter dialog (double-click on a plot does it when ``with_user_dialog``)."""
        if not self.with_user_dialog:
            return
        if self.params_controller is None:
            self.params_controller = TimeFreqController(viewer=self)
        self.params_controller.show()
        self.params_controller.raise_()

    show_params_controler = show_params_controller  # pyacq's spelling

    def clim_zoom(self, factor: float) -> None:
        """Multiply every channel's ``clim`` by ``factor``."""
        for channel in self.by_channel_params.children():
            channel["clim"] = channel["clim"] * factor

    def auto_scale(self) -> None:
        """Give every channel the same clim, from the displayed maps (the viewers' common name)."""
        self.auto_clim(identic=True)

    def auto_clim(self, identic: bool = True) -> None:
        """Set ``clim`` from the displayed maps (1.1 x their max); ``identic``: one value for all channels."""
        peaks = {
            i: float(np.nanmax(image.image))
            for i, image in enumerate(self.images)
            if image is not None and image.image is not None and image.image.size
        }
        if not peaks:
            return
        for i, peak in peaks.items():
            value = max(peaks.values()) if identic else peak
            if value > 0:
                self.by_channel_params.children()[i]["clim"] = value * 1.1


class _FrequencyAxis(pg.AxisItem):
    """Frequency axis whose log mode labels ticks in Hz (``20``, not ``2·10¹``)."""

    def logTickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        return [f"{10**v:.3g}" if np.isfinite(v) else "" for v in values]


@contextmanager
def _one_layout_pass(grid: Any):
    """Lay ``grid`` (a pyqtgraph GraphicsLayout) out once after the block, not after each ``addItem``.

    pyqtgraph's ``GraphicsLayout.addItem`` activates the whole layout per
    item, so adding n plots costs n layout passes of everything placed so
    far (32 maps with axes and colour bars: a quarter of a second).
    """
    layout = grid.layout
    try:
        layout.activate = _no_layout_pass  # the instance attribute shadows the Qt method for pyqtgraph's call
        patched = True
    except AttributeError:  # a binding whose wrappers take no attributes: add items the slow way
        patched = False
    try:
        yield
    finally:
        if patched:
            del layout.activate
        layout.activate()


def _no_layout_pass() -> None:
    return None


@functools.cache
def _colormap(name: str):
    """Return a pyqtgraph ColorMap of the viewers' colormap ``name`` (for the colour bars; one per name, shared)."""
    lut = lookup_table(name)
    return pg.ColorMap(np.linspace(0.0, 1.0, len(lut)), lut)


class TimeFreqController(QtWidgets.QWidget):
    """Parameter dialog of a QTimeFreq: the two parameter trees and clim buttons."""

    def __init__(self, viewer: QTimeFreq, parent: Any = None):
        super().__init__(parent)
        self.setWindowFlags(QtCore.Qt.WindowType.Window)
        self.viewer = viewer
        self.setWindowTitle(f"Options for {viewer.name}")
        layout = QtWidgets.QHBoxLayout()
        self.setLayout(layout)
        for params in (viewer.params.parameter, viewer.by_channel_params.parameter):
            tree = pg.parametertree.ParameterTree()
            tree.setParameters(params, showTop=True)
            tree.header().hide()
            layout.addWidget(tree)
        buttons = QtWidgets.QVBoxLayout()
        layout.addLayout(buttons)
        for label, callback in [
            ("Automatic clim (same for all)", lambda: viewer.auto_clim(identic=True)),
            ("Automatic clim (independent)", lambda: viewer.auto_clim(identic=False)),
            ("clim x 1.3", lambda: viewer.clim_zoom(1.3)),
            ("clim / 1.3", lambda: viewer.clim_zoom(1 / 1.3)),
        ]:
            button = QtWidgets.QPushButton(label)
            button.clicked.connect(callback)
            buttons.addWidget(button)
        buttons.addStretch()


# pyacq's spelling
TimeFreqControler = TimeFreqController
