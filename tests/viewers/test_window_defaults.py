"""What a viewer window opens with: its size on a screen, 60 frames per second (QOscilloscope, `lslacq view`)."""

from __future__ import annotations

import pytest

from lslacq.viewers import widgetnode


def test_fitted_window_size_shrinks_to_the_screen():
    assert widgetnode.fitted_window_size((1600, 1000), (2560, 1440)) == (1600, 1000)
    assert widgetnode.fitted_window_size((1600, 1000), (1600, 1000)) == (1440, 900)
    assert widgetnode.fitted_window_size((1600, 1000), (1366, 740)) == (1229, 666)


def test_a_window_shown_on_a_screen_opens_at_its_window_size_unless_sized(qapp, monkeypatch):
    from lslacq.viewers import ImageViewer, QOscilloscope, QTimeFreq
    from lslacq.viewers._qt import QtWidgets

    screen = QtWidgets.QApplication.primaryScreen().availableGeometry()
    expected = widgetnode.fitted_window_size((1600, 1000), (screen.width(), screen.height()))
    offscreen = QOscilloscope()
    offscreen.show()  # offscreen (the tests' platform): the size the code gave it
    assert (offscreen.width(), offscreen.height()) == (800, 500)
    monkeypatch.setattr(widgetnode, "_on_a_screen", lambda: True)  # as on a desktop
    viewers = {
        name: cls()
        for name, cls in (
            ("default", QOscilloscope),
            ("sized", QOscilloscope),
            ("timefreq", QTimeFreq),
            ("image", ImageViewer),
        )
    }
    viewers["sized"].resize(640, 360)
    holder = QtWidgets.QWidget()
    holder.resize(300, 200)
    layout = QtWidgets.QVBoxLayout(holder)
    inner = QOscilloscope()
    layout.addWidget(inner)
    try:
        for viewer in viewers.values():
            viewer.show()
        holder.show()
        qapp.processEvents()
        assert (viewers["default"].width(), viewers["default"].height()) == expected
        assert (viewers["timefreq"].width(), viewers["timefreq"].height()) == expected
        assert (viewers["sized"].width(), viewers["sized"].height()) == (640, 360)  # resize() before show wins
        assert viewers["image"].width() < expected[0]  # ImageViewer keeps Qt's size (frames keep their aspect)
        assert inner.width() <= 300  # in a layout: the layout decides
        viewers["default"].hide()
        viewers["default"].resize(900, 600)
        viewers["default"].show()  # shown again: keeps what it was given
        assert (viewers["default"].width(), viewers["default"].height()) == (900, 600)
    finally:
        for viewer in [*viewers.values(), inner, offscreen]:
            viewer.close()
        holder.close()
        widgetnode.delete_closed_widgets()


def test_oscilloscopes_and_lslacq_view_refresh_at_60_fps(qapp):
    from lslacq.viewers import QDigitalOscilloscope, QOscilloscope, QOscilloscopeMultiPlot
    from lslacq.viewers._qt import QtCore
    from lslacq.viewers.qoscilloscope import OSCILLOSCOPE_PARAMS

    pytest.importorskip("pylsl")
    from lslacq_lsl.view_cli import DEFAULT_FPS, add_parser, refresh_interval_ms

    assert {p["name"]: p["value"] for p in OSCILLOSCOPE_PARAMS}["refresh_interval"] == 16
    assert DEFAULT_FPS == 60 and refresh_interval_ms(DEFAULT_FPS) == 16  # 62.5 asked: >= 60 shown
    assert refresh_interval_ms(30) == 33 and refresh_interval_ms(1e6) == 5 and refresh_interval_ms(0.1) == 1000
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["view", "X"])
    assert args.fps == 60 and args.size is None
    for cls in (QOscilloscope, QOscilloscopeMultiPlot, QDigitalOscilloscope):
        viewer = cls()
        try:
            assert viewer._refresh_timer.timerType() == QtCore.Qt.TimerType.PreciseTimer  # a coarse one: 53-55 fps
        finally:
            viewer.close()
    widgetnode.delete_closed_widgets()
