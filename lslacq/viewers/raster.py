"""Column rasteriser of dense traces (pure numpy, no Qt).

When a window holds more display points than the plot has pixel columns,
drawing each trace as a polyline spends its time stroking many tiny segments
(QPainter's cosmetic stroker costs about a microsecond per segment). Every
pixel column of such a trace is in fact one vertical run: from the lowest to
the highest of the points that fall in the column, and the last point of the
previous column (the segment that joins them). :class:`TraceRaster` paints
those runs straight into a ``(height, width)`` ARGB32 image with numpy.

It works column by column, so an oscilloscope re-rasterises only the columns
that received new points since its last frame (a few per frame) and shifts
(scroll mode) or overwrites (scan mode) the rest; a frame then costs one
image blit whatever the number of channels.

Columns are numbered in image coordinates; row 0 is ``ymin`` (the bottom of
the plot: pyqtgraph's y axis points up), so the image is drawn unflipped into
the rectangle ``(x0, ymin, width, ymax - ymin)`` of the plot.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TraceRaster", "argb32"]


def argb32(rgba: tuple[int, int, int, int] | list[int]) -> int:
    """Pack a colour into a premultiplied ARGB32 pixel value.

    Parameters
    ----------
    rgba : (int, int, int, int)
        Red, green, blue and alpha, each 0-255 (not premultiplied).

    Returns
    -------
    int
        ``alpha << 24 | red << 16 | green << 8 | blue``, each colour
        component multiplied by ``alpha / 255`` (QImage's
        ``Format_ARGB32_Premultiplied``).
    """
    r, g, b, a = (int(v) for v in rgba)
    r, g, b = (v * a // 255 for v in (r, g, b))
    return (a << 24) | (r << 16) | (g << 8) | b


class TraceRaster:
    """A transparent ARGB32 image of traces, painted one pixel column at a time.

    The pixels live in a buffer twice as wide as the image: :meth:`shift`
    (scroll mode, every frame) moves the image's origin in it instead of
    moving the pixels, and copies them back to the start of the buffer only
    once every ``width`` columns scrolled. Draw :attr:`buffer`'s columns
    ``[origin, origin + width)`` (see :attr:`origin`).

    Attributes
    ----------
    buffer : numpy.ndarray
        ``(height, 2 * width)`` uint32 premultiplied ARGB32 pixels, row 0 at ``ymin``;
        0 (transparent) where no trace is drawn.
    origin : int
        Column of :attr:`buffer` where the image starts.
    """

    def __init__(self) -> None:
        self.buffer = np.zeros((1, 2), dtype=np.uint32)
        self.origin = 0
        self._width = 1

    @property
    def image(self) -> np.ndarray:
        """The ``(height, width)`` image: a view into :attr:`buffer` (writes go to the raster)."""
        return self.buffer[:, self.origin : self.origin + self._width]

    @property
    def height(self) -> int:
        """Pixel rows."""
        return self.buffer.shape[0]

    @property
    def width(self) -> int:
        """Pixel columns."""
        return self._width

    def resize(self, height: int, width: int) -> None:
        """Make the image ``height`` x ``width``; a new, empty image if the size changes, else unchanged.

        Parameters
        ----------
        height, width : int
            Pixel rows and columns, each at least 1.

        Raises
        ------
        ValueError
            If ``height`` or ``width`` is smaller than 1.
        """
        if height < 1 or width < 1:
            raise ValueError(f"raster size {height} x {width} must be at least 1 x 1 pixel")
        if (self.height, self._width) != (height, width):
            self.buffer = np.zeros((height, 2 * width), dtype=np.uint32)
            self.origin = 0
            self._width = width

    def clear(self, start: int = 0, stop: int | None = None) -> None:
        """Erase (make transparent) columns ``[start, stop)``.

        Parameters
        ----------
        start : int
            First column erased (default 0).
        stop : int or None
            Column after the last one erased (default None: up to the right edge).
        """
        self.image[:, start:stop] = 0

    def shift(self, n: int) -> None:
        """Move the picture ``n`` columns to the left; the ``n`` rightmost columns become empty.

        Parameters
        ----------
        n : int
            Columns to shift by; ``n <= 0`` does nothing, ``n >= width`` empties the image.
        """
        if n <= 0:
            return
        width = self._width
        if n >= width:
            self.image[...] = 0
            return
        if self.origin + n + width <= self.buffer.shape[1]:  # room on the right: move the origin only
            self.origin += n
        else:  # back to the start of the buffer: one copy every `width` columns scrolled
            self.buffer[:, : width - n] = self.buffer[:, self.origin + n : self.origin + width]
            self.origin = 0
        self.image[:, width - n :] = 0

    def paint(
        self,
        column: int,
        points: np.ndarray,
        previous: np.ndarray,
        per_column: int,
        colors: np.ndarray,
        ymin: float,
        ymax: float,
    ) -> int:
        """Paint consecutive points into the columns starting at ``column``; return how many columns were painted.

        Parameters
        ----------
        column : int
            Image column of ``points[0]``, which must be the first point of its column.
        points : numpy.ndarray
            ``(n, channels)`` y values (already scaled to the plot); NaN where
            there is no data. Column ``column + j`` gets points
            ``[j * per_column, (j + 1) * per_column)``; the last column may be partial.
        previous : numpy.ndarray
            ``(channels,)`` the point before ``points[0]`` (NaN if none): the
            first column includes the segment from it.
        per_column : int
            Points per pixel column (>= 1).
        colors : numpy.ndarray
            ``(channels,)`` uint32 ARGB32 colour of each channel; later channels are drawn over earlier ones.
        ymin, ymax : float
            The y range of the image's rows.
        """
        n, nch = points.shape
        if n == 0 or nch == 0:
            return 0
        ncol = -(-n // per_column)
        if column < 0 or column + ncol > self.width:
            raise ValueError(f"columns [{column}, {column + ncol}) are outside the raster's {self.width} columns")
        pad = ncol * per_column - n
        if pad:
            points = np.concatenate([points, np.full((pad, nch), np.nan, dtype=points.dtype)])
        blocks = points.reshape(ncol, per_column, nch)
        joins = np.empty((ncol, nch), dtype=points.dtype)  # the point before each column
        joins[0] = previous
        joins[1:] = blocks[:-1, -1]
        high = np.fmax(np.fmax.reduce(blocks, axis=1), joins)
        low = np.fmin(np.fmin.reduce(blocks, axis=1), joins)
        height = self.height
        scale = height / (ymax - ymin) if ymax > ymin else 0.0
        with np.errstate(invalid="ignore"):
            top = np.floor((high - ymin) * scale)
            bottom = np.floor((low - ymin) * scale)
            shown = (top >= 0) & (bottom <= height - 1)  # False for NaN
        self.image[:, column : column + ncol] = 0
        cols, chans = np.nonzero(shown)  # column-major, channels ascending: the last write of a pixel wins
        if cols.size == 0:
            return ncol
        first = np.clip(bottom[cols, chans], 0, height - 1).astype(np.intp)
        length = np.clip(top[cols, chans], 0, height - 1).astype(np.intp) - first + 1
        starts = np.cumsum(length) - length
        rows = np.arange(int(starts[-1] + length[-1])) - np.repeat(starts - first, length)
        flat = rows * self.buffer.shape[1] + np.repeat(cols + (column + self.origin), length)
        self.buffer.reshape(-1)[flat] = np.repeat(colors[chans], length)
        return ncol
