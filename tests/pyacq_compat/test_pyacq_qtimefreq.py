"""pyacq's ``pyacq/viewers/test/test_qtimefreq.py``, renamed to lslacq.

pyacq's two viewer tests open a window and never close it (no timer: they run
until the user quits); here each runs until time-frequency maps were drawn,
then checks the offscreen rendering.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyqtgraph")

from pyacq_viewer_checks import assert_rendered, run_until
from pyqtgraph.Qt import QtCore

from lslacq import create_manager
from lslacq.viewers._qt import mkQApp
from lslacq.viewers.qtimefreq import QTimeFreq

NB_CHANNEL = 32
SAMPLING_RATE = 20000.0
CHUNKSIZE = 100


def _buffer():
    length = int(SAMPLING_RATE * 4)  # pyacq: 20 s (the device loops it; 51 MB sent to the nodegroup)
    t = np.arange(length) / SAMPLING_RATE
    buffer = np.random.default_rng().random((length, NB_CHANNEL)) * 0.3
    buffer += np.sin(2 * np.pi * 1.2 * t)[:, None] * 0.5
    return buffer.astype("float32")


@pytest.mark.skip(
    reason="pyacq's earlier TimeFreqCompute worker API (configure(channel=), on_fly_change_wavelet, "
    "a timeaxis=1 'sharedarray' stream) was replaced by TimeFreqWorker; lslacq's Qt-free "
    "TimeFreqWorker is checked in tests/viewers/test_qtimefreq.py (docs/porting.md, QTimeFreq row)"
)
def test_TimeFreqCompute():
    pass


def _run_viewer(nb_column, friends=0):
    man = create_manager(auto_close_at_exit=False)
    viewer = None
    try:
        ng = man.create_nodegroup()
        nodegroup_friends = [man.create_nodegroup() for _ in range(friends)] or None
        app = mkQApp()
        dev = ng.create_node("NumpyDeviceBuffer")
        dev.configure(nb_channel=NB_CHANNEL, sample_interval=1.0 / SAMPLING_RATE, chunksize=CHUNKSIZE, buffer=_buffer())
        dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        dev.initialize()
        viewer = QTimeFreq()
        viewer.configure(with_user_dialog=True, nodegroup_friends=nodegroup_friends)
        viewer.input.connect(dev.output)
        viewer.initialize()
        viewer.resize(600, 400)
        viewer.show()
        viewer.params["nb_column"] = nb_column
        viewer.params["refresh_interval"] = 500  # pyacq: 2000 (a first map 2 s later)
        dev.start()
        viewer.start()
        assert run_until(app, lambda: viewer.counters()["maps_drawn"] >= 1, timeout=60)
        assert_rendered(viewer)
        viewer.stop()
        dev.stop()
        dev.close()
    finally:
        if viewer is not None:
            viewer.close()
            # free the widget tree now, in the GUI thread: left to Python's cyclic gc
            # (after man.close() with friend nodegroups) its collection crashed PySide6
            viewer.deleteLater()
            QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
        man.close()


@pytest.mark.slow
def test_qtimefreq_simple():
    _run_viewer(nb_column=8)


@pytest.mark.slow
def test_stimefreq_distributed():
    _run_viewer(nb_column=4, friends=4)
