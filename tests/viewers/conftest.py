"""Fixtures of the viewer tests: one offscreen QApplication, helpers to pump its events."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "lslacq.viewers._qt", exc_type=ImportError, reason="viewer tests need the qt extra (pyqtgraph + a Qt binding)"
)


@pytest.fixture(scope="session")
def qapp():
    from lslacq.viewers._qt import mkQApp

    return mkQApp()
