"""The default look of `lslacq view` and QOscilloscope on realistic EEG: bands, names, axes, scale bar, keys.

The stream: 16 channels in microvolts with per-channel DC offsets of +-50 mV (what DC-coupled amplifiers and
OpenBCI raw data give), 10 uV oscillations and a few outlier samples, pushed live over real LSL, with a marker
stream. Nothing is configured: what a user gets by default.
"""

from __future__ import annotations

import threading
import time
import uuid

import helpers
import numpy as np
import pytest
from viewer_helpers import assert_readable, plot_rect, render, wait_until

pylsl = pytest.importorskip("pylsl")

N_CH, RATE = 16, 250.0
NAMES = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8", "T7", "T8", "Fz", "Cz"]


def eeg_chunk(k: int, n: int, dc: np.ndarray) -> np.ndarray:
    """Samples k..k+n: DC offsets + 10 uV sines (6..13.5 Hz) + 1 uV noise; sample 300 of channel 5 is an outlier."""
    t = (k + np.arange(n))[:, None] / RATE
    freqs = 6.0 + 0.5 * np.arange(N_CH)
    data = dc + 10.0 * np.sin(2 * np.pi * freqs * t) + np.random.default_rng(k).normal(0, 1.0, (n, N_CH))
    if k <= 300 < k + n:
        data[300 - k, 5] = 2e5
    return data.astype("float32")


@pytest.fixture
def eeg_stream():
    from lslacq_lsl.metadata import build_stream_info

    name = f"lslacq-readable-{uuid.uuid4().hex[:8]}"
    info = build_stream_info(
        name, "EEG", N_CH, RATE, "float32", f"{name}-sid", channel_names=NAMES, channel_units="microvolts"
    )
    outlet = pylsl.StreamOutlet(info)
    markers = pylsl.StreamOutlet(pylsl.StreamInfo(name + "-markers", "Markers", 1, 0.0, "string", f"{name}-mk"))
    dc = np.random.default_rng(7).uniform(-50000, 50000, N_CH)
    stop = threading.Event()

    def push():
        k, next_marker = 0, time.monotonic() + 0.3
        t0 = time.monotonic()
        while not stop.wait(0.02):
            due = int((time.monotonic() - t0) * RATE)
            if due > k:
                outlet.push_chunk(eeg_chunk(k, due - k, dc).tolist())
                k = due
            if time.monotonic() >= next_marker:
                markers.push_sample([f"S {k % 7 + 1}"])
                next_marker += 0.7

    thread = threading.Thread(target=push, name="eeg-pusher")
    thread.start()
    yield name
    stop.set()
    thread.join(10)


@pytest.fixture
def view(qapp, eeg_stream):
    """What `lslacq view NAME NAME-markers` builds: LslInlets into make_viewer's QOscilloscope, 1000x700."""
    from lslacq_lsl.inlet import LslInlet
    from lslacq_lsl.view_cli import make_viewer

    nodes = []
    inlet = LslInlet(name="inlet")
    nodes.append(inlet)
    inlet.configure(name=eeg_stream, resolve_timeout=10)
    inlet.outputs["signals"].configure(protocol="inproc", transfermode="plaindata")
    marker_inlet = LslInlet(name="markers")
    nodes.append(marker_inlet)
    marker_inlet.configure(name=eeg_stream + "-markers", resolve_timeout=10, reference="inlet")
    marker_inlet.outputs["signals"].configure(protocol="inproc", transfermode="plaindata")
    viewer = make_viewer(inlet.outputs["signals"], marker_inlet.outputs["signals"], name=eeg_stream)
    nodes.append(viewer)
    inlet.initialize()
    marker_inlet.initialize()
    viewer.resize(1000, 700)
    viewer.show()
    for node in (viewer, marker_inlet, inlet):
        node.start()
    yield viewer
    for node in reversed(nodes):
        node.close()


def _wait_scaled(qapp, viewer, seconds: float = 2.5):
    wait_until(
        qapp,
        lambda: viewer._auto != "first" and viewer.counters()["samples_in"] >= seconds * RATE,
        timeout=30,
        what="the first automatic scaling",
    )
    return render(qapp, viewer)


@pytest.mark.slow
def test_lslacq_view_of_eeg_with_dc_offsets_is_readable_by_default(qapp, view):
    image = _wait_scaled(qapp, view)
    measured = assert_readable(view, image)
    assert measured["bands"] == N_CH and measured["label_boxes"] == N_CH
    assert measured["scale"].endswith("µV")  # the stream's units
    assert view.by_channel_params["Fp1", "gain"] == view.by_channel_params["Cz", "gain"]  # same_for_all
    # marker labels in their own band above the traces
    wait_until(qapp, lambda: view.marker_band.boxes or (view.refresh() and False), timeout=10, what="a marker")
    image = render(qapp, view)
    _, top, _, _ = plot_rect(view, image)
    geometry = view.frame_geometry()
    assert geometry["markers"]
    for box in geometry["markers"]:
        assert box[3] <= top + 1  # the label's box ends above the plot's top
    # then stable: a later frame keeps the scale
    gains = view.by_channel_params.values("gain")
    wait_until(qapp, lambda: view.counters()["samples_in"] >= 5 * RATE, timeout=30, what="5 s of data")
    render(qapp, view)
    assert view.by_channel_params.values("gain") == gains and view._auto == "done"


@pytest.mark.slow
def test_keys_change_gain_channels_and_time_window(qapp, view):
    from pyqtgraph.Qt import QtTest

    from lslacq.viewers._qt import QtCore

    image = _wait_scaled(qapp, view)
    before = assert_readable(view, image)
    gain = view.by_channel_params[0, "gain"]
    target = view.graphicsview

    def key(k):
        QtTest.QTest.keyClick(target, k)
        return render(qapp, view)

    image = key(QtCore.Qt.Key.Key_Plus)
    assert view.by_channel_params[0, "gain"] == pytest.approx(gain * 1.25)
    after = assert_readable(view, image, min_swing=0.2)  # still centred in their bands, taller
    assert np.median(after["swings"]) > 1.15 * np.median(before["swings"])
    image = key(QtCore.Qt.Key.Key_Minus)
    assert view.by_channel_params[0, "gain"] == pytest.approx(gain)
    # pages of channels
    view.params["channels_per_page"] = 8
    image = render(qapp, view)
    assert np.flatnonzero(view._shown).tolist() == list(range(8))
    assert assert_readable(view, image)["bands"] == 8
    image = key(QtCore.Qt.Key.Key_PageDown)
    assert np.flatnonzero(view._shown).tolist() == list(range(8, 16))
    assert assert_readable(view, image)["label_boxes"] == 8
    key(QtCore.Qt.Key.Key_Down)  # at the last page already: stays
    assert np.flatnonzero(view._shown).tolist() == list(range(8, 16))
    key(QtCore.Qt.Key.Key_PageUp)
    key(QtCore.Qt.Key.Key_Down)
    assert np.flatnonzero(view._shown).tolist() == list(range(1, 9))
    # the time window
    xsize = view.params["xsize"]
    key(QtCore.Qt.Key.Key_Right)
    assert view.params["xsize"] == pytest.approx(xsize * 1.5)
    key(QtCore.Qt.Key.Key_Left)
    key(QtCore.Qt.Key.Key_Left)
    assert view.params["xsize"] == pytest.approx(xsize / 1.5)
    x0, x1 = view.viewBox.viewRange()[0]
    assert x1 - x0 == pytest.approx(xsize / 1.5, rel=0.02)  # the time axis shows the new window
    # the options dialog's "Auto scale" (the issue: it widened the range and left the channels overlaid) and
    # the A key bring back the banded layout after the user changed the scale
    from lslacq.viewers._qt import QtWidgets

    view.params["channels_per_page"] = 16
    view.gain_zoom(20.0)  # the traces now cross their neighbours' bands
    view.show_params_controller()
    button = [b for b in view.params_controller.findChildren(QtWidgets.QPushButton) if b.text() == "Auto scale"][0]
    QtTest.QTest.mouseClick(button, QtCore.Qt.MouseButton.LeftButton)
    view.params_controller.hide()
    assert assert_readable(view, render(qapp, view))["bands"] == N_CH
    assert view.by_channel_params[0, "gain"] == pytest.approx(gain, rel=0.6)
    view.gain_zoom(1 / 20.0)
    image = key(QtCore.Qt.Key.Key_A)
    assert assert_readable(view, image)["bands"] == N_CH


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["by_channel", "same_for_all"])
def test_scale_mode_set_before_start_is_applied_on_the_first_data(qapp, mode):
    """The manual-style script: NumpyDeviceBuffer 16 ch -> QOscilloscope, scale_mode set before start."""
    from lslacq.devices import NumpyDeviceBuffer
    from lslacq.viewers import QOscilloscope

    rng = np.random.default_rng(3)
    t = np.arange(20000)[:, None] / 1000.0
    buffer = (rng.uniform(-50000, 50000, 16) + (5 + np.arange(16)) * np.sin(2 * np.pi * 7 * t)).astype("float32")
    dev = NumpyDeviceBuffer()
    dev.configure(nb_channel=16, sample_interval=0.001, chunksize=50, buffer=buffer)
    dev.output.configure(protocol="inproc", transfermode="plaindata")
    dev.initialize()
    viewer = QOscilloscope()
    try:
        viewer.configure(with_user_dialog=False)
        viewer.input.connect(dev.output)
        viewer.initialize()
        viewer.params["scale_mode"] = mode
        viewer.resize(1000, 800)
        viewer.show()
        viewer.start()
        dev.start()
        wait_until(
            qapp,
            lambda: viewer._auto != "first" and viewer.counters()["samples_in"] >= 3100,
            timeout=30,
            what="the first automatic scaling and a full window",
        )
        image = render(qapp, viewer)
        measured = assert_readable(
            viewer, image, min_swing=0.1 if mode == "same_for_all" else 0.25, scale_bar=mode == "same_for_all"
        )
        assert measured["bands"] == 16
        gains = np.array(viewer.by_channel_params.values("gain"))
        assert (np.ptp(gains) > 0) == (mode == "by_channel")  # amplitudes 5..20: a gain each, or one for all
    finally:
        dev.stop()
        viewer.close()
        dev.close()


@pytest.mark.slow
def test_gains_set_before_start_are_honoured(qapp):
    """The pyacq example 6.4 sets a gain before start: no automatic scaling then."""
    from lslacq.devices import NumpyDeviceBuffer
    from lslacq.viewers import QOscilloscope

    buffer = np.full((5000, 2), 3000.0, "float32")
    dev = NumpyDeviceBuffer()
    dev.configure(nb_channel=2, sample_interval=0.001, chunksize=50, buffer=buffer)
    dev.output.configure(protocol="inproc", transfermode="plaindata")
    dev.initialize()
    viewer = QOscilloscope()
    try:
        viewer.configure(with_user_dialog=False)
        viewer.input.connect(dev.output)
        viewer.initialize()
        viewer.by_channel_params[0, "gain"] = 0.001
        viewer.show()
        viewer.start()
        dev.start()
        wait_until(qapp, lambda: viewer.counters()["samples_in"] >= 2000, timeout=30, what="2 s of data")
        render(qapp, viewer)
        assert viewer.by_channel_params[0, "gain"] == pytest.approx(0.001)
        assert viewer.by_channel_params[1, "gain"] == 1.0 and viewer.by_channel_params[1, "offset"] == 0.0
        assert (viewer.params["ylim_min"], viewer.params["ylim_max"]) == (-10.0, 10.0)
    finally:
        dev.stop()
        viewer.close()
        dev.close()


@pytest.mark.slow
def test_shipped_graph_lsl_filter_scope_is_readable_on_dc_coupled_eeg(eeg_stream):
    """examples/graphs/lsl_filter_scope.toml as shipped (its viewer in a Qt nodegroup).

    After the band-pass's start transient, every channel in its band, names, axes, scale bar (checked on the remote
    viewer's pixels).
    """
    import pathlib

    from lslacq.graph import load_graph

    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / "graphs" / "lsl_filter_scope.toml"
    with load_graph(path, stream=eeg_stream, rate=RATE) as graph:
        scope = graph.nodes["scope"]
        scope.resize(1000, 700)
        scope.show()
        graph.start()
        helpers.wait_until(  # polling another process over RPC
            lambda: scope.counters()["samples_in"] >= 5.5 * RATE, timeout=60, interval=0.1, what="5.5 s of data"
        )
        scope.refresh()
        geometry = scope.frame_geometry()
        image = scope.grab_array()
        measured = assert_readable(None, image, geometry=geometry)
        assert measured["bands"] == N_CH and measured["scale"].endswith("µV")


@pytest.mark.slow
def test_lslacq_view_command_draws_each_channel_in_its_band(qapp, eeg_stream, tmp_path):
    """The command itself (`lslacq view NAME NAME-markers --screenshot`), judged on its screenshot's pixels alone.

    The 16 channels one below the other at equal spacing, each oscillating within its band, names in a gutter left of
    every trace, time-axis labels under the plot and the scale bar right of it.
    """
    import os
    import subprocess
    import sys

    from PIL import Image

    from lslacq.viewers.qoscilloscope import trace_color

    shot = tmp_path / "view.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "lslacq.cli",
            "view",
            eeg_stream,
            eeg_stream + "-markers",
            "--duration",
            "4",
            "--screenshot",
            str(shot),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    rows, lefts, rights = [], [], []
    for i in range(N_CH):
        color = trace_color(i, N_CH)
        diff = np.abs(image - np.array([color.red(), color.green(), color.blue()])[None, None, :]).max(axis=2)
        ys, xs = np.nonzero(diff <= 8)
        trace = xs > 0.1 * image.shape[1]  # the names' colour swatches are at the far left
        assert trace.sum() > 300, (NAMES[i], "no trace")
        rows.append(np.percentile(ys[trace], [5, 50, 95]))
        lefts.append(np.percentile(xs[trace], 1))
        rights.append(xs[trace].max())
    rows = np.array(rows)
    spacing = np.diff(rows[:, 1])
    assert np.all(spacing > 0.75 * spacing.mean()) and np.all(spacing < 1.25 * spacing.mean()), spacing
    swing = rows[:, 2] - rows[:, 0]
    assert np.all(swing > 0.2 * spacing.mean()) and np.all(swing < 1.1 * spacing.mean()), swing  # oscillating, in band
    gutter = image[:, : int(min(lefts)) - 2]  # left of every trace: the names, light text on dark boxes
    for k in range(N_CH):
        band = gutter[int(rows[k, 1] - 0.3 * spacing.mean()) : int(rows[k, 1] + 0.3 * spacing.mean())]
        assert (band.min(axis=2) > 180).sum() > 10, (NAMES[k], "no name in the gutter")
    bottom = int(rows[-1, 1] + spacing.mean())
    assert (image[bottom : bottom + 40, int(min(lefts)) :].min(axis=2) > 150).sum() > 30  # time axis labels
    right = int(max(rights)) + 2
    assert (image[:bottom, right : right + 60].min(axis=2) > 150).sum() > 20  # the scale bar and its label
