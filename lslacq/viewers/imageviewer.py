"""ImageViewer: shows the frames of an ``image/video`` stream (pyacq manual 5.4.3, examples 6.1 and 6.3)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from ._qt import QtWidgets, pg
from .widgetnode import WidgetNode

__all__ = ["ImageViewer"]

logger = logging.getLogger(__name__)


class ImageViewer(WidgetNode):
    """Display the latest frame of a video stream.

    Input ``video``: an ``image/video`` stream of shape ``(-1, H, W)`` (grey),
    ``(-1, H, W, 3)`` (RGB) or ``(-1, H, W, 4)`` (RGBA), any transfer mode.
    Row 0 of a frame is drawn at the top, the aspect ratio is kept.

    Frames are received in a background thread, which keeps only the newest
    one; the display shows it at the stream's frame rate at most (or every
    ``refresh_interval`` ms). The input is ``latest_only``: the camera never
    queues frames for the viewer. A viewer slower than the camera skips
    frames, counted in ``counters()['skipped_frames']`` (received, never
    drawn) and ``counters()['lost_samples']`` (never received), and never
    holds the camera back.

    configure() parameters
    ----------------------
    refresh_interval : float, optional
        Milliseconds between redraws; default one frame period of the
        stream (33 ms when its ``sample_rate`` is unknown).
    levels : (low, high), optional
        Values mapped to black and white; default the full range of integer
        dtypes, ``(0, 1)`` for float frames.
    """

    _input_specs = {"video": dict(streamtype="image/video")}

    def __init__(self, name: str = "", parent: Any = None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        layout = QtWidgets.QHBoxLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        self.setLayout(layout)
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
        # only the newest frame matters: the camera never buffers frames for this reader
        self.inputs["video"].latest_only = True

    def _configure(self, refresh_interval: float | None = None, levels: tuple | None = None) -> None:
        if refresh_interval is not None and not float(refresh_interval) > 0:
            raise ValueError(f"{self.name}: refresh_interval={refresh_interval!r} must be a positive number of ms")
        if levels is not None:
            try:
                low, high = (float(v) for v in levels)
            except (TypeError, ValueError):
                raise ValueError(f"{self.name}: levels={levels!r} must be a (low, high) pair of numbers") from None
            if not low < high:
                raise ValueError(f"{self.name}: levels={levels!r}: low must be below high")
            levels = (low, high)
        self.refresh_interval = refresh_interval
        self.levels = levels

    def check_input_specs(self) -> None:
        params = self.input.params
        shape = params.frame_shape
        if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (1, 3, 4)):
            raise ValueError(f"{self.name}: frames of shape {shape} cannot be shown; expected (H, W) grey, "
                             "(H, W, 3) RGB or (H, W, 4) RGBA")
        if params.np_dtype.kind not in "buif":
            raise ValueError(f"{self.name}: frames of dtype {params.np_dtype} cannot be shown; use uint8 "
                             "(or another integer or float type)")

    def _initialize(self) -> None:
        params = self.input.params
        self.frame_shape = params.frame_shape
        dtype = params.np_dtype
        if self.levels is None:
            if dtype.kind in "ui":
                info = np.iinfo(dtype)
                self.levels = (float(max(info.min, 0)), float(info.max))
            else:
                self.levels = (0.0, 1.0)
        interval = self.refresh_interval
        if interval is None:
            rate = params.sample_rate
            interval = 1000.0 / rate if rate else 33.0
        self.set_refresh_interval(max(5.0, interval))
        self._lock = threading.Lock()
        self._copy = params.transfermode == "sharedmem"
        self._frame: np.ndarray | None = None
        self._frame_index = -1
        self._drawn_index = -1
        self.frames_received = 0
        self.frames_drawn = 0
        self.skipped_frames = 0
        height, width = self.frame_shape[:2]
        self.viewbox.setRange(xRange=(0, width), yRange=(0, height), padding=0)
        self.add_poller("video", self._on_frames)

    def _on_frames(self, index: int, data: np.ndarray) -> None:
        if data is None or len(data) == 0:
            return
        # a shared-memory view changes under us: copy it; a plaindata frame is ours already
        frame = np.array(data[-1]) if self._copy else data[-1]
        with self._lock:
            if self._frame is not None and self._frame_index != self._drawn_index:
                self.skipped_frames += 1  # the previous frame was never drawn
            self.skipped_frames += len(data) - 1
            self._frame = frame
            self._frame_index = index
            self.frames_received += len(data)

    def _refresh(self) -> None:
        with self._lock:
            frame, index = self._frame, self._frame_index
        if frame is None or index == self._drawn_index:
            return
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        self.image.setImage(frame, autoLevels=False, levels=self.levels)
        self._drawn_index = index
        self.frames_drawn += 1

    def poll_socket(self) -> None:
        """pyacq's name for one redraw."""
        self.refresh()

    def counters(self) -> dict:
        """Node counters plus ``frames_drawn`` and ``skipped_frames`` (received but never shown)."""
        out = super().counters()
        out["frames_drawn"] = getattr(self, "frames_drawn", 0)
        out["skipped_frames"] = getattr(self, "skipped_frames", 0)
        return out
