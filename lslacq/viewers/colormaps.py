"""Colour lookup tables for image viewers (numpy only; pyqtgraph's maps by name too)."""

from __future__ import annotations

import numpy as np

__all__ = ["COLORMAPS", "lookup_table"]

# pyacq's choices, as piecewise-linear (position, r, g, b) anchors (matplotlib's definitions)
_ANCHORS = {
    "jet": [
        (0.0, 0, 0, 0.5),
        (0.11, 0, 0, 1),
        (0.125, 0, 0, 1),
        (0.34, 0, 0.86, 1),
        (0.35, 0, 0.9, 0.97),
        (0.375, 0.02, 1, 0.94),
        (0.64, 0.97, 1, 0.03),
        (0.65, 1, 0.96, 0),
        (0.66, 1, 0.92, 0),
        (0.89, 1, 0.09, 0),
        (0.91, 0.9, 0, 0),
        (1.0, 0.5, 0, 0),
    ],
    "gray": [(0.0, 0, 0, 0), (1.0, 1, 1, 1)],
    "bone": [(0.0, 0, 0, 0), (0.375, 0.32, 0.32, 0.45), (0.75, 0.65, 0.78, 0.78), (1.0, 1, 1, 1)],
    "cool": [(0.0, 0, 1, 1), (1.0, 1, 0, 1)],
    "hot": [(0.0, 0.04, 0, 0), (0.365, 1, 0, 0), (0.746, 1, 1, 0), (1.0, 1, 1, 1)],
}

#: Names accepted everywhere (pyacq's five, then a few perceptually uniform ones from pyqtgraph).
COLORMAPS = ["jet", "gray", "bone", "cool", "hot", "viridis", "inferno", "magma", "plasma", "turbo"]


def lookup_table(name: str, n: int = 256) -> np.ndarray:
    """Return the ``(n, 3)`` uint8 lookup table of colormap ``name``.

    Parameters
    ----------
    name : str
        One of :data:`COLORMAPS`, or any colormap pyqtgraph knows
        (``pg.colormap.listMaps()``).
    n : int
        Number of colours.

    Raises
    ------
    ValueError
        Unknown name (the message lists the accepted ones).
    """
    anchors = _ANCHORS.get(name)
    if anchors is not None:
        pos = np.array([a[0] for a in anchors])
        x = np.linspace(0.0, 1.0, n)
        rgb = np.stack([np.interp(x, pos, [a[c] for a in anchors]) for c in (1, 2, 3)], axis=1)
        return np.round(rgb * 255).astype(np.uint8)
    try:
        import pyqtgraph as pg

        cmap = pg.colormap.get(name)
    except Exception:  # pyqtgraph raises various errors for unknown names
        cmap = None
    if cmap is None:
        raise ValueError(
            f"unknown colormap {name!r}; use one of {COLORMAPS} (or a name from pyqtgraph.colormap.listMaps())"
        )
    return np.asarray(cmap.getLookupTable(0.0, 1.0, n, alpha=False), dtype=np.uint8)[:, :3]
