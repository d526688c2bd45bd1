"""RasterTraces: a plot item drawing dense oscilloscope traces as one incrementally updated image."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ._qt import QtCore, QtGui, pg
from .decimation import ScopeBuffer
from .raster import TraceRaster, argb32

__all__ = ["RasterTraces", "channel_colors"]


def channel_colors(colors: Iterable[Any]) -> np.ndarray:
    """Pixel values of channel colours, for :meth:`RasterTraces.update_traces`.

    Parameters
    ----------
    colors : iterable
        One colour per channel, anything :func:`pyqtgraph.mkColor` accepts
        (``'#ff0000'``, ``(255, 0, 0)``, ``'r'``, a QColor...).

    Returns
    -------
    numpy.ndarray
        ``(len(colors),)`` uint32 premultiplied ARGB32 values (see :func:`~lslacq.viewers.raster.argb32`).
    """
    return np.array([argb32(pg.mkColor(c).getRgb()) for c in colors], dtype=np.uint32)


class RasterTraces(pg.GraphicsObject):
    """Traces of a :class:`~lslacq.viewers.decimation.ScopeBuffer` drawn as an image, one run per pixel column.

    Used by the oscilloscopes when the window holds at least as many points
    as the plot has pixel columns (see :mod:`lslacq.viewers.raster`). Each
    :meth:`update_traces` paints only the columns that got new points since
    the previous call (scan mode overwrites them in place, scroll mode shifts
    the image first); any change of geometry, scaling, colours or visible
    channels repaints the whole window once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.raster = TraceRaster()
        self._qimage = None
        self._qimage_array: np.ndarray | None = None
        self._rect = QtCore.QRectF()
        self._key: tuple | None = None
        self._done = 0  # absolute point index painted up to
        self.columns_painted = 0  # columns painted by the last update (a full repaint paints all)
        self.active = False  # whether its plot draws with it (dense windows) rather than with curves
        self._clip: tuple[np.ndarray, np.ndarray] | None = None
        self.setVisible(False)

    # -- QGraphicsItem --------------------------------------------------------------------------
    def boundingRect(self) -> QtCore.QRectF:
        """Return the rectangle the raster covers, in the plot's coordinates."""
        return QtCore.QRectF(self._rect)

    def paint(self, painter, *args) -> None:
        """Draw the raster image (nothing before the first update)."""
        if self._qimage is not None:
            raster = self.raster
            painter.drawImage(self._rect, self._qimage, QtCore.QRectF(raster.origin, 0, raster.width, raster.height))

    # -- drawing ----------------------------------------------------------------------------------
    @staticmethod
    def columns_for(n_points: int, width_px: int) -> tuple[int, int]:
        """How ``n_points`` points are laid out on a plot ``width_px`` pixels wide.

        Parameters
        ----------
        n_points : int
            Points in the window.
        width_px : int
            Width of the plot in device pixels (less than 1 counts as 1).

        Returns
        -------
        per_column : int
            Points per pixel column: the fewest that fit the window in ``width_px`` columns.
        columns : int
            Columns the window takes (at most ``width_px``; the last one may be partial).
        """
        per_column = max(1, -(-int(n_points) // max(1, int(width_px))))
        return per_column, -(-int(n_points) // per_column)

    def set_active(self, active: bool) -> None:
        """Draw with this item (shown, repainted at the next update) or not (hidden)."""
        self.active = bool(active)
        self.setVisible(self.active)
        self.invalidate()

    def set_clip(self, clip: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Clamp each drawn channel's values to ``(lows, highs)`` (arrays in drawing order), or not (None)."""
        same = (clip is None and self._clip is None) or (
            clip is not None
            and self._clip is not None
            and all(np.array_equal(a, b) for a, b in zip(clip, self._clip, strict=True))
        )
        if not same:
            self._clip = None if clip is None else (np.asarray(clip[0]), np.asarray(clip[1]))
            self.invalidate()

    def invalidate(self) -> None:
        """Repaint the whole window at the next update."""
        self._key = None

    def update_traces(
        self,
        scope: ScopeBuffer,
        end: int,
        sample_rate: float,
        mode: str,
        size_px: tuple[int, int],
        channels: np.ndarray,
        gains: np.ndarray,
        offsets: np.ndarray,
        colors: np.ndarray,
        ylim: tuple[float, float],
    ) -> None:
        """Paint the points of ``scope`` up to ``end`` that are not painted yet.

        Parameters
        ----------
        scope : ScopeBuffer
            The decimated points.
        end : int
            Absolute index of the last point of the frame + 1: the
            :attr:`ScopeBuffer.end <lslacq.viewers.decimation.ScopeBuffer.end>`
            the frame read once, so that every plot of a frame stops at the
            same point while the input thread keeps feeding ``scope``.
        sample_rate : float
            Raw samples per second (x is in seconds).
        mode : str
            ``'scan'`` (x from 0 to the window length, the sweep overwrites) or
            ``'scroll'`` (x from minus the window length to 0).
        size_px : (int, int)
            Width and height of the plot in device pixels.
        channels : numpy.ndarray
            Indexes of the channels drawn, in drawing order.
        gains, offsets : numpy.ndarray
            Per drawn channel: a point is drawn at ``value * gain + offset``.
        colors : numpy.ndarray
            Per drawn channel, uint32 ARGB32 colours (see :func:`channel_colors`).
        ylim : (float, float)
            The plot's y range.
        """
        n, decimate = scope.n_points, scope.decimate
        per_column, ncol = self.columns_for(n, size_px[0])
        height = max(1, int(size_px[1]))
        key = (
            height,
            ncol,
            per_column,
            n,
            decimate,
            mode,
            tuple(ylim),
            channels.tobytes(),
            gains.tobytes(),
            offsets.tobytes(),
            colors.tobytes(),
        )
        end = int(end)
        full = key != self._key or end < self._done or end - self._done >= n
        raster = self.raster
        if full:
            raster.resize(height, ncol)
            raster.clear()
            self._key = key
        if mode == "scan":
            if full:  # from the first whole column of the window
                start = end - n
                partial = (start % n) % per_column
                if partial:
                    start = min(start + per_column - partial, (start // n + 1) * n)
            else:  # from the start of the last (partial) column painted
                start = self._done - (self._done % n) % per_column
            painted = 0
            while start < end:  # one piece per sweep
                stop = min(end, (start // n + 1) * n)
                painted += self._paint(
                    scope, start, stop, (start % n) // per_column, per_column, channels, gains, offsets, colors, ylim
                )
                start = stop
            if end > 0:  # the break after the sweep's head
                gap = (((end - 1) % n) // per_column + 1) % ncol
                raster.clear(gap, gap + 1)
            x0 = 0.0
        else:
            base = -(-end // per_column) - ncol  # absolute column shown in image column 0
            if full:
                start = -(-max(end - n, 0) // per_column) * per_column
                start = max(start, base * per_column)
            else:
                raster.shift(-(-end // per_column) - -(-self._done // per_column))
                start = max((self._done // per_column) * per_column, base * per_column)  # not left of column 0
            painted = 0
            if start < end:
                painted = self._paint(
                    scope, start, end, start // per_column - base, per_column, channels, gains, offsets, colors, ylim
                )
            x0 = (base * per_column - end) * decimate / sample_rate
        self.columns_painted = ncol if full else painted
        self._done = end
        rect = QtCore.QRectF(x0, ylim[0], ncol * per_column * decimate / sample_rate, ylim[1] - ylim[0])
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        if self._qimage_array is not raster.buffer:  # a new image after a resize
            self._qimage_array = raster.buffer
            self._qimage = pg.functions.ndarray_to_qimage(
                raster.buffer, QtGui.QImage.Format.Format_ARGB32_Premultiplied
            )
        self.update()

    def _paint(
        self,
        scope: ScopeBuffer,
        start: int,
        stop: int,
        column: int,
        per_column: int,
        channels,
        gains,
        offsets,
        colors,
        ylim,
    ) -> int:
        _, pts = scope.read_points(start - 1, stop)
        ys = pts[:, channels] * gains + offsets
        if self._clip is not None:
            ys = np.clip(ys, self._clip[0], self._clip[1])
        return self.raster.paint(column, ys[1:], ys[0], per_column, colors, ylim[0], ylim[1])
