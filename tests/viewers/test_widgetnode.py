"""WidgetNode: lifecycle as a Node and as a widget, background ingestion, failure contract."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from viewer_helpers import wait_until

from lslacq.core.stream import OutputStream
from lslacq.viewers import WidgetNode


class Collector(WidgetNode):
    """Minimal viewer: stores chunks in the poller thread, counts refreshes."""

    _input_specs = {"signals": {}}

    def _configure(self, fail_refresh: bool = False, fail_ingest: bool = False) -> None:
        self.fail_refresh = fail_refresh
        self.fail_ingest = fail_ingest

    def _initialize(self) -> None:
        self.chunks = []
        self.add_poller("signals", self._ingest)

    def _ingest(self, index, data):
        if self.fail_ingest:
            raise ValueError("bad chunk")
        self.chunks.append((index, np.array(data)))

    def _refresh(self):
        if self.fail_refresh:
            raise RuntimeError("cannot draw")


@pytest.fixture
def source():
    out = OutputStream(name="src")
    out.configure(protocol="tcp", transfermode="plaindata", dtype="float32", shape=(-1, 2), sample_rate=100.0)
    yield out
    out.close()


def _viewer(source, **kw):
    viewer = Collector(name="collector")
    viewer.configure(**kw)
    viewer.input.connect(source)
    viewer.initialize()
    return viewer


def test_lifecycle_show_ingest_refresh_close(qapp, source):
    viewer = _viewer(source)
    viewer.set_refresh_interval(10)
    viewer.show()
    assert viewer.isVisible() and viewer.windowTitle() == "collector"
    viewer.start()
    for k in range(5):
        source.send(np.full((10, 2), k, "float32"))
    wait_until(qapp, lambda: len(viewer.chunks) == 5 and viewer.frames >= 2, what="chunks and frames")
    assert [i for i, _ in viewer.chunks] == [10, 20, 30, 40, 50]
    assert viewer.chunks[3][1][0, 0] == 3
    counters = viewer.counters()
    assert counters["samples_in"] == 50 and counters["last_index"] == 50 and counters["lost_samples"] == 0
    viewer.stop()
    assert viewer.counters()["samples_in"] == 50  # kept after stop
    viewer.close()
    assert viewer.closed() and not viewer.isVisible()
    assert viewer.parent() is None  # QWidget.parent() still works on a Node


def test_closing_the_window_closes_the_node(qapp, source):
    viewer = _viewer(source)
    viewer.show()
    viewer.start()
    from lslacq.viewers._qt import QtWidgets

    assert isinstance(viewer, QtWidgets.QWidget)
    QtWidgets.QWidget.close(viewer)  # what the window manager's close button does
    assert viewer.closed() and not viewer.running()


def test_refresh_failure_is_reported_once(qapp, source, caplog):
    viewer = _viewer(source, fail_refresh=True)
    seen = []
    viewer.failed.connect(seen.append)
    viewer.start()
    viewer.refresh()
    viewer.refresh()
    assert isinstance(viewer.error, RuntimeError) and len(seen) == 1
    assert sum("cannot draw" in r.getMessage() for r in caplog.records) == 1
    viewer.close()


def test_ingest_failure_is_reported(qapp, source):
    viewer = _viewer(source, fail_ingest=True)
    seen = []
    viewer.failed.connect(seen.append)
    viewer.start()
    source.send(np.zeros((10, 2), "float32"))
    wait_until(qapp, lambda: len(seen) == 1, what="the poller failure")  # error is set just before the emit
    assert "bad chunk" in str(viewer.error) and len(seen) == 1
    viewer.close()


def test_import_viewers_package_loads_no_qt():
    code = (
        "import sys, lslacq.viewers\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] in ('PyQt5', 'PySide6', 'pyqtgraph')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""


def _timers(widget):
    from lslacq.viewers._qt import QtCore

    return widget.findChildren(QtCore.QTimer)


def test_close_stops_the_timers_and_deletes_the_widget_in_the_gui_thread(qapp, source):
    import gc
    import threading
    import weakref

    from lslacq.viewers._qt import pg
    from lslacq.viewers.widgetnode import delete_closed_widgets

    viewer = _viewer(source)
    viewer.show()
    viewer.start()
    timers = _timers(viewer)
    assert timers and any(t.isActive() for t in timers)
    viewer.close()
    assert not any(t.isActive() for t in timers)
    ref = weakref.ref(viewer)
    del viewer
    # Python's cyclic gc may run in any thread: it must not be the one that destroys the Qt objects
    collector = threading.Thread(target=gc.collect)
    collector.start()
    collector.join(timeout=30)
    assert ref() is not None and all(pg.Qt.isQObjectAlive(t) for t in timers)  # kept until Qt deletes it
    qapp.processEvents()  # deletes it when close() ran inside an event handler (here: closeEvent)
    delete_closed_widgets()  # deletes it otherwise, as the event loop would at its next turn
    gc.collect()
    assert ref() is None and not any(pg.Qt.isQObjectAlive(t) for t in timers)
    assert delete_closed_widgets() == 0


def test_a_closed_and_deleted_viewer_closes_again_and_says_why_it_cannot_grab(qapp, source):
    from lslacq.errors import NodeStateError
    from lslacq.viewers.widgetnode import delete_closed_widgets

    viewer = _viewer(source)
    viewer.close()
    delete_closed_widgets()
    assert viewer.close() is True and viewer.closed()  # e.g. NodeGroup.close() after the user closed it
    assert viewer.counters()["frames"] == 0
    with pytest.raises(NodeStateError, match="'collector'.*closed"):
        viewer.grab_array()


def test_closing_the_window_also_releases_the_widget(qapp, source):
    from lslacq.viewers._qt import QtWidgets, pg
    from lslacq.viewers.widgetnode import delete_closed_widgets

    viewer = _viewer(source)
    viewer.show()
    viewer.start()
    timers = _timers(viewer)
    QtWidgets.QWidget.close(viewer)  # the window manager's close button
    assert viewer.closed() and not any(t.isActive() for t in timers)
    delete_closed_widgets()
    assert not any(pg.Qt.isQObjectAlive(t) for t in timers)


def test_delete_closed_widgets_runs_the_deletions_processevents_leaves(qapp):
    from lslacq.viewers._qt import QtCore, QtWidgets, pg
    from lslacq.viewers.widgetnode import delete_closed_widgets, release_widget

    widget = QtWidgets.QWidget()
    timer = QtCore.QTimer(widget)
    timer.start(10)
    release_widget(widget)
    release_widget(widget)  # idempotent
    assert not timer.isActive()
    qapp.processEvents()  # outside an event loop, Qt leaves deleteLater's deletion to the next loop
    assert pg.Qt.isQObjectAlive(widget)
    assert delete_closed_widgets() == 1 and not pg.Qt.isQObjectAlive(timer)
