"""QTriggeredOscilloscope: trigger and accumulator sub-nodes, aligned sweeps drawn on the trigger."""

from __future__ import annotations

import time

import numpy as np
import pytest
from viewer_helpers import rows_of, to_pixel, wait_until

from lslacq.core.stream import OutputStream
from lslacq.viewers import QTriggeredOscilloscope

EDGES = [300, 850, 1320, 1900, 2600, 3100]  # irregular: the sweeps line up only if aligned on the trigger


@pytest.fixture
def source():
    out = OutputStream(name="src")
    out.configure(protocol="tcp", transfermode="plaindata", dtype="float32", shape=(-1, 1), sample_rate=1000.0)
    yield out
    out.close()


def _pulses(n=3500, low=-5.0, highs=None):
    """``low`` with a 150-sample pulse at each of EDGES, to the level of ``highs`` (one per edge, default 5)."""
    data = np.full((n, 1), low, "float32")
    for edge, high in zip(EDGES, [5.0] * len(EDGES) if highs is None else highs, strict=True):
        data[edge : edge + 150, 0] = high
    return data


def _stack_sweeps(qapp, viewer, source, data, with_user_dialog=True):
    """Run ``viewer`` on ``source`` and send it ``data`` until every edge of EDGES has triggered.

    The viewer shows 4 sweeps of -0.1..0.12 s on rising zero crossings, red on black, y -10..10.
    """
    viewer.configure(with_user_dialog=with_user_dialog)
    viewer.input.connect(source)
    viewer.initialize()
    viewer.trigger.params.update(threshold=0.0, front="+", debounce_mode="no-debounce")
    viewer.triggeraccumulator.params.update(stack_size=4, left_sweep=-0.1, right_sweep=0.12)
    viewer.params.update(ylim_min=-10, ylim_max=10, background_color="k", show_bottom_axis=False)
    viewer.by_channel_params["ch0", "color"] = "#ff0000"
    viewer.resize(600, 400)
    viewer.show()
    viewer.start()
    for i in range(0, len(data), 50):
        source.send(data[i : i + 50], index=i + 50)
    wait_until(qapp, lambda: viewer.triggeraccumulator.total_trig == len(EDGES), what="every trigger")


def _reddish(image):
    rgb = image[..., :3].astype(int)
    return (rgb[..., 0] > 50) & (rgb[..., 0] > rgb[..., 1] + 40) & (rgb[..., 0] > rgb[..., 2] + 40)


def _render(qapp, viewer):
    qapp.processEvents()
    viewer.grab()
    qapp.processEvents()
    viewer._drawn = None
    viewer.refresh()
    return viewer.grab_array()


@pytest.mark.slow
def test_stacks_sweeps_aligned_on_the_trigger(qapp, source):
    viewer = QTriggeredOscilloscope(name="trig")
    try:
        _stack_sweeps(qapp, viewer, source, _pulses())
        epochs = viewer.triggeraccumulator.get_epochs()
        assert epochs.shape == (4, 1, 220)
        assert np.all(epochs[:, 0, :100] == -5.0) and np.all(epochs[:, 0, 100:] == 5.0)
        image = _render(qapp, viewer)
        red = _reddish(image)  # translucent red sweeps and a lighter red mean over black
        for x, y_expected in ((-0.05, -5.0), (0.06, 5.0)):
            col, row = to_pixel(viewer, x, y_expected, image)
            rows = rows_of(red, col)
            assert rows.size and np.abs(rows - row).max() <= 3, (x, row, rows)
        assert "Nb events: 6" in viewer.label_count.text()
        assert viewer.counters()["triggers"] == 6
        # the Reset button empties the stack
        viewer.reset_stack()
        assert viewer.triggeraccumulator.total_trig == 0
        image = _render(qapp, viewer)
        left = to_pixel(viewer, -0.1, 0.0, image)[0] + 1  # the plot: the name gutter has a red swatch
        assert not _reddish(image)[:, left:].any()
    finally:
        viewer.close()
    assert viewer.trigger.closed() and viewer.triggeraccumulator.closed()


def _pinkish(image):
    """The mean trace: the channel colour made lighter (pure red -> about (255, 178, 178))."""
    rgb = image[..., :3].astype(int)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return (red > 200) & (green > 100) & (red > green + 40) & (np.abs(green - blue) < 30)


def test_mean_trace_is_drawn_at_the_mean_of_sweeps_of_different_amplitudes(qapp, source):
    viewer = QTriggeredOscilloscope(name="trig")
    try:
        data = _pulses(low=-6.0, highs=[1.0, 9.0] * 3)  # the 4 sweeps stacked: 1, 9, 1, 9 after the trigger
        data[EDGES[-2] - 100 : EDGES[-2], 0] = -2.0  # and before it: -6, -6, -2, -6
        _stack_sweeps(qapp, viewer, source, data, with_user_dialog=False)
        image = _render(qapp, viewer)
        sweeps, mean = _reddish(image) & ~_pinkish(image), _pinkish(image)
        for x, sweep_levels, mean_level in ((0.06, (1.0, 9.0), 5.0), (-0.05, (-6.0, -2.0), -5.0)):
            col, row_mean = to_pixel(viewer, x, mean_level, image)
            rows = rows_of(mean, col)
            assert rows.size and np.abs(rows - row_mean).max() <= 3, (x, row_mean, rows)
            for level in sweep_levels:  # each sweep at its own row, the mean at none of them
                row = to_pixel(viewer, x, level, image)[1]
                assert np.abs(rows_of(sweeps, col) - row).min() <= 2, (x, level)
                assert np.abs(rows - row).min() > 10, (x, level, rows)
        viewer.params["show_mean"] = False
        image = _render(qapp, viewer)
        assert not _pinkish(image).any() and _reddish(image).any()
    finally:
        viewer.close()


@pytest.mark.slow
def test_a_new_sweep_redraws_only_its_curve_and_draws_what_a_full_redraw_draws(qapp, source):
    """A sweep arriving replaces the oldest sweep's curve (16 ch x 100 sweeps: 1.7 s -> 6 ms a sweep).

    The window shows the last stack_size sweeps exactly as a redraw of every sweep does.
    """
    highs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # sweep k at level highs[k] after its trigger
    data = _pulses(highs=highs)
    viewer = QTriggeredOscilloscope(name="trig")
    try:
        viewer.configure(with_user_dialog=False)
        viewer.input.connect(source)
        viewer.initialize()
        viewer.trigger.params.update(threshold=0.0, front="+", debounce_mode="no-debounce")
        viewer.triggeraccumulator.params.update(stack_size=4, left_sweep=-0.1, right_sweep=0.12)
        viewer.params.update(ylim_min=-10, ylim_max=10, background_color="k", show_bottom_axis=False, show_mean=False)
        viewer.by_channel_params["ch0", "color"] = "#ff0000"
        viewer.resize(600, 400)
        viewer.show()
        viewer.start()
        viewer._refresh_timer.stop()  # this test refreshes by hand
        for i in range(0, 1600, 50):  # the first three sweeps
            source.send(data[i : i + 50], index=i + 50)
        wait_until(qapp, lambda: viewer.triggeraccumulator.total_trig == 3, what="three triggers")
        viewer.refresh()
        kept = viewer.list_curves[0][2].yData  # sweep 2 (level 3): still in the stack after three more
        for i in range(1600, len(data), 50):
            source.send(data[i : i + 50], index=i + 50)
        wait_until(qapp, lambda: viewer.triggeraccumulator.total_trig == 6, what="six triggers")
        viewer.refresh()
        assert viewer.list_curves[0][2].yData is kept  # not drawn again
        qapp.processEvents()
        incremental = viewer.grab_array()
        viewer._drawn = None  # what a parameter change does: every sweep drawn again
        viewer.refresh()
        qapp.processEvents()
        assert np.array_equal(viewer.grab_array(), incremental)
        red = _reddish(incremental)
        col = to_pixel(viewer, 0.06, 0.0, incremental)[0]
        rows = rows_of(red, col)
        for level in highs:
            row = to_pixel(viewer, 0.06, level, incremental)[1]
            assert (np.abs(rows - row).min() <= 2) == (level >= 3.0), (level, row, rows)  # the last four
    finally:
        viewer.close()


def test_digital_trigger_and_bad_configuration(qapp, source):
    viewer = QTriggeredOscilloscope(name="trig")
    try:
        with pytest.raises(ValueError, match="'analog' or 'digital'"):
            viewer.configure(trigger_type="optical")
        viewer.configure(trigger_type="analog", with_user_dialog=False)
        viewer.input.connect(source)
        viewer.initialize()
        assert type(viewer.trigger).__name__ == "AnalogTrigger"
        with pytest.raises(ValueError, match="left_sweep"):
            viewer.triggeraccumulator.params["left_sweep"] = 5.0
    finally:
        viewer.close()
    digital = OutputStream(name="ttl")
    digital.configure(protocol="tcp", dtype="uint8", shape=(-1, 1), sample_rate=1000.0)
    viewer = QTriggeredOscilloscope(name="ttl-scope")
    try:
        viewer.configure(trigger_type="digital", with_user_dialog=False)
        viewer.input.connect(digital)
        viewer.initialize()
        assert type(viewer.trigger).__name__ == "DigitalTrigger"
    finally:
        viewer.close()
        digital.close()


@pytest.mark.slow
def test_default_look_stacks_channels_in_bands_with_names_axis_and_scale_bar(qapp):
    """Nothing set: on the first sweeps each channel gets its band (DC offsets removed), names in the gutter."""
    from viewer_helpers import color_mask

    from lslacq.viewers._qt import pg

    out = OutputStream(name="erp")
    out.configure(
        protocol="tcp",
        transfermode="plaindata",
        dtype="float32",
        shape=(-1, 3),
        sample_rate=1000.0,
        channel_names=["Cz", "Pz", "stim"],
        units="microvolts",
    )
    viewer = QTriggeredOscilloscope(name="trig")
    try:
        viewer.configure(with_user_dialog=False)
        viewer.input.connect(out)
        viewer.initialize()
        viewer.trigger.params.update(channel=2, threshold=2.5, front="+")
        viewer.triggeraccumulator.params.update(left_sweep=-0.1, right_sweep=0.4, stack_size=5)
        viewer.resize(700, 450)
        viewer.show()
        viewer.start()
        n = 8000
        t = np.arange(300) / 1000.0
        response = 8 * np.exp(-(((t - 0.1) / 0.03) ** 2))
        data = np.zeros((n, 3), "float32")
        data[:, 0], data[:, 1] = 40000.0, -25000.0  # DC offsets in uV
        for onset in range(600, n - 500, 1000):
            data[onset : onset + 300, 0] += response
            data[onset : onset + 300, 1] -= response
            data[onset : onset + 50, 2] = 5.0
        for i in range(0, n, 100):  # 10x real time (a source's pace, not a synchronisation)
            out.send(data[i : i + 100], index=i + 100)
            time.sleep(0.01)
        wait_until(qapp, lambda: viewer.triggeraccumulator.total_trig >= 7, what="the sweeps")
        image = _render(qapp, viewer)
        assert viewer._banded and viewer._auto == "done"
        assert (viewer.params["ylim_min"], viewer.params["ylim_max"]) == (-0.5, 2.5)
        for k, name in enumerate(["Cz", "Pz", "stim"]):
            rgb = pg.mkColor(viewer.by_channel_params[name, "color"]).getRgb()[:3]  # the mean trace
            left, plot_top = to_pixel(viewer, -0.1, 2.5, image)
            right, plot_bottom = to_pixel(viewer, 0.4, -0.5, image)
            rows = plot_top + np.nonzero(color_mask(image, rgb, tol=10)[plot_top:plot_bottom, left + 2 : right - 1])[0]
            _, top = to_pixel(viewer, 0, 2 - k + 0.5, image)
            _, bottom = to_pixel(viewer, 0, 2 - k - 0.5, image)
            assert rows.size and ((rows >= top - 1) & (rows <= bottom + 1)).mean() > 0.97, name
        assert len(viewer.gutter.boxes) == 3 and viewer.gutter.isVisible()
        assert viewer.scale_bar.bar is not None and viewer.scale_bar.bar[2].endswith("µV")
        assert viewer.plot.getAxis("bottom").isVisible()
    finally:
        viewer.close()
        out.close()
