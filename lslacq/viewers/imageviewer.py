"""ImageViewer: the frames of one or several ``image/video`` streams, in a grid (pyacq 5.4.3, examples 6.1, 6.3)."""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import numpy as np

from ..core.node import StreamDict
from ..core.stream import InputStream
from ._qt import QtWidgets, pg
from .params import check_range
from .widgetnode import WidgetNode

__all__ = ["ImageViewer"]

logger = logging.getLogger(__name__)


def _count(node_name: str, argument: str, value: Any) -> int:
    """``value`` as an integer >= 1, or a ValueError naming ``argument``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{node_name}: {argument}={value!r} must be a whole number >= 1")
    return int(value)


class _VideoCell:
    """One video of an ImageViewer: its view and status line in the grid, its newest frame, its counters.

    ``on_frames`` runs in the input's poller thread and only keeps the
    newest frame; ``draw``, ``update_rate`` and ``status_text`` run in the GUI thread.
    """

    def __init__(self, input_name: str, grid: QtWidgets.QGridLayout, row: int, col: int):
        self.input_name = input_name
        self.widget = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.status = QtWidgets.QLabel(input_name)
        self.status.setStyleSheet("QLabel { padding: 1px 4px; }")
        # a long status line is cut, it never widens the cell
        self.status.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed)
        layout.addWidget(self.status)
        self.graphicsview = pg.GraphicsView()
        layout.addWidget(self.graphicsview)
        self.plot = pg.PlotItem()
        self.graphicsview.setCentralItem(self.plot)
        self.viewbox = self.plot.getViewBox()
        self.viewbox.setAspectLocked(lock=True, ratio=1)
        self.viewbox.invertY(True)  # row 0 on top, as cameras and image files have it
        self.plot.hideButtons()
        self.plot.showAxis("left", False)
        self.plot.showAxis("bottom", False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        grid.addWidget(self.widget, row, col)
        self._lock = threading.Lock()
        self.frame_shape: tuple = ()
        self.levels: tuple[float, float] = (0.0, 1.0)
        self._copy = False
        self.reset()

    def reset(self) -> None:
        """Forget frames and counters (a new initialize)."""
        with self._lock:
            self._frame: np.ndarray | None = None
            self._frame_index = -1
        self._drawn_index = -1
        self.frames_received = 0
        self.frames_drawn = 0
        self.skipped_frames = 0
        self._rate_mark: tuple[float, int] | None = None
        self.rate: float | None = None  # frames per second received, measured over a second

    def prepare(self, params, levels: tuple[float, float] | None) -> None:
        """Take the stream's frame shape, dtype and transfer mode (at initialize)."""
        self.frame_shape = tuple(params.frame_shape)
        dtype = params.np_dtype
        if levels is not None:
            self.levels = levels
        elif dtype.kind in "ui":
            info = np.iinfo(dtype)
            self.levels = (float(max(info.min, 0)), float(info.max))
        else:
            self.levels = (0.0, 1.0)
        # a shared-memory view changes under us: copy it; a plaindata frame is ours already
        self._copy = params.transfermode == "sharedmem"
        height, width = self.frame_shape[:2]
        self.viewbox.setRange(xRange=(0, width), yRange=(0, height), padding=0)
        self.reset()

    def on_frames(self, index: int, data: np.ndarray) -> None:
        """Keep the newest frame of a chunk (poller thread)."""
        if data is None or len(data) == 0:
            return
        frame = np.array(data[-1]) if self._copy else data[-1]
        with self._lock:
            if self._frame is not None and self._frame_index != self._drawn_index:
                self.skipped_frames += 1  # the previous frame was never drawn
            self.skipped_frames += len(data) - 1
            self._frame = frame
            self._frame_index = index
            self.frames_received += len(data)

    def draw(self) -> None:
        """Show the newest frame if it is not shown yet (GUI thread)."""
        with self._lock:
            frame, index = self._frame, self._frame_index
        if frame is None or index == self._drawn_index:
            return
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        self.image.setImage(frame, autoLevels=False, levels=self.levels)
        self._drawn_index = index
        self.frames_drawn += 1

    def update_rate(self, now: float) -> None:
        """Measure :attr:`rate`: frames received per second since the mark set a second or more before ``now``.

        The first call only sets the mark; :attr:`rate` stays None until a
        call at least a second later.
        """
        mark = self._rate_mark
        if mark is None:
            self._rate_mark = (now, self.frames_received)
        elif now - mark[0] >= 1.0:
            self.rate = (self.frames_received - mark[1]) / (now - mark[0])
            self._rate_mark = (now, self.frames_received)

    def status_text(self, lost: int) -> str:
        """``video0: 640x480 RGB, 29.9 fps, 3 skipped, 0 lost`` (the :attr:`rate` last measured)."""
        height, width = self.frame_shape[:2]
        channels = self.frame_shape[2] if len(self.frame_shape) == 3 else 1
        kind = {1: "grey", 3: "RGB", 4: "RGBA"}[channels]
        if self.frames_received == 0:
            return f"{self.input_name}: {width}x{height} {kind}, waiting for frames"
        rate = "-" if self.rate is None else f"{self.rate:.1f}"
        return f"{self.input_name}: {width}x{height} {kind}, {rate} fps, {self.skipped_frames} skipped, {lost} lost"


class ImageViewer(WidgetNode):
    """Display the latest frame of one video stream, or of several in a grid.

    One video (the default): input ``video`` (also reachable as
    ``inputs['video0']``). ``configure(num_video=N, nb_column=C)`` (pyacq's
    multi-camera viewer): inputs ``video0`` ... ``video<N-1>``, shown in a
    grid of C columns filled row by row (``video0`` top left, ``video1`` to
    its right...). Each input is an ``image/video`` stream of shape
    ``(-1, H, W)`` (grey), ``(-1, H, W, 3)`` (RGB) or ``(-1, H, W, 4)``
    (RGBA), any transfer mode; the videos may differ in size, dtype and
    rate. Row 0 of a frame is drawn at the top, the aspect ratio is kept.

    Frames are received in background threads, which keep only the newest
    one per video; the display shows them at the fastest stream's frame
    rate at most (or every ``refresh_interval`` ms). The inputs are
    ``latest_only``: a camera never queues frames for the viewer. A viewer
    slower than a camera skips frames, counted in
    ``counters()['skipped_frames']`` (received, never drawn; summed over the
    videos, per video in :meth:`video_counters`) and
    ``counters()['lost_samples']`` (never received), and never holds the
    camera back. Above each video a status line gives its name, size, the
    frame rate received and the frames skipped and lost.

    configure() parameters
    ----------------------
    refresh_interval : float, optional
        Milliseconds between redraws; default one frame period of the
        fastest stream (33 ms when no stream has a ``sample_rate``).
    levels : (low, high), optional
        Values mapped to black and white, for every video; default the full
        range of each stream's integer dtype, ``(0, 1)`` for float frames.
    num_video : int
        Number of videos (inputs), default 1.
    nb_column : int, optional
        Columns of the grid; default ``ceil(sqrt(num_video))``. At most
        ``num_video`` columns are made.
    show_status : bool
        Show the status line above each video (default True).
    """

    _input_specs = {"video": {"streamtype": "image/video"}}
    _dynamic_streams = True  # configure(num_video=N) makes inputs video0 ... video<N-1>
    window_size = None  # Qt's size: the frames keep their aspect ratio, a large window would only add borders

    def __init__(self, name: str = "", parent: Any = None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        layout = QtWidgets.QHBoxLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        self.setLayout(layout)
        self.grid = QtWidgets.QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        layout.addLayout(self.grid)
        self.refresh_interval: float | None = None
        self.levels: tuple[float, float] | None = None
        self.show_status = True
        self.cells: list[_VideoCell] = []
        self._clock = time.monotonic  # the rates' clock (a test may set another)
        self._set_inputs(1)
        self._make_grid(1)

    # -- configuration -----------------------------------------------------------------------
    def _configure(
        self,
        refresh_interval: float | None = None,
        levels: tuple | None = None,
        num_video: int = 1,
        nb_column: int | None = None,
        show_status: bool = True,
    ) -> None:
        if refresh_interval is not None and not float(refresh_interval) > 0:
            raise ValueError(f"{self.name}: refresh_interval={refresh_interval!r} must be a positive number of ms")
        if levels is not None:
            levels = tuple(check_range(levels, f"{self.name}: levels"))
        num_video = _count(self.name, "num_video", num_video)
        if nb_column is None:
            nb_column = math.ceil(math.sqrt(num_video))
        nb_column = min(_count(self.name, "nb_column", nb_column), num_video)
        self.refresh_interval = refresh_interval
        self.levels = levels
        self.show_status = bool(show_status)
        self.num_video = num_video
        self.nb_column = nb_column
        self._set_inputs(num_video)
        self._make_grid(nb_column)

    def _set_inputs(self, num_video: int) -> None:
        """Make the inputs: ``video`` (alias ``video0``) for one video, else ``video0`` ... ``video<N-1>``."""
        names = ["video"] if num_video == 1 else [f"video{i}" for i in range(num_video)]
        if list(self.inputs) != names:
            for old in self.inputs.values():
                old.close()
            self.inputs = StreamDict({"video0": "video"} if num_video == 1 else {})
            for name in names:
                self.inputs[name] = InputStream(spec=self._input_specs["video"], node=self, name=name)
        elif not isinstance(self.inputs, StreamDict):  # the input Node.__init__ made: keep it, add the alias
            inputs, self.inputs = self.inputs, StreamDict({"video0": "video"})
            self.inputs.update(inputs)
        for inp in self.inputs.values():
            inp.max_buffered = self.max_buffered
            # only the newest frame matters: a camera never buffers frames for this reader
            inp.latest_only = True

    def _make_grid(self, nb_column: int) -> None:
        for cell in self.cells:
            self.grid.removeWidget(cell.widget)
            cell.widget.setParent(None)
            cell.widget.deleteLater()
        self.cells = [
            _VideoCell(name, self.grid, row=i // nb_column, col=i % nb_column) for i, name in enumerate(self.inputs)
        ]
        for row in range(self.grid.rowCount()):  # equal cells (a configure() may leave more rows or columns)
            self.grid.setRowStretch(row, 1 if row < math.ceil(len(self.cells) / nb_column) else 0)
        for col in range(self.grid.columnCount()):
            self.grid.setColumnStretch(col, 1 if col < nb_column else 0)

    # -- pyacq-era single-video attributes: those of the first video ---------------------------
    @property
    def graphicsview(self) -> pg.GraphicsView:
        """The GraphicsView of the first video."""
        return self.cells[0].graphicsview

    @property
    def plot(self) -> pg.PlotItem:
        """The PlotItem of the first video."""
        return self.cells[0].plot

    @property
    def viewbox(self) -> pg.ViewBox:
        """The ViewBox of the first video."""
        return self.cells[0].viewbox

    @property
    def image(self) -> pg.ImageItem:
        """The ImageItem of the first video."""
        return self.cells[0].image

    @property
    def frame_shape(self) -> tuple:
        """The frame shape of the first video."""
        return self.cells[0].frame_shape

    @property
    def frames_received(self) -> int:
        """Frames received, all videos."""
        return sum(cell.frames_received for cell in self.cells)

    @property
    def frames_drawn(self) -> int:
        """Frames drawn, all videos."""
        return sum(cell.frames_drawn for cell in self.cells)

    @property
    def skipped_frames(self) -> int:
        """Frames received but never drawn, all videos."""
        return sum(cell.skipped_frames for cell in self.cells)

    # -- lifecycle ---------------------------------------------------------------------------------
    def check_input_specs(self) -> None:
        """Raise if an input's frames cannot be shown (not grey, RGB or RGBA; not numbers)."""
        for name, inp in self.inputs.items():
            params = inp.params
            which = f"{self.name}: input {name!r}:" if len(self.inputs) > 1 else f"{self.name}:"
            shape = params.frame_shape
            if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (1, 3, 4)):
                raise ValueError(
                    f"{which} frames of shape {shape} cannot be shown; expected (H, W) grey, "
                    "(H, W, 3) RGB or (H, W, 4) RGBA"
                )
            if params.np_dtype.kind not in "buif":
                raise ValueError(
                    f"{which} frames of dtype {params.np_dtype} cannot be shown; use uint8 "
                    "(or another integer or float type)"
                )

    def _initialize(self) -> None:
        interval = self.refresh_interval
        if interval is None:
            rates = [inp.params.sample_rate for inp in self.inputs.values() if inp.params.sample_rate]
            interval = 1000.0 / max(rates) if rates else 33.0
        self.set_refresh_interval(max(5.0, interval))
        self._status_time = 0.0
        now = self._clock()
        for cell in self.cells:
            cell.prepare(self.inputs[cell.input_name].params, self.levels)
            self.add_poller(cell.input_name, cell.on_frames)
            cell.update_rate(now)
            cell.status.setVisible(self.show_status)
            cell.status.setText(cell.status_text(0))

    def _refresh(self) -> None:
        now = self._clock()
        for cell in self.cells:
            cell.draw()
            cell.update_rate(now)  # video_counters()['rate'] too, whether or not the status lines are shown
        if self.show_status and now - self._status_time >= 0.25:
            self._status_time = now
            for cell in self.cells:
                cell.status.setText(cell.status_text(self._lost_frames(cell)))

    def _lost_frames(self, cell: _VideoCell) -> int:
        """Frames of ``cell``'s video never received (its input's ``lost_samples``)."""
        return int(getattr(self.inputs[cell.input_name], "lost_samples", 0))

    def poll_socket(self) -> None:
        """Redraw once (pyacq's name for :meth:`refresh`)."""
        self.refresh()

    # -- counters --------------------------------------------------------------------------------
    def status_text(self, video: int = 0) -> str:
        """Return the status line of video ``video`` (empty when ``show_status`` is False)."""
        return self.cells[video].status.text() if self.show_status else ""

    def video_counters(self) -> list[dict]:
        """Counters of each video.

        Returns
        -------
        list of dict
            One dict per video, in input order, with keys ``input`` (the
            input's name), ``frames_received``, ``frames_drawn``,
            ``skipped_frames`` (received but never drawn), ``lost_samples``
            (frames never received) and ``rate`` (frames per second received,
            measured over a second or more by the display's refreshes; None
            until measured). The rate is measured whether or not the status
            lines are shown.
        """
        return [
            {
                "input": cell.input_name,
                "frames_received": cell.frames_received,
                "frames_drawn": cell.frames_drawn,
                "skipped_frames": cell.skipped_frames,
                "lost_samples": self._lost_frames(cell),
                "rate": cell.rate,
            }
            for cell in self.cells
        ]

    def counters(self) -> dict:
        """Node counters plus ``frames_drawn`` and ``skipped_frames`` (received but never shown), all videos."""
        out = super().counters()
        out["frames_drawn"] = self.frames_drawn
        out["skipped_frames"] = self.skipped_frames
        return out
