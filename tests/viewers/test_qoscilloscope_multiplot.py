"""QOscilloscopeMultiPlot: one plot per channel (rendered pixels), per-plot y range, visibility, auto_scale."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from viewer_helpers import color_mask, render, rows_of, to_pixel, wait_until

from lslacq.core.stream import OutputStream
from lslacq.viewers import QOscilloscope, QOscilloscopeMultiPlot

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


@pytest.fixture
def source():
    out = OutputStream(name="src")
    out.configure(protocol="tcp", transfermode="plaindata", dtype="float32", shape=(-1, 3), sample_rate=1000.0)
    yield out
    out.close()


@pytest.fixture
def viewer(qapp, source):
    viewer = QOscilloscopeMultiPlot(name="multi")
    viewer.configure(with_user_dialog=True)
    viewer.input.connect(source)
    viewer.initialize()
    viewer.resize(600, 600)
    viewer.params.update(
        background_color="k", show_status=False, show_left_axis=False, show_bottom_axis=False, mode="scroll", xsize=2.0
    )
    for i, color in enumerate(["#ff0000", "#00ff00", "#0000ff"]):
        viewer.by_channel_params[i, "color"] = color
        viewer.by_channel_params[i, "ylim_min"] = -10.0  # set: no automatic scaling on the first data
        viewer.by_channel_params[i, "ylim_max"] = 10.0
    viewer.show()
    yield viewer
    viewer.close()


def _pixel(viewer, plot: int, x: float, y: float, image) -> tuple[int, int]:
    return to_pixel(viewer, x, y, image, viewbox=viewer.viewBoxes[plot])


def _send(qapp, viewer, source, data):
    viewer.start()
    for i in range(0, len(data), 100):
        source.send(data[i : i + 100], index=i + 100)
    wait_until(qapp, lambda: viewer.counters()["last_index"] == len(data), what="the viewer to receive everything")
    return render(qapp, viewer)


def test_is_a_qoscilloscope_with_pyacqs_params():
    assert issubclass(QOscilloscopeMultiPlot, QOscilloscope)
    names = {p["name"] for p in QOscilloscopeMultiPlot._default_by_channel_params}
    assert {"visible", "ylim_min", "ylim_max"} <= names
    assert "ylim_min" not in {p["name"] for p in QOscilloscopeMultiPlot._default_params}


@pytest.mark.parametrize("xsize", [2.0, 0.3])  # 2000 points: drawn as an image; 300: as curves
def test_sine_on_channel_1_of_3_draws_in_the_second_plot(qapp, viewer, source, xsize):
    viewer.params.update(xsize=xsize, auto_decimate=False, decimate=1)
    t = np.arange(2000) / 1000.0
    data = np.zeros((2000, 3), "float32")
    data[:, 1] = 6 * np.sin(2 * np.pi * 2.0 * t)
    data[:, 2] = 100.0  # outside its plot's y range: not drawn
    image = _send(qapp, viewer, source, data)
    assert viewer.traces.active == (xsize == 2.0)
    green, red = color_mask(image, GREEN), color_mask(image, RED)
    top = _pixel(viewer, 1, 0, 10, image)[1]
    bottom = _pixel(viewer, 1, 0, -10, image)[1]
    rows = np.flatnonzero(green.any(axis=1))
    assert rows.size > 20 and rows.min() >= top - 1 and rows.max() <= bottom + 1  # only in the second plot
    for sample in range(2000 - int(xsize * 1000) + 50, 2000, 100):
        col, row = _pixel(viewer, 1, (sample - 2000) / 1000.0, data[sample, 1], image)
        found = rows_of(green, col, halfwidth=2)
        assert found.size and np.abs(found - row).min() <= 2, (sample, row, found)
    red_rows = np.flatnonzero(red.any(axis=1))  # channel 0 (zeros) in the first plot, above
    assert red_rows.size and red_rows.max() < top
    assert not color_mask(image, BLUE).any()


def test_each_plot_has_its_own_y_range_and_visibility(qapp, viewer, source):
    data = np.full((2000, 3), 5.0, "float32")
    viewer.by_channel_params[1, "ylim_min"] = 0.0
    viewer.by_channel_params[1, "ylim_max"] = 40.0
    image = _send(qapp, viewer, source, data)
    for plot, rgb in ((0, RED), (1, GREEN), (2, BLUE)):
        col, row = _pixel(viewer, plot, -1.0, 5.0, image)
        assert abs(np.median(rows_of(color_mask(image, rgb), col)) - row) <= 2, plot
    # 5 sits at 3/4 of the first plot's height but near the bottom of the second
    ys = [_pixel(viewer, p, -1.0, y, image)[1] for p, y in ((0, 10), (0, -10), (1, 40), (1, 0))]
    frac0 = (ys[1] - _pixel(viewer, 0, -1.0, 5.0, image)[1]) / (ys[1] - ys[0])
    frac1 = (ys[3] - _pixel(viewer, 1, -1.0, 5.0, image)[1]) / (ys[3] - ys[2])
    assert frac0 == pytest.approx(0.75, abs=0.03) and frac1 == pytest.approx(0.125, abs=0.03)
    viewer.by_channel_params[0, "visible"] = False  # hides the plot; the others take the room
    image = render(qapp, viewer)
    assert not viewer.plots[0].isVisible() and not color_mask(image, RED).any()
    assert color_mask(image, GREEN).any() and color_mask(image, BLUE).any()


def test_auto_scale_and_wheel_zoom_set_each_plots_range(qapp, viewer, source):
    data = np.zeros((2000, 3), "float32")
    data[:, 0] = np.linspace(-1, 1, 2000)
    data[:, 1] = np.linspace(100, 300, 2000)
    data[:, 2] = 7.0
    _send(qapp, viewer, source, data)
    viewer.auto_scale()
    lims = [(viewer.by_channel_params[c, "ylim_min"], viewer.by_channel_params[c, "ylim_max"]) for c in range(3)]
    # the 1st-99th percentiles with 10 % margins: -0.98..0.98 -> +-1.176, 102..298 -> 82.4..317.6
    assert lims[0] == pytest.approx((-1.176, 1.176), abs=1e-3) and lims[1] == pytest.approx((82.4, 317.6), abs=0.1)
    assert lims[2] == pytest.approx((5.8, 8.2))  # a flat channel gets +-1
    viewer.ylim_zoom(1, 2.0)  # what the wheel over the second plot does
    assert (viewer.by_channel_params[1, "ylim_min"], viewer.by_channel_params[1, "ylim_max"]) == pytest.approx(
        (141.2, 258.8), abs=0.1
    )
    assert (viewer.by_channel_params[0, "ylim_min"], viewer.by_channel_params[0, "ylim_max"]) == pytest.approx(lims[0])


def test_time_axes_line_up_and_one_bottom_axis(qapp, viewer, source):
    viewer.params.update(show_left_axis=True, show_bottom_axis=True)
    viewer.by_channel_params[1, "ylim_min"] = -20000.0  # wider tick labels than the other plots
    viewer.by_channel_params[1, "ylim_max"] = 20000.0
    render(qapp, viewer)
    render(qapp, viewer)  # tick labels change the axes' widths at the next layout
    rects = [vb.sceneBoundingRect() for vb in viewer.viewBoxes]
    assert len({(round(r.left()), round(r.width())) for r in rects}) == 1
    assert [plot.getAxis("bottom").isVisible() for plot in viewer.plots] == [False, False, True]
    viewer.by_channel_params[2, "visible"] = False
    render(qapp, viewer)
    assert viewer.plots[1].getAxis("bottom").isVisible() and not viewer.plots[2].isVisible()


@pytest.mark.parametrize("xsize", [2.0, 0.3])  # drawn as an image; as curves
def test_every_plot_of_a_frame_ends_at_the_same_sample(qapp, viewer, source, xsize):
    """A chunk fed while a frame is drawn (the input thread) shows in no plot of that frame, then in all."""
    viewer.params.update(xsize=xsize, auto_decimate=False, decimate=1)
    _send(qapp, viewer, source, np.zeros((2000, 3), "float32"))
    draw_plot, armed = viewer._draw_plot, [True]

    def draw_then_feed(*args, **kwargs):
        result = draw_plot(*args, **kwargs)
        if armed:  # after the first plot: the input thread delivers a step to 8 on every channel
            armed.clear()
            viewer._scope.feed(2100, np.full((100, 3), 8.0, "float32"))
        return result

    viewer._draw_plot = draw_then_feed
    viewer.refresh()
    assert not armed and viewer._drawn_head == 2000  # the status line counts the frame's end too
    image = viewer.grab_array()

    def step_rows(image):
        """Per plot: whether its channel is drawn at y = 8 near the right edge."""
        found = []
        for plot, rgb in enumerate((RED, GREEN, BLUE)):
            col, row = _pixel(viewer, plot, -0.02, 8.0, image)
            rows = rows_of(color_mask(image, rgb), col, halfwidth=2)
            found.append(bool(rows.size) and int(np.abs(rows - row).min()) <= 2)
        return found

    assert step_rows(image) == [False, False, False]  # the frame ended at sample 2000 in every plot
    viewer.refresh()
    assert step_rows(viewer.grab_array()) == [True, True, True]  # the next frame shows it everywhere


def test_each_plot_is_scaled_on_the_first_data_unless_its_range_was_set(qapp, source):
    """Without a y range set before start, each plot fits its channel once 1 s has arrived (DC offsets, spikes)."""
    viewer = QOscilloscopeMultiPlot(name="auto")
    try:
        viewer.configure(with_user_dialog=False)
        viewer.input.connect(source)
        viewer.initialize()
        viewer.resize(600, 600)
        viewer.params.update(show_status=False, mode="scroll", xsize=2.0)
        viewer.show()
        t = np.arange(1500) / 1000.0
        data = np.stack(
            [50000 + 10 * np.sin(2 * np.pi * 5 * t), -30000 + 2 * np.sin(2 * np.pi * 5 * t), np.sin(2 * np.pi * 5 * t)],
            axis=1,
        ).astype("float32")
        data[700, 2] = 1e6  # one outlier sample does not set the range
        _send(qapp, viewer, source, data)
        render(qapp, viewer)
        for c, (center, amp) in enumerate(((50000, 10), (-30000, 2), (0, 1))):
            low, high = viewer.by_channel_params[c, "ylim_min"], viewer.by_channel_params[c, "ylim_max"]
            assert low < center - 0.9 * amp and high > center + 0.9 * amp and high - low < 4 * amp, (c, low, high)
        assert [plot.getAxis("left").labelText for plot in viewer.plots] == ["ch0", "ch1", "ch2"]
    finally:
        viewer.close()


def test_default_look_on_dc_coupled_eeg(qapp):
    """Nothing set, 4 channels in uV with DC offsets of tens of mV, 10 uV sines and an outlier.

    Each plot shows its channel oscillating over most of its height, the time axis under the last plot, and each y
    axis's title (in a colour legible on the background, even for a dark blue channel) never overlaps its tick labels.
    """
    from lslacq.viewers.scopeaxes import contrast_ratio

    out = OutputStream(name="eeg")
    out.configure(
        protocol="inproc",
        transfermode="plaindata",
        dtype="float32",
        shape=(-1, 4),
        sample_rate=500.0,
        channel_names=["Fp1", "Fp2", "O1", "O2"],
        units="microvolts",
    )
    viewer = QOscilloscopeMultiPlot(name="multi-eeg")
    try:
        viewer.configure(with_user_dialog=False)
        viewer.input.connect(out)
        viewer.initialize()
        viewer.by_channel_params[3, "color"] = "#0000a0"  # dark blue on black
        viewer.resize(800, 600)
        viewer.params["show_status"] = False
        viewer.show()
        t = np.arange(1500)[:, None] / 500.0
        dc = np.array([1200.0, 45032.0, -35597.0, -48000.0])
        data = (dc + 10 * np.sin(2 * np.pi * np.array([5.0, 6.0, 7.0, 8.0]) * t)).astype("float32")
        data[700, 1] = 2e5  # one outlier
        viewer.start()
        for i in range(0, 1500, 50):
            out.send(data[i : i + 50], index=i + 50)
        wait_until(qapp, lambda: viewer.counters()["last_index"] == 1500, what="the data")
        render(qapp, viewer)  # the tick labels' width is known once painted,
        render(qapp, viewer)  # the axes are given it at the next frame,
        image = render(qapp, viewer)  # and laid out at the next turn of the event loop
        ratio = image.shape[1] / viewer.width()
        for c, plot in enumerate(viewer.plots):
            vb = viewer.viewBoxes[c]
            rect = vb.sceneBoundingRect()
            top, bottom = int(rect.top() * ratio) + 1, int(rect.bottom() * ratio) - 1
            left, right = int(rect.left() * ratio) + 1, int(rect.right() * ratio) - 1
            color = viewer.by_channel_params[c, "color"]
            rgb = pg.mkColor(color).getRgb()[:3]
            rows = np.nonzero(color_mask(image[top:bottom, left:right], rgb, tol=8))[0]
            assert rows.size > right - left, (c, "no trace in its plot")
            lo, hi = np.percentile(rows, [5, 95])
            assert hi - lo > 0.4 * (bottom - top), (c, lo, hi, bottom - top)  # the oscillation fills the plot
            axis = plot.getAxis("left")
            assert axis.labelText == viewer.channel_names[c] + " (µV)"
            title_rgb = pg.mkColor(axis.labelStyle["color"])
            assert contrast_ratio(title_rgb, pg.mkColor("k")) >= 4.5
            # in the axis strip: the title's columns and the (grey) tick labels' columns do not overlap
            strip = image[top:bottom, : left - 1]
            title_cols = np.flatnonzero(color_mask(strip, title_rgb.getRgb()[:3], tol=30).any(axis=0))
            tick_cols = np.flatnonzero(color_mask(strip, (208, 208, 208), tol=30).any(axis=0))
            assert title_cols.size and tick_cols.size, c
            assert title_cols.max() < tick_cols.min(), (c, title_cols.max(), tick_cols.min())
        assert [p.getAxis("bottom").isVisible() for p in viewer.plots] == [False, False, False, True]
        rects = [vb.sceneBoundingRect() for vb in viewer.viewBoxes]
        assert len({(round(r.left()), round(r.width())) for r in rects}) == 1  # the time ranges line up
        # the keys: + zooms every plot, Right lengthens the window
        from pyqtgraph.Qt import QtTest

        from lslacq.viewers._qt import QtCore

        spans = [viewer.by_channel_params[c, "ylim_max"] - viewer.by_channel_params[c, "ylim_min"] for c in range(4)]
        QtTest.QTest.keyClick(viewer.graphicsview, QtCore.Qt.Key.Key_Plus)
        after = [viewer.by_channel_params[c, "ylim_max"] - viewer.by_channel_params[c, "ylim_min"] for c in range(4)]
        assert after == pytest.approx([s / 1.25 for s in spans])
        xsize = viewer.params["xsize"]
        QtTest.QTest.keyClick(viewer.graphicsview, QtCore.Qt.Key.Key_Right)
        assert viewer.params["xsize"] == pytest.approx(xsize * 1.5)
    finally:
        viewer.close()
        out.close()
