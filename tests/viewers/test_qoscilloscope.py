"""QOscilloscope: rendered pixels (traces, colours, gain/offset/visible, min_max, markers), params, inputs."""

from __future__ import annotations

import numpy as np
import pytest
from viewer_helpers import color_mask, render, rows_of, to_pixel, wait_until

from lslacq.core.stream import OutputStream
from lslacq.dsp.events import EVENT_STREAM_SPEC, make_events
from lslacq.viewers import QOscilloscope

RED, GREEN, YELLOW = (255, 0, 0), (0, 255, 0), (255, 204, 0)


@pytest.fixture
def make_source():
    outputs = []

    def make(nb_channel=2, sample_rate=1000.0, dtype="float32", **kw):
        out = OutputStream(name="src")
        kw.setdefault("transfermode", "plaindata")
        out.configure(protocol="tcp", dtype=dtype, shape=(-1, nb_channel), sample_rate=sample_rate, **kw)
        outputs.append(out)
        return out

    yield make
    for out in outputs:
        out.close()


@pytest.fixture
def viewers():
    made = []
    yield made
    for viewer in made:
        viewer.close()


def _scope(viewers, source, events=None, **params):
    viewer = QOscilloscope(name="scope")
    viewers.append(viewer)
    viewer.configure(with_user_dialog=True)
    viewer.input.connect(source)
    if events is not None:
        viewer.inputs["events"].connect(events)
    viewer.initialize()
    viewer.resize(600, 400)
    viewer.params.update({"background_color": "k", "show_status": False, **params})
    colors = ["#ff0000", "#00ff00", "#0000ff", "#ffffff"]
    for i in range(viewer.nb_channel):
        viewer.by_channel_params[i, "color"] = colors[i % 4]
    viewer.show()
    return viewer


def _send_all(qapp, viewer, source, data, chunk=100, start=0):
    for i in range(0, len(data), chunk):
        source.send(data[i : i + chunk], index=start + i + len(data[i : i + chunk]))
    total = start + len(data)
    wait_until(qapp, lambda: viewer.counters()["last_index"] == total, what="the viewer to receive everything")
    return render(qapp, viewer)


def test_sine_on_channel_0_draws_in_the_expected_rows(qapp, viewers, make_source):
    source = make_source(nb_channel=2)
    viewer = _scope(viewers, source, xsize=2.0, mode="scroll", ylim_min=-10, ylim_max=10)
    viewer.by_channel_params["ch1", "visible"] = False
    viewer.start()
    t = np.arange(2000) / 1000.0
    data = np.zeros((2000, 2), "float32")
    data[:, 0] = 6 * np.sin(2 * np.pi * 1.0 * t)
    image = _send_all(qapp, viewer, source, data)
    red = color_mask(image, RED)
    assert red.sum() > 300
    for sample in (250, 500, 1000, 1250, 1750):  # peaks, zero crossing, trough
        x = (sample - 2000) / 1000.0
        col, row = to_pixel(viewer, x, data[sample, 0], image)
        rows = rows_of(red, col, halfwidth=2)
        assert rows.size and np.abs(rows - row).min() <= 2 and np.ptp(rows) < 40, (sample, row, rows)
    assert not color_mask(image, GREEN).any()  # the hidden channel


def test_per_channel_colours_gain_offset_and_visible(qapp, viewers, make_source):
    source = make_source(nb_channel=2)
    viewer = _scope(viewers, source, xsize=1.0, mode="scroll", ylim_min=-10, ylim_max=10)
    viewer.start()
    data = np.empty((1000, 2), "float32")
    data[:, 0], data[:, 1] = 4.0, -4.0
    image = _send_all(qapp, viewer, source, data)
    col, row_red = to_pixel(viewer, -0.5, 4.0, image)
    _, row_green = to_pixel(viewer, -0.5, -4.0, image)
    assert abs(np.median(rows_of(color_mask(image, RED), col)) - row_red) <= 2
    assert abs(np.median(rows_of(color_mask(image, GREEN), col)) - row_green) <= 2
    # gain and offset move the trace: 4 * 0.5 + 5 = 7
    viewer.by_channel_params["ch0", "gain"] = 0.5
    viewer.by_channel_params[0, "offset"] = 5.0
    image = render(qapp, viewer)
    _, row_moved = to_pixel(viewer, -0.5, 7.0, image)
    assert abs(np.median(rows_of(color_mask(image, RED), col)) - row_moved) <= 2
    # visible=False hides it, the other channel stays
    viewer.by_channel_params["ch0", "visible"] = False
    image = render(qapp, viewer)
    assert not color_mask(image, RED).any() and color_mask(image, GREEN).any()


@pytest.mark.parametrize(("method", "spike_visible"), [("min_max", True), ("pure_decimate", False), ("mean", False)])
def test_min_max_keeps_a_one_sample_spike(qapp, viewers, make_source, method, spike_visible):
    source = make_source(nb_channel=1, sample_rate=10000.0)
    viewer = _scope(viewers, source, xsize=10.0, mode="scroll", ylim_min=-10, ylim_max=10, decimation_method=method)
    assert viewer.params["decimate"] > 10  # auto_decimate: 100000 samples in the window
    viewer.start()
    data = np.zeros((100000, 1), "float32")
    data[54321, 0] = 8.0
    image = _send_all(qapp, viewer, source, data, chunk=2000)
    red = color_mask(image, RED)
    _, row_spike = to_pixel(viewer, -5.0, 8.0, image)
    col_spike, _ = to_pixel(viewer, (54321 - 100000) / 10000.0, 8.0, image)
    assert red[row_spike - 2 : row_spike + 3, col_spike - 3 : col_spike + 4].any() == spike_visible


@pytest.mark.parametrize("decimate", [10, 40])  # 1000 points: drawn as an image; 250: as curves
@pytest.mark.parametrize(("method", "levels"), [("mean", [0.0]), ("pure_decimate", [6.0]), ("min_max", [6.0, -6.0])])
def test_decimation_methods_draw_a_fast_square_wave_at_their_level(
    qapp, viewers, make_source, decimate, method, levels
):
    """+6/-6 on alternate samples: its mean over a bin is 0, its first sample +6, its min/max the whole swing."""
    source = make_source(nb_channel=1)
    viewer = _scope(
        viewers,
        source,
        xsize=10.0,
        mode="scroll",
        ylim_min=-10,
        ylim_max=10,
        auto_decimate=False,
        decimate=decimate,
        decimation_method=method,
    )
    viewer.start()
    data = np.where(np.arange(10000) % 2 == 0, 6.0, -6.0).astype("float32")[:, None]
    image = _send_all(qapp, viewer, source, data, chunk=1000)
    assert viewer.traces.active == (decimate == 10)
    red = color_mask(image, RED)
    rows_at = {y: to_pixel(viewer, -5.0, y, image)[1] for y in (6.0, 0.0, -6.0)}
    for x in (-7.5, -5.0, -2.5):
        col = to_pixel(viewer, x, 0.0, image)[0]
        rows = rows_of(red, col, halfwidth=3)  # curves: a min/max zigzag peaks every 5 columns
        assert rows.size, (x, method)
        near = {y for y, row in rows_at.items() if np.abs(rows - row).min() <= 2}
        if method == "min_max":  # a vertical run from -6 to +6
            assert near == {6.0, 0.0, -6.0} and rows.min() >= rows_at[6.0] - 2 and rows.max() <= rows_at[-6.0] + 2
        else:  # a flat line at its level only
            assert near == set(levels) and np.ptp(rows) <= 4, (x, method, rows, rows_at)


def _gutter_box(viewer, y: float, image):
    """Pixels of the name gutter (left of the plot) around the level y."""
    col, row = to_pixel(viewer, -1.0, y, image)  # x = -1: the plot's left edge
    return image[row - 5 : row + 6, 2 : col - 2]


def test_display_labels_puts_the_names_in_a_gutter_left_of_the_traces(qapp, viewers, make_source):
    """The names sit in the gutter at their channel's level, light text on a box, a swatch of the colour."""
    source = make_source(nb_channel=2)
    viewer = _scope(viewers, source, xsize=1.0, mode="scroll", ylim_min=-10, ylim_max=10)
    viewer.by_channel_params[0, "offset"] = 5.0  # names at offset + gain * centre (0 before auto_scale)
    viewer.by_channel_params[1, "offset"] = -5.0
    viewer.start()
    data = np.zeros((1000, 2), "float32")  # traces at 5 and -5, right next to their names
    image = _send_all(qapp, viewer, source, data)
    assert viewer.params["display_labels"]  # the default now
    left = to_pixel(viewer, -1.0, 0.0, image)[0]
    assert left > 20  # the gutter takes room left of the plot
    red = color_mask(image, RED)
    assert not red[:, : left - 1].any(axis=0)[left - 12 : left - 1].any()  # no trace pixel in the gutter
    for y, rgb in ((5.0, RED), (-5.0, GREEN)):
        box = _gutter_box(viewer, y, image)
        assert color_mask(box, rgb, tol=60).sum() >= 10, y  # the swatch
        assert (box[..., :3].min(axis=2) > 180).sum() >= 8, y  # white-ish text: legible on any colour
        assert color_mask(image, rgb)[:, left + 5 :].any()  # and the trace right of it
    for box in viewer.gutter.boxes:  # the label boxes stay in the gutter
        assert box.right() <= viewer.gutter.size().width()
    viewer.by_channel_params[1, "visible"] = False  # a hidden channel has no name
    image = render(qapp, viewer)
    assert color_mask(_gutter_box(viewer, 5.0, image), RED).sum() >= 10
    assert not color_mask(_gutter_box(viewer, -5.0, image), GREEN).any()
    assert (_gutter_box(viewer, -5.0, image)[..., :3].min(axis=2) > 180).sum() == 0
    viewer.params["display_labels"] = False  # no gutter (the numeric axis is off): the plot takes the room
    image = render(qapp, viewer)
    assert not viewer.gutter.isVisible()
    assert to_pixel(viewer, -1.0, 0.0, image)[0] < 5
    assert color_mask(image, RED)[:, 5:left].any()  # the trace runs where the gutter was


@pytest.mark.parametrize("mode", ["scroll", "scan"])
def test_markers_draw_at_their_sample(qapp, viewers, make_source, mode):
    source = make_source(nb_channel=1)
    events = OutputStream(name="markers")
    events.configure(protocol="tcp", **EVENT_STREAM_SPEC)
    try:
        viewer = _scope(viewers, source, events=events, xsize=2.0, mode=mode, ylim_min=-10, ylim_max=10)
        viewer.start()
        events.send(make_events([700, 1600], description=["S  1", "S  2"]))
        image = _send_all(qapp, viewer, source, np.zeros((2500, 1), "float32"))
        yellow = color_mask(image, YELLOW, tol=40)
        columns = np.flatnonzero(yellow.sum(axis=0) > 100)  # vertical lines
        expected = []
        for index in (700, 1600):
            x = (index - 2500) / 1000.0 if mode == "scroll" else (index % 2000) / 1000.0
            expected.append(to_pixel(viewer, x, 0, image)[0])
        if mode == "scroll":  # sample 700 left the 2 s window ending at 2500
            expected = expected[1:]
        for col in expected:
            assert np.abs(columns - col).min() <= 2, (col, columns)
        assert len(viewer._event_lines) >= len(expected)
        labels = [line.label.format for line in viewer._event_lines if line.isVisible()]
        assert "S  2" in labels
    finally:
        viewer.close()
        events.close()


def test_sharedmem_input_with_channel_major_axisorder(qapp, viewers, make_source):
    source = make_source(nb_channel=3, transfermode="sharedmem", buffer_size=5000, axisorder=(1, 0))
    viewer = _scope(viewers, source, xsize=1.0, mode="scroll", ylim_min=-10, ylim_max=10)
    viewer.start()
    data = np.zeros((1000, 3), "float32")
    data[:, 0], data[:, 1], data[:, 2] = 3.0, -3.0, 100.0
    image = _send_all(qapp, viewer, source, data)
    col, row_red = to_pixel(viewer, -0.5, 3.0, image)
    _, row_green = to_pixel(viewer, -0.5, -3.0, image)
    assert abs(np.median(rows_of(color_mask(image, RED), col)) - row_red) <= 2
    assert abs(np.median(rows_of(color_mask(image, GREEN), col)) - row_green) <= 2
    np.testing.assert_array_equal(viewer.get_visible_chunk()[-1], [3.0, -3.0, 100.0])


def test_int16_input_and_auto_scale_modes(qapp, viewers, make_source):
    source = make_source(nb_channel=2, dtype="int16")
    viewer = _scope(viewers, source, xsize=1.0)
    viewer.start()
    rng = np.random.default_rng(1)
    data = np.stack([rng.normal(1000, 50, 1000), rng.normal(-200, 5, 1000)], axis=1).astype("int16")
    _send_all(qapp, viewer, source, data)
    viewer.params["scale_mode"] = "real_scale"  # auto_scale again: overlaid, in the data's range
    assert viewer.params["ylim_min"] < data.min() and viewer.params["ylim_max"] > data.max()
    viewer.params["scale_mode"] = "by_channel"  # auto_scale again: stacked, each channel ~ one unit tall
    assert (viewer.params["ylim_min"], viewer.params["ylim_max"]) == (-0.5, 1.5)
    gains = np.array(viewer.by_channel_params.values("gain"))
    offsets = np.array(viewer.by_channel_params.values("offset"))
    centers = np.median(data, axis=0) * gains + offsets
    np.testing.assert_allclose(centers, [1.0, 0.0], atol=0.05)
    assert gains[1] >= 4 * gains[0]  # the quieter channel is magnified more (gains on a 1-2-5 series)
    viewer.params["scale_mode"] = "same_for_all"
    assert len(set(viewer.by_channel_params.values("gain"))) == 1


def test_params_are_validated_and_pyacq_keys_work(qapp, viewers, make_source):
    source = make_source(nb_channel=1, channel_names=["Signal0"])
    viewer = _scope(viewers, source)
    viewer.params["decimation_method"] = "min_max"
    viewer.by_channel_params["Signal0", "gain"] = 0.001  # the manual's example 6.4
    assert viewer.by_channel_params["ch0", "gain"] == pytest.approx(0.001)
    with pytest.raises(ValueError, match="choose one of"):
        viewer.params["decimation_method"] = "median"
    with pytest.raises(ValueError, match="out of range"):
        viewer.params["refresh_interval"] = 0
    with pytest.raises(TypeError, match="must be a number"):
        viewer.by_channel_params[0, "offset"] = "high"
    with pytest.raises(KeyError, match="no channel 'Signal7'"):
        viewer.by_channel_params["Signal7", "gain"] = 1
    with pytest.raises(KeyError, match="no parameter 'xsise'"):
        viewer.params["xsise"] = 3
    assert viewer.params["decimation_method"] == "min_max"  # unchanged by the refused values
    viewer.params["refresh_interval"] = 40
    assert viewer._refresh_timer.interval() == 40


def test_double_click_opens_the_parameter_dialog(qapp, viewers, make_source):
    from pyqtgraph.Qt import QtTest

    from lslacq.viewers._qt import QtCore, QtWidgets

    viewer = _scope(viewers, source := make_source(nb_channel=1))
    assert source is not None
    wait_until(qapp, viewer.isVisible, what="the window")
    assert not viewer.params_controller.isVisible()
    viewport = viewer.graphicsview.viewport()
    center = viewport.rect().center()
    QtTest.QTest.mouseDClick(viewport, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, center)
    wait_until(qapp, viewer.params_controller.isVisible, timeout=5, what="the dialog")
    trees = viewer.params_controller.findChildren(QtWidgets.QTreeWidget)
    assert len(trees) == 2
    buttons = [b.text() for b in viewer.params_controller.findChildren(QtWidgets.QPushButton)]
    assert "Auto scale" in buttons


def test_bad_inputs_are_clear_errors(qapp, make_source):
    viewer = QOscilloscope(name="scope")
    try:
        viewer.configure()
        image = OutputStream(name="cam")
        image.configure(protocol="tcp", streamtype="image/video", dtype="uint8", shape=(-1, 4, 4, 3), sample_rate=30.0)
        with pytest.raises(ValueError, match="ImageViewer"):
            viewer.input.connect(image)
        image.close()
        no_rate = make_source(nb_channel=1, sample_rate=None)
        viewer.input.connect(no_rate)
        with pytest.raises(ValueError, match="sample_rate"):
            viewer.initialize()
    finally:
        viewer.close()


def test_status_line_reports_rate_drops_and_latency(qapp, viewers, make_source):
    source = make_source(nb_channel=1)
    viewer = _scope(viewers, source, xsize=0.1, show_status=True)
    viewer.start()
    _send_all(qapp, viewer, source, np.zeros((100, 1), "float32"))
    _send_all(qapp, viewer, source, np.zeros((500, 1), "float32"), start=100)
    counters = viewer.counters()
    assert counters["skipped_samples"] == 400  # 500 new samples, a 100-sample window: 400 never shown
    assert counters["samples_in"] == 600 and counters["latency"] is not None
    text = viewer.status_text()
    assert "Hz" in text and "display 400" in text and "latency" in text


def test_status_fps_counts_the_frames_the_window_painted_not_the_refreshes(qapp, viewers, make_source):
    """Refreshes between two turns of the event loop draw into the scene but reach the window once.

    The status line's fps follows counters()['paints'] (paint events of the view), counters()['frames'] the refreshes.
    """
    import re
    import time

    source = make_source(nb_channel=1)
    viewer = _scope(viewers, source, xsize=0.5, show_status=True, refresh_interval=1000)
    viewer.start()
    _send_all(qapp, viewer, source, np.zeros((200, 1), "float32"))
    painted, refreshed, t0 = viewer.paints, viewer.frames, time.monotonic()
    for _ in range(40):
        viewer.refresh()
    assert viewer.frames - refreshed == 40 and viewer.paints == painted  # drawn, not painted yet
    qapp.processEvents()
    assert 1 <= viewer.paints - painted <= 2  # the 40 refreshes reached the window as one paint
    while time.monotonic() - t0 < 0.6:  # 20 refreshes per turn of the event loop
        for _ in range(20):
            viewer.refresh()
        qapp.processEvents()
    elapsed = time.monotonic() - t0
    refresh_rate, paint_rate = (viewer.frames - refreshed) / elapsed, (viewer.paints - painted) / elapsed
    fps = int(re.search(r"(\d+) fps", viewer.status_text()).group(1))
    assert refresh_rate > 8 * paint_rate and fps < refresh_rate / 4, (fps, refresh_rate, paint_rate)
    assert viewer.counters()["paints"] == viewer.paints


def test_scan_mode_overwrites_from_the_left_and_background_colour(qapp, viewers, make_source):
    source = make_source(nb_channel=1)
    viewer = _scope(viewers, source, xsize=1.0, mode="scan", ylim_min=-10, ylim_max=10)
    viewer.params["background_color"] = "w"
    viewer.start()
    data = np.full((1500, 1), -5.0, "float32")
    data[1000:] = 5.0  # the second sweep has written 0.5 s so far
    image = _send_all(qapp, viewer, source, data)
    red = color_mask(image, RED)
    for x, y in ((0.25, 5.0), (0.75, -5.0)):  # new sweep on the left, the end of the previous one on the right
        col, row = to_pixel(viewer, x, y, image)
        rows = rows_of(red, col)
        assert rows.size and np.abs(rows - row).max() <= 2, (x, row, rows)
    corner = image[2, 2, :3]
    assert corner.min() > 240  # white background


def test_scale_and_offset_of_the_stream_give_physical_units(qapp, viewers, make_source):
    source = make_source(nb_channel=1, dtype="int16", scale=0.1, offset=-3.0, units="uV")
    viewer = _scope(viewers, source, xsize=1.0)
    viewer.start()
    _send_all(qapp, viewer, source, np.full((100, 1), 50, "int16"))
    np.testing.assert_allclose(viewer.get_visible_chunk()[-100:, 0], 2.0, rtol=1e-6)
