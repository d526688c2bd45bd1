"""The margins of the oscilloscopes: a channel-name gutter, an amplitude scale bar and a marker band.

Each is a pyqtgraph :class:`~pyqtgraph.AxisItem` placed where a PlotItem puts
an axis (left, right, top), so the layout gives it its own strip beside the
traces: nothing drawn here can overlap a trace. They paint only what they
are given (:meth:`ChannelGutter.set_channels`, :meth:`ScaleBarAxis.set_bar`,
:meth:`MarkerBand.set_markers`), mapped through the plot's ViewBox.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._qt import QtCore, QtGui, pg

__all__ = [
    "ChannelGutter",
    "MarkerBand",
    "ScaleBarAxis",
    "contrast_ratio",
    "legible_color",
    "nice_ceil",
    "nice_floor",
    "unit_label",
]

_UNIT_NAMES = {
    "microvolts": "µV",
    "microvolt": "µV",
    "uv": "µV",
    "µv": "µV",
    "μv": "µV",
    "millivolts": "mV",
    "millivolt": "mV",
    "mv": "mV",
    "volts": "V",
    "volt": "V",
    "v": "V",
    "nanovolts": "nV",
    "nv": "nV",
}


def unit_label(units: Any) -> str:
    """Short display form of a unit name (LSL/XDF spelling ``'microvolts'`` -> ``'µV'``; others unchanged).

    Parameters
    ----------
    units : str or None
        The stream's ``units`` (or one of its ``channel_units``).

    Returns
    -------
    str
        ``''`` for no unit.
    """
    if not units:
        return ""
    text = str(units).strip()
    return _UNIT_NAMES.get(text.lower(), text)


def nice_ceil(value: float) -> float:
    """Smallest number of the 1-2-5 series (…, 0.5, 1, 2, 5, 10, …) that is >= ``value`` (> 0)."""
    if not value > 0 or not math.isfinite(value):
        return 1.0
    exp = math.floor(math.log10(value))
    for mant in (1.0, 2.0, 5.0, 10.0):
        nice = mant * 10.0**exp
        if nice >= value * (1 - 1e-9):
            return nice
    return 10.0 ** (exp + 1)  # pragma: no cover - rounding


def nice_floor(value: float) -> float:
    """Largest number of the 1-2-5 series that is <= ``value`` (> 0)."""
    if not value > 0 or not math.isfinite(value):
        return 1.0
    exp = math.floor(math.log10(value))
    for mant in (10.0, 5.0, 2.0, 1.0):
        nice = mant * 10.0**exp
        if nice <= value * (1 + 1e-9):
            return nice
    return 10.0**exp  # pragma: no cover - rounding


def _format_amount(value: float) -> str:
    return f"{value:.6g}"


def _text_color(background: QtGui.QColor) -> QtGui.QColor:
    """Black or white, whichever contrasts more with ``background``."""
    luminance = 0.299 * background.red() + 0.587 * background.green() + 0.114 * background.blue()
    return QtGui.QColor(20, 20, 20) if luminance > 140 else QtGui.QColor(235, 235, 235)


def _relative_luminance(color: QtGui.QColor) -> float:
    def linear(v: int) -> float:
        v = v / 255.0
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(color.red()) + 0.7152 * linear(color.green()) + 0.0722 * linear(color.blue())


def contrast_ratio(a: QtGui.QColor, b: QtGui.QColor) -> float:
    """WCAG contrast ratio of two colours, 1 (same) .. 21 (black on white)."""
    la, lb = sorted((_relative_luminance(a), _relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def legible_color(color: Any, background: Any, min_ratio: float = 4.5) -> QtGui.QColor:
    """``color`` blended towards black or white until text in it reads on ``background``.

    Parameters
    ----------
    color, background
        Anything ``pyqtgraph.mkColor`` takes.
    min_ratio : float
        The WCAG contrast ratio to reach (4.5: normal text).

    Returns
    -------
    QColor
        ``color`` itself when it already contrasts enough (the light default trace colours on black),
        else the nearest blend of it with the text colour of ``background``.
    """
    color, background = pg.mkColor(color), pg.mkColor(background)
    if contrast_ratio(color, background) >= min_ratio:
        return color
    target = _text_color(background)
    for k in range(1, 11):
        f = k / 10.0
        blend = QtGui.QColor(
            *(round(c + (t - c) * f) for c, t in zip(color.getRgb()[:3], target.getRgb()[:3], strict=True))
        )
        if contrast_ratio(blend, background) >= min_ratio:
            return blend
    return target  # pragma: no cover - the target itself always contrasts


class _MarginAxis(pg.AxisItem):
    """An axis strip that paints only its own content (no ticks), mapped through the linked ViewBox."""

    def __init__(self, orientation: str, size: int):
        super().__init__(orientation=orientation)
        self.background = QtGui.QColor(0, 0, 0)
        self.font = QtGui.QFont()
        self.font.setPointSizeF(9.0)
        if orientation in ("left", "right"):
            self.setWidth(size)
        else:
            self.setHeight(size)

    def set_background(self, color: Any) -> None:
        """Set the colour behind the strip (the plot's background), which the text contrasts with."""
        self.background = pg.mkColor(color)
        self.update()

    def boundingRect(self) -> QtCore.QRectF:
        return QtCore.QRectF(0, 0, self.size().width(), self.size().height())

    def _local_y(self, y: float) -> float | None:
        view = self.linkedView()
        if view is None:
            return None
        scene = view.mapViewToScene(QtCore.QPointF(0.0, float(y)))
        return self.mapFromScene(scene).y()

    def _local_x(self, x: float) -> float | None:
        view = self.linkedView()
        if view is None:
            return None
        scene = view.mapViewToScene(QtCore.QPointF(float(x), 0.0))
        return self.mapFromScene(scene).x()

    def paint(self, painter, *args) -> None:  # the content only: no ticks, no axis line
        painter.setFont(self.font)
        self._paint_content(painter)

    def _paint_content(self, painter) -> None:
        raise NotImplementedError


class ChannelGutter(_MarginAxis):
    """Left strip with the channel names, each at its trace's level, in a box of contrasting colours.

    Each name has a swatch of its channel's colour; the text is black or
    white (whichever contrasts with the background), so every colour is
    legible. Names that would overlap their neighbour are skipped (every
    other one, and so on) and the font shrinks for dense pages.
    ``numeric=True`` makes it an ordinary numeric axis instead.
    """

    def __init__(self, width: int = 72):
        super().__init__("left", width)
        self.channels: list[tuple[float, str, QtGui.QColor]] = []
        self.numeric = False
        self.boxes: list[QtCore.QRectF] = []  # the boxes painted last, in this item's coordinates

    def set_channels(self, channels: Sequence[tuple[float, str, Any]]) -> None:
        """Names to show: ``(y in view coordinates, name, colour)`` per channel."""
        self.channels = [(float(y), str(name), pg.mkColor(color)) for y, name, color in channels]
        self.update()

    def fit_width(self, names: Sequence[str]) -> None:
        """Make the strip wide enough for the longest of ``names`` (between 40 and 160 px)."""
        metrics = QtGui.QFontMetricsF(self.font)
        widest = max(
            (
                metrics.horizontalAdvance(n) if hasattr(metrics, "horizontalAdvance") else metrics.width(n)
                for n in names
            ),
            default=20.0,
        )
        self.setWidth(int(min(160, max(40, widest + 24))))

    def set_numeric(self, numeric: bool) -> None:
        """Draw numeric ticks (``show_left_axis`` without labels) instead of names."""
        self.numeric = bool(numeric)
        self.picture = None
        self.update()

    def boundingRect(self) -> QtCore.QRectF:
        """Return the axis's own rectangle with numeric ticks, else the strip's."""
        if self.numeric:
            return super(_MarginAxis, self).boundingRect()
        return super().boundingRect()

    def paint(self, painter, *args) -> None:
        """Paint numeric ticks as a pyqtgraph axis does, else the names."""
        if self.numeric:
            pg.AxisItem.paint(self, painter, *args)
            return
        super().paint(painter, *args)

    def _paint_content(self, painter) -> None:
        self.boxes = []
        if not self.channels:
            return
        height = self.size().height()
        width = self.size().width()
        placed = [(self._local_y(y), name, color) for y, name, color in self.channels]
        placed = [(y, n, c) for y, n, c in placed if y is not None and -4 <= y <= height + 4]
        if not placed:
            return
        font = QtGui.QFont(self.font)
        spacing = min((abs(a[0] - b[0]) for a, b in zip(placed, placed[1:], strict=False)), default=height)
        metrics = QtGui.QFontMetricsF(font)
        if spacing < metrics.height() + 2:
            font.setPointSizeF(max(6.5, font.pointSizeF() * max(0.0, spacing - 2) / metrics.height()))
            metrics = QtGui.QFontMetricsF(font)
        step = max(1, int(math.ceil((metrics.height() + 1) / max(spacing, 1e-6))))
        painter.setFont(font)
        text_color = _text_color(self.background)
        box_color = QtGui.QColor(self.background)
        box_color = box_color.lighter(160) if text_color.red() > 128 else box_color.darker(115)
        if box_color == self.background:  # pure black: lighter() leaves it black
            box_color = QtGui.QColor(45, 45, 45) if text_color.red() > 128 else QtGui.QColor(220, 220, 220)
        box_h = metrics.height() + 1
        for k, (y, name, color) in enumerate(placed):
            if k % step:
                continue
            top = min(max(y - box_h / 2, 0.0), height - box_h)
            box = QtCore.QRectF(2, top, width - 6, box_h)
            painter.fillRect(box, box_color)
            painter.fillRect(QtCore.QRectF(box.left() + 2, box.top() + 2, 5, box_h - 4), color)
            painter.setPen(text_color)
            text_rect = QtCore.QRectF(box.left() + 10, box.top(), box.width() - 12, box_h)
            elided = QtGui.QFontMetrics(font).elidedText(
                name, QtCore.Qt.TextElideMode.ElideRight, int(text_rect.width())
            )
            painter.drawText(
                text_rect, int(QtCore.Qt.AlignmentFlag.AlignVCenter | QtCore.Qt.AlignmentFlag.AlignLeft), elided
            )
            self.boxes.append(box)


class ScaleBarAxis(_MarginAxis):
    """Right strip with a vertical amplitude scale bar (``set_bar``): its length in view units and its label."""

    def __init__(self, width: int = 58):
        super().__init__("right", width)
        self.bar: tuple[float, float, str] | None = None  # (y0, y1) in view coordinates, label

    def set_bar(self, y0: float | None, y1: float | None = None, label: str = "") -> None:
        """Draw a bar from ``y0`` to ``y1`` (view coordinates) labelled ``label``; ``y0=None`` removes it."""
        new = None if y0 is None else (float(y0), float(y1), str(label))
        if new != self.bar:
            self.bar = new
            self.update()

    def _paint_content(self, painter) -> None:
        if self.bar is None:
            return
        y0, y1, label = self.bar
        a, b = self._local_y(y0), self._local_y(y1)
        if a is None or b is None:
            return
        top, bottom = min(a, b), max(a, b)
        color = _text_color(self.background)
        pen = QtGui.QPen(color)
        pen.setWidth(2)
        painter.setPen(pen)
        x = 8.0
        painter.drawLine(QtCore.QPointF(x, top), QtCore.QPointF(x, bottom))
        painter.drawLine(QtCore.QPointF(x - 4, top), QtCore.QPointF(x + 4, top))
        painter.drawLine(QtCore.QPointF(x - 4, bottom), QtCore.QPointF(x + 4, bottom))
        painter.setPen(color)
        metrics = QtGui.QFontMetricsF(self.font)
        middle = (top + bottom) / 2
        rect = QtCore.QRectF(x + 6, middle - metrics.height(), self.size().width() - x - 7, 2 * metrics.height())
        painter.drawText(
            rect,
            int(
                QtCore.Qt.AlignmentFlag.AlignVCenter
                | QtCore.Qt.AlignmentFlag.AlignLeft
                | QtCore.Qt.TextFlag.TextWordWrap
            ),
            label,
        )


class MarkerBand(_MarginAxis):
    """Top strip with the marker labels, each at its marker's x, in the marker colour; overlapping ones are dropped.

    The newest marker wins: labels are placed from the right (newest in
    scroll mode) and one that would overlap a label already placed is skipped.
    """

    def __init__(self, height: int = 20):
        super().__init__("top", height)
        self.markers: list[tuple[float, str, QtGui.QColor]] = []
        self.boxes: list[QtCore.QRectF] = []

    def set_markers(self, markers: Sequence[tuple[float, str, Any]]) -> None:
        """Labels to show: ``(x in view coordinates, text, colour)``, oldest first."""
        new = [(float(x), str(text), pg.mkColor(color)) for x, text, color in markers]
        if new != self.markers:
            self.markers = new
            self.update()

    def _paint_content(self, painter) -> None:
        self.boxes = []
        metrics = QtGui.QFontMetricsF(self.font)
        height = self.size().height()
        width = self.size().width()
        taken: list[tuple[float, float]] = []
        for x, text, color in reversed(self.markers):
            if not text:
                continue
            px = self._local_x(x)
            if px is None or px < -1 or px > width + 1:
                continue
            advance = metrics.horizontalAdvance(text) if hasattr(metrics, "horizontalAdvance") else metrics.width(text)
            left = min(px + 2, width - advance - 2)
            span = (left - 3, left + advance + 3)
            if any(span[0] < b and a < span[1] for a, b in taken):
                continue
            taken.append(span)
            box = QtCore.QRectF(left - 2, 1, advance + 4, height - 2)
            painter.setPen(legible_color(color, self.background))  # a dark event_color still reads on black
            painter.drawLine(QtCore.QPointF(px, height - 5), QtCore.QPointF(px, height))
            painter.drawText(box, int(QtCore.Qt.AlignmentFlag.AlignCenter), text)
            self.boxes.append(box)
