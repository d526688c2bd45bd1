"""pyacq's ``pyacq/core/rpc/tests/test_spawner.py``, renamed to lslacq."""

from __future__ import annotations

import os

import pytest

from lslacq.core.rpc import ProcessSpawner


@pytest.mark.slow
def test_spawner():
    proc = ProcessSpawner()
    try:
        cli = proc.client
        # the spawned RPC server has another PID
        ros = cli._import("os")
        assert os.getpid() != ros.getpid()
    finally:
        # closing nicely
        assert proc.stop() == 0

    pytest.importorskip("pyqtgraph")
    proc = ProcessSpawner(qt=True)
    try:
        rqt = proc.client._import("pyqtgraph.Qt")
        assert rqt.QtWidgets.QApplication.instance() is not None
    finally:
        assert proc.stop() == 0
