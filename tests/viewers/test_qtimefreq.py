"""QTimeFreq: the Morlet engine against an offline transform, TimeFreqWorker, the viewer's rendered pixels.

TimeFreqWorker runs locally and in a NodeGroup.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import fftconvolve

from lslacq.core.stream import InputStream, OutputStream
from lslacq.viewers.colormaps import lookup_table
from lslacq.viewers.morlet import MorletEngine
from lslacq.viewers.timefreqworker import TimeFreqWorker

SR = 1000.0
TF = dict(f_start=4.0, f_stop=60.0, deltafreq=2.0, f0=2.5, normalisation=0.0)


def offline_morlet(sig, sample_rate, freqs, f0=2.5, normalisation=0.0):
    """Amplitude of the convolution with pyacq's Morlet wavelets, by direct (linear) FFT convolution."""
    rows = []
    for f in freqs:
        s = f0 / f * sample_rate
        half = int(np.ceil(7 * s))
        x = np.arange(-half, half + 1)
        wavelet = np.exp(2j * np.pi * f0 * x / s) * np.exp(-((x / s) ** 2) / 2) * s ** -(1 + normalisation)
        rows.append(np.abs(fftconvolve(sig, wavelet, mode="same")))
    return np.array(rows).T  # (time, freq)


def sine(n, freq, start=0, amplitude=1.0, noise=0.0, seed=0):
    t = (start + np.arange(n)) / SR
    rng = np.random.default_rng(seed)
    return (amplitude * np.sin(2 * np.pi * freq * t) + noise * rng.standard_normal(n)).astype("float32")


# -- engine ----------------------------------------------------------------------------------
@pytest.mark.parametrize("normalisation", [0.0, 0.5])
def test_engine_matches_offline_morlet_transform(normalisation):
    engine = MorletEngine(SR, xsize=6.0, timefreq=dict(TF, normalisation=normalisation))
    n = engine.window_size + 500
    sig = sine(n, 20.0, noise=0.5) + sine(n, 45.0, amplitude=0.5)
    tf_map = engine.compute(sig)
    assert tf_map.shape == engine.shape == (engine.plot_length, engine.freqs.size)

    ref = offline_morlet(sig.astype(float), SR, engine.freqs, normalisation=normalisation)
    columns = n + np.round(engine.times * SR).astype(int)  # input sample of each map column
    ref = ref[columns]
    # away from the newest edge (where the wavelets reach past the last sample) the two agree exactly
    reach = int(np.ceil(5 * 2.5 / TF["f_start"] * SR))
    interior = columns < n - reach
    assert interior.sum() > engine.plot_length // 3
    err = np.abs(tf_map[interior] - ref[interior]).max() / ref[interior].max()
    assert err < 1e-4, err
    # the energy is in the rows of the two sines (normalisation 0: amplitudes ~ sqrt(2 pi)/2 per unit sine)
    profile = tf_map[interior].mean(axis=0)
    assert engine.freqs[np.argmax(profile)] == 20.0
    if normalisation == 0.0:
        assert profile.max() == pytest.approx(np.sqrt(2 * np.pi) / 2, rel=0.05)
        i45 = int(np.argmin(np.abs(engine.freqs - 45.0)))
        assert profile[i45] == pytest.approx(np.sqrt(2 * np.pi) / 4, rel=0.1)


def test_engine_fft_sizes_are_scipys_fast_lengths():
    """The engine picks its FFT sizes without importing scipy.fft: the same sizes scipy would."""
    from scipy.fft import next_fast_len

    from lslacq.viewers.morlet import _fast_len

    sizes = list(range(1, 3000)) + [12_345, 65_537, 99_991, 1_000_003, 2_097_153, 24_000_001]
    assert [_fast_len(n) for n in sizes] == [next_fast_len(n) for n in sizes]


def test_engine_decimates_to_the_display_rate_and_pads_short_signals():
    engine = MorletEngine(SR, xsize=2.0, timefreq=TF)
    assert engine.decimation == int(SR // (4 * TF["f_stop"]))  # pyacq's 4 * f_stop columns per second
    assert engine.plot_length == int(np.ceil(2.0 * SR / engine.decimation))
    assert engine.times[-1] == pytest.approx(-engine.decimation / SR)
    assert engine.align_head(1001) % engine.decimation == 0
    # a signal shorter than the window (start of a stream), NaN where nothing was written yet
    sig = sine(engine.plot_length * engine.decimation // 2, 30.0)  # covers the newest half of the display
    sig[:10] = np.nan
    tf_map = engine.compute(sig)
    assert np.isfinite(tf_map).all()
    row = int(np.argmin(np.abs(engine.freqs - 30.0)))
    assert tf_map[: engine.plot_length // 4, row].max() < 1e-3  # no signal there: nothing drawn
    last = tf_map[-engine.plot_length // 8 - 200 // engine.decimation]
    assert engine.freqs[np.argmax(last)] == 30.0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (dict(f_stop=600.0), "Nyquist"),
        (dict(f_start=-1.0), "f_start"),
        (dict(f_stop=2.0), "f_stop"),
        (dict(deltafreq="x"), "deltafreq"),
        (dict(fstart=3.0), "unknown timefreq"),
    ],
)
def test_engine_rejects_bad_parameters_clearly(bad, message):
    with pytest.raises(ValueError, match=message):
        MorletEngine(SR, 2.0, dict(TF, **bad))


# -- worker -------------------------------------------------------------------------------
def _run_worker(source_kwargs, worker_output=None, n_chunks=12, chunk=250, channel=1):
    src = OutputStream(name="src")
    src.configure(protocol="tcp", dtype="float32", shape=(-1, 2), sample_rate=SR, **source_kwargs)
    worker = TimeFreqWorker(name="tfw")
    maps = InputStream(name="maps")
    try:
        worker.configure(channel=channel, xsize=1.0, timefreq=TF)
        worker.input.connect(src)
        worker.output.configure(**(worker_output or dict(protocol="inproc")))
        worker.initialize()
        maps.connect(worker.output)
        assert maps.params["freqs"] == worker.engine.freqs.tolist()
        worker.start()
        src.wait_for_subscribers(1, timeout=10)
        total = n_chunks * chunk
        data = np.stack([sine(total, 10.0), sine(total, 26.0)], axis=1)
        for i in range(n_chunks):
            src.send(data[i * chunk : (i + 1) * chunk], index=(i + 1) * chunk)
        deadline = 200
        while worker.head < total and deadline:
            deadline -= 1
            maps.poll(timeout=50)
        assert worker.head == total
        worker.compute_one_map(total)
        index, tf_map = maps.recv(timeout=20_000)
        assert index == 1 and tf_map.shape == (1,) + worker.engine.shape
        expected = worker.engine.compute(data[:, channel])
        return tf_map[0], expected, worker.engine, worker.counters()
    finally:
        worker.close()
        maps.close()
        src.close()


@pytest.mark.parametrize(
    "source_kwargs",
    [
        dict(transfermode="plaindata"),
        dict(transfermode="sharedmem", axisorder=(1, 0), buffer_size=20_000),
    ],
    ids=["plaindata", "sharedmem"],
)
def test_worker_sends_the_map_of_its_channel(source_kwargs):
    tf_map, expected, engine, counters = _run_worker(source_kwargs)
    np.testing.assert_allclose(tf_map, expected, rtol=1e-5, atol=1e-6)
    assert engine.freqs[np.argmax(tf_map[engine.plot_length // 2])] == 26.0
    assert counters["maps"] == 1 and counters["skipped_maps"] == 0


def test_worker_refuses_a_channel_the_input_lacks():
    src = OutputStream(name="src")
    src.configure(protocol="tcp", dtype="float32", shape=(-1, 2), sample_rate=SR)
    worker = TimeFreqWorker(name="tfw")
    try:
        worker.configure(channel=5)
        with pytest.raises(ValueError, match="channel=5 but the input has 2"):
            worker.input.connect(src)
    finally:
        worker.close()
        src.close()


# -- viewer ------------------------------------------------------------------------------------
VIEW_TF = dict(f_start=6.0, f_stop=60.0, deltafreq=2.0)
FREQS = (20.0, 40.0)  # channel 0, channel 1


def _feed(src, seconds, chunk=200):
    total = int(seconds * SR)
    data = np.stack([sine(total, FREQS[0]), sine(total, FREQS[1])], axis=1)
    for stop in range(chunk, total + 1, chunk):
        src.send(data[stop - chunk : stop], index=stop)
    return data


def _pixel(viewer, plot, x, y, ratio):
    """Pixel (col, row) of the grabbed image showing the view point (time x, frequency y) of ``plot``."""
    from lslacq.viewers._qt import QtCore

    scene_point = plot.vb.mapViewToScene(QtCore.QPointF(x, y))
    view_point = viewer.graphiclayout.mapFromScene(scene_point)
    point = viewer.graphiclayout.viewport().mapTo(viewer, view_point)
    return int(point.x() * ratio), int(point.y() * ratio)  # the offscreen screen may not be 1:1


def _show_and_draw(qapp, viewer, src, seconds=4.0):
    viewer.resize(800, 400)
    viewer.show()
    viewer.start()
    src.wait_for_subscribers(2, timeout=10)  # the viewer and its converter (or a worker)
    data = _feed(src, seconds)
    _refresh_and_wait(qapp, viewer, data.shape[0])
    return data


def _refresh_and_wait(qapp, viewer, head=None):
    """Ask for maps now and wait until every channel drew one ending at the current head.

    ``head``: first wait until the viewer (whose head a refresh asks for) and every worker have received up to
    this sample. An earlier timer refresh may have asked for a map of data that had not all arrived, and that
    stale map can be drawn after this refresh started (it then satisfies "a new map in every channel" for one
    channel, seen under load in CI): a worker computes one request at a time and the newest replaces a pending
    one, so once a first round has drawn a new map in every channel, any map drawn after a second round starts was
    asked for after the heads were final.
    """
    from viewer_helpers import wait_until

    if head is not None:
        wait_until(qapp, lambda: viewer.head == head, what="the viewer's head")
        wait_until(qapp, lambda: all(w.head == head for w in viewer.workers), what="the workers' heads")
    for _ in range(2):
        drawn, before = viewer.maps_drawn, [image.image for image in viewer.images]
        viewer.refresh()
        wait_until(
            qapp,
            lambda drawn=drawn, before=before: (
                viewer.maps_drawn >= drawn + len(before)
                and all(image.image is not old for image, old in zip(viewer.images, before, strict=True))
            ),
            what="a new map drawn in every channel",
        )


@pytest.fixture
def source():
    src = OutputStream(name="src")
    src.configure(protocol="tcp", dtype="float32", shape=(-1, 2), sample_rate=SR)
    yield src
    src.close()


def _viewer(source, **configure):
    from lslacq.viewers.qtimefreq import QTimeFreq

    viewer = QTimeFreq(name="tf")
    viewer.configure(with_user_dialog=False, max_xsize=5.0, **configure)
    viewer.input.connect(source)
    viewer.initialize()
    viewer.params["xsize"] = 2.0
    for key, value in VIEW_TF.items():
        viewer.params["timefreq", key] = value
    viewer.params["nb_column"] = 2
    for name in ("Signal0", "Signal1"):
        viewer.by_channel_params[name, "colormap"] = "gray"
        viewer.by_channel_params[name, "clim"] = 1.4
    return viewer


def _wait_rebuilt(qapp, viewer):
    from viewer_helpers import wait_until

    wait_until(
        qapp,
        lambda: not viewer._rebuild_pending and viewer.freqs.max() < VIEW_TF["f_stop"],
        what="the workers rebuilt with the test's settings",
    )


@pytest.mark.slow
def test_qtimefreq_draws_each_channels_energy_in_the_row_of_its_frequency(qapp, source):

    from lslacq.viewers._qt import qimage_to_array

    viewer = _viewer(source)
    try:
        _wait_rebuilt(qapp, viewer)
        assert viewer.conv is not None  # plaindata input: a StreamConverter feeds the workers
        data = _show_and_draw(qapp, viewer, source)
        image = viewer.grab().toImage()
        pixels = qimage_to_array(image)[..., :3].astype(float).mean(axis=2)
        head = viewer.workers[0].last_map_head
        t = -1.2  # seconds before the head: no edge effect above 8 Hz
        column = head + int(round(t * SR))
        freqs = viewer.freqs[viewer.freqs >= 10]
        for ch, freq in enumerate(FREQS):
            expected = offline_morlet(data[:head, ch].astype(float), SR, freqs)[column]
            rows = [_pixel(viewer, viewer.plots[ch], t, f, image.devicePixelRatio()) for f in freqs]
            drawn = np.array([pixels[y, x] for x, y in rows]) / 255.0
            assert freqs[np.argmax(drawn)] == freq
            np.testing.assert_allclose(drawn, np.clip(expected / 1.4, 0, 1), atol=0.03)
        counters = viewer.counters()
        assert counters["maps_drawn"] >= 2 and counters["last_index"] == data.shape[0]
        # per-channel clim and colormap, pyacq's names, validated values
        viewer.auto_clim(identic=False)
        peak = float(viewer.images[1].image.max())
        assert viewer.by_channel_params["Signal1", "clim"] == pytest.approx(1.1 * peak)
        assert viewer.images[1].levels[1] == pytest.approx(1.1 * peak)
        viewer.by_channel_params["ch0", "colormap"] = "hot"
        assert np.array_equal(viewer.images[0].lut, lookup_table("hot"))
        with pytest.raises(ValueError, match="colormap"):
            viewer.by_channel_params[0, "colormap"] = "rainbow-unicorn"
        with pytest.raises(TypeError, match="nb_column"):
            viewer.params["nb_column"] = 1.5
    finally:
        viewer.close()


@pytest.mark.slow
def test_qtimefreq_reads_a_channel_major_sharedmem_input_directly_and_changes_settings_live(qapp):
    from viewer_helpers import wait_until

    src = OutputStream(name="src")
    src.configure(
        protocol="tcp",
        transfermode="sharedmem",
        axisorder=(1, 0),
        buffer_size=30_000,
        dtype="float32",
        shape=(-1, 2),
        sample_rate=SR,
    )
    viewer = _viewer(src)
    try:
        assert viewer.conv is None
        _wait_rebuilt(qapp, viewer)
        _show_and_draw(qapp, viewer, src, seconds=3.0)
        old_workers = list(viewer.workers)
        viewer.params["timefreq", "f_stop"] = 30.0
        wait_until(qapp, lambda: viewer.workers and viewer.workers[0] is not old_workers[0], what="new workers")
        assert viewer.freqs.max() < 30 and all(w.closed() for w in old_workers)
        assert all(w.running() for w in viewer.workers)
        # an impossible value is refused with a clear message; the display keeps working
        current = list(viewer.workers)
        viewer.params["timefreq", "f_stop"] = 900.0
        wait_until(qapp, lambda: "Nyquist" in viewer.status.text(), what="the error in the status line")
        assert viewer.workers == current
        viewer.with_user_dialog = True
        viewer.show_params_controller()  # what a double-click on a plot does
        assert viewer.params_controller.isVisible()
    finally:
        viewer.close()
        src.close()


@pytest.mark.slow
def test_qtimefreq_workers_in_other_nodegroups(qapp, source):
    from viewer_helpers import wait_until

    from lslacq.core import create_manager
    from lslacq.viewers._qt import qimage_to_array

    manager = create_manager("rpc", auto_close_at_exit=False)
    try:
        friends = [manager.create_nodegroup("tf-a"), manager.create_nodegroup("tf-b")]
        viewer = _viewer(source, nodegroup_friends=friends)
        try:
            _wait_rebuilt(qapp, viewer)
            assert all(type(w).__name__ == "ObjectProxy" for w in viewer.workers)  # living in the friends
            viewer.resize(800, 400)
            viewer.show()
            viewer.start()
            source.wait_for_subscribers(2, timeout=10)
            data = _feed(source, 4.0)
            _refresh_and_wait(qapp, viewer, data.shape[0])  # maps from the remote workers
            image = viewer.grab().toImage()
            pixels = qimage_to_array(image)[..., :3].astype(float).mean(axis=2)
            for ch, freq in enumerate(FREQS):
                rows = [_pixel(viewer, viewer.plots[ch], -1.0, f, image.devicePixelRatio()) for f in viewer.freqs]
                drawn = np.array([pixels[y, x] for x, y in rows])
                assert viewer.freqs[np.argmax(drawn)] == freq
            # a remote worker that fails (its engine gone) is reported by the viewer, from its counters
            viewer.workers[1].engine = None
            viewer.refresh()
            wait_until(qapp, lambda: viewer.refresh() or viewer.error is not None, what="the remote failure")
            assert "TimeFreqWorker 1 failed in its NodeGroup" in str(viewer.error)
        finally:
            viewer.close()
        assert all(len(ng.list_nodes()) == 0 for ng in friends)  # the workers were removed with the viewer
    finally:
        manager.close()


@pytest.mark.slow
def test_a_failing_worker_is_reported_by_the_viewer(qapp, source, monkeypatch):
    from viewer_helpers import wait_until

    viewer = _viewer(source)
    try:
        _wait_rebuilt(qapp, viewer)
        seen = []
        viewer.failed.connect(seen.append)
        viewer.start()

        def broken(*args, **kwargs):
            raise MemoryError("no room for the map")

        monkeypatch.setattr(viewer.workers[1].engine, "compute", broken)
        viewer.refresh()
        wait_until(qapp, lambda: seen, what="the failure to reach the viewer")  # error is set before failed fires
        assert isinstance(viewer.error, MemoryError) and len(seen) == 1
        assert isinstance(viewer.workers[1].error, MemoryError) and viewer.workers[0].error is None
    finally:
        viewer.close()


@pytest.mark.slow
def test_a_stalled_viewer_and_worker_never_hold_the_source_back(qapp, source, monkeypatch):
    """The GUI thread draws nothing and a worker hangs in its transform.

    A lossless reader of the same output still gets every sample, and the viewer's threads and the other worker still
    follow the stream.
    """
    import threading

    from helpers import wait_until  # no Qt event is processed meanwhile: the GUI thread stays stalled

    viewer = _viewer(source)
    reader = InputStream(name="recorder")
    release, entered = threading.Event(), threading.Event()
    try:
        _wait_rebuilt(qapp, viewer)
        reader.connect(source)
        viewer.start()
        source.wait_for_subscribers(3, timeout=10)  # the viewer, its converter, the reader
        original = viewer.workers[0].engine.compute

        def stuck(*args, **kwargs):
            entered.set()
            release.wait(30)
            return original(*args, **kwargs)

        monkeypatch.setattr(viewer.workers[0].engine, "compute", stuck)
        viewer.refresh()  # worker 0 now hangs; no Qt event is processed from here on
        assert entered.wait(20)
        total, chunk = 20_000, 200  # 20 s of signal, sent as fast as possible
        data = np.zeros((chunk, 2), "float32")
        received = 0
        for stop in range(chunk, total + 1, chunk):
            source.send(data, index=stop)
            while reader.poll(0):
                index, _ = reader.recv()
                received = index
        while received < total and reader.poll(5000):
            received, _ = reader.recv()
        assert received == total and reader.lost_samples == 0
        wait_until(  # the viewer's threads kept up
            lambda: viewer.head >= total and viewer.workers[1].head >= total,
            timeout=20,
            what=lambda: f"the viewer and worker 1 at {total} (they are at {viewer.head}, {viewer.workers[1].head})",
        )
        for _ in range(3):
            viewer.refresh()  # more requests to the stuck worker: kept as one, the rest counted as skipped
        assert viewer.workers[0].counters()["skipped_maps"] == 2
    finally:
        release.set()
        reader.close()
        viewer.close()


@pytest.mark.parametrize("transfermode", ["plaindata", "sharedmem"])
def test_worker_reads_a_one_dimensional_stream(transfermode):
    src = OutputStream(name="mono")
    src.configure(protocol="tcp", dtype="float32", shape=(-1,), sample_rate=SR, transfermode=transfermode)
    worker = TimeFreqWorker(name="tfw")
    maps = InputStream(name="maps")
    try:
        worker.configure(channel=0, xsize=1.0, timefreq=TF)
        worker.input.connect(src)
        worker.output.configure(protocol="inproc")
        worker.initialize()
        maps.connect(worker.output)
        worker.start()
        src.wait_for_subscribers(1, timeout=10)
        data = sine(3000, 26.0)
        for stop in range(250, 3001, 250):
            src.send(data[stop - 250 : stop], index=stop)
        for _ in range(400):
            if worker.head == 3000:
                break
            maps.poll(timeout=50)
        worker.compute_one_map(3000)
        _, tf_map = maps.recv(timeout=20_000)
        np.testing.assert_allclose(tf_map[0], worker.engine.compute(data), rtol=1e-5, atol=1e-6)
    finally:
        worker.close()
        maps.close()
        src.close()


@pytest.mark.slow
def test_grid_follows_nb_column_and_visible(qapp, source):
    from viewer_helpers import wait_until

    viewer = _viewer(source)
    try:
        _wait_rebuilt(qapp, viewer)
        viewer.resize(600, 400)
        viewer.show()
        qapp.processEvents()
        left, right = (viewer.plots[i].sceneBoundingRect() for i in range(2))
        assert right.left() >= left.right() - 1 and abs(right.top() - left.top()) < 2  # side by side
        plots = list(viewer.plots)
        viewer.params["nb_column"] = 1
        qapp.processEvents()
        assert viewer.plots == plots  # re-placed, not rebuilt
        top, bottom = (viewer.plots[i].sceneBoundingRect() for i in range(2))
        assert bottom.top() >= top.bottom() - 1  # stacked
        viewer.by_channel_params["Signal1", "visible"] = False
        assert viewer.plots[1] is None and viewer.images[1] is None and viewer.plots[0] is not None
        viewer.start()
        source.wait_for_subscribers(2, timeout=10)
        _feed(source, 3.0)
        wait_until(qapp, lambda: all(w.head == 3000 for w in viewer.workers), what="the workers' heads")
        viewer.refresh()
        wait_until(qapp, lambda: viewer.maps_drawn >= 1, what="a map")
        assert viewer.workers[1].counters()["maps"] == 0  # a hidden channel is not computed
    finally:
        viewer.close()


@pytest.mark.slow
def test_a_longer_xsize_gets_a_larger_converter_ring_while_running(qapp, source):
    """The converter's ring holds what the current xsize needs (not max_xsize's 490 MB at 32 ch x 20 kHz).

    A longer xsize replaces it while running, and the map then shows the longer history.
    """
    from viewer_helpers import wait_until

    from lslacq.viewers._qt import qimage_to_array
    from lslacq.viewers.morlet import MorletEngine
    from lslacq.viewers.qtimefreq import QTimeFreq

    viewer = QTimeFreq(name="tf")
    viewer.configure(with_user_dialog=False, max_xsize=30.0)
    viewer.input.connect(source)
    viewer.initialize()
    try:
        first = viewer.conv
        size = first.output.params["buffer_size"]
        assert MorletEngine(SR, 10.0).window_size <= size < MorletEngine(SR, 30.0).window_size  # default xsize 10 s
        viewer.params["nb_column"] = 2
        for key, value in VIEW_TF.items():
            viewer.params["timefreq", key] = value
        for name in ("Signal0", "Signal1"):
            viewer.by_channel_params[name, "colormap"] = "gray"  # brightness follows amplitude
            viewer.by_channel_params[name, "clim"] = 1.4
        _wait_rebuilt(qapp, viewer)
        assert viewer.conv is first  # the ring is large enough: kept
        _show_and_draw(qapp, viewer, source, seconds=2.0)
        viewer.params["xsize"] = 28.0
        wait_until(qapp, lambda: viewer.conv is not first and not viewer._rebuild_pending, what="a larger ring")
        assert first.closed() and viewer.conv.running()
        assert viewer.conv.output.params["buffer_size"] >= MorletEngine(SR, 28.0, VIEW_TF).window_size
        n0, n = 2000, 30_000
        for stop in range(n0 + 200, n0 + n + 1, 200):
            start = stop - 200
            source.send(
                np.stack([sine(200, FREQS[0], start=start), sine(200, FREQS[1], start=start)], axis=1), index=stop
            )
        _refresh_and_wait(qapp, viewer, n0 + n)
        image = viewer.grab().toImage()
        pixels = qimage_to_array(image)[..., :3].astype(float).mean(axis=2)
        for ch, freq in enumerate(FREQS):  # 26 s back: older than the first ring held
            rows = [_pixel(viewer, viewer.plots[ch], -26.0, f, image.devicePixelRatio()) for f in viewer.freqs]
            assert viewer.freqs[np.argmax([pixels[y, x] for x, y in rows])] == freq
    finally:
        viewer.close()


def test_slow_streams_get_a_valid_f_stop_and_failed_initialize_releases_everything(qapp):
    from lslacq.viewers.qtimefreq import QTimeFreq

    src = OutputStream(name="slow")
    src.configure(protocol="tcp", dtype="float32", shape=(-1, 2), sample_rate=100.0)
    viewer = QTimeFreq(name="tf")
    broken = QTimeFreq(name="broken")
    try:
        viewer.configure(with_user_dialog=False)
        viewer.input.connect(src)
        viewer.initialize()  # pyacq's default f_stop (90 Hz) is above this stream's Nyquist frequency
        assert viewer.params["timefreq", "f_stop"] == 50.0 and viewer.freqs.max() < 50.0

        broken.configure(with_user_dialog=False, nodegroup_friends=["not a nodegroup"])
        broken.input.connect(src)
        with pytest.raises(AttributeError):
            broken.initialize()
        assert broken.conv is None and broken.workers == []  # the converter it had made is closed
    finally:
        broken.close()
        viewer.close()
        src.close()


def test_worker_reads_zeros_where_the_ring_was_overwritten():
    """A window older than the shared ring holds (a late request) gives zeros there, never an error."""
    src = OutputStream(name="src")
    src.configure(
        protocol="tcp",
        dtype="float32",
        shape=(-1, 2),
        sample_rate=SR,
        transfermode="sharedmem",
        axisorder=(1, 0),
        buffer_size=8000,
    )
    worker = TimeFreqWorker(name="tfw")
    try:
        worker.configure(channel=0, xsize=1.0, timefreq=TF)
        worker.input.connect(src)
        worker.output.configure(protocol="inproc")
        worker.initialize()
        assert not worker._own_buffer
        data = np.ones((20_000, 2), "float32")
        for stop in range(1000, 20_001, 1000):
            src.send(data[stop - 1000 : stop], index=stop)
        window = worker._read_window(5000, 15_000)  # [5000, 12000) is gone, [12000, 15000) is there
        assert window[:7000].max() == 0 and window[7000:].min() == 1
    finally:
        worker.close()
        src.close()


@pytest.mark.slow
def test_qtimefreq_axes_colour_bar_units_and_log_frequency(qapp):
    """The default look: time and frequency axes over the range, a colour bar 0..clim in the stream's units.

    freq_scale='log' spaces the rows logarithmically and still puts each sine in its row.
    """
    from viewer_helpers import wait_until

    from lslacq.viewers._qt import qimage_to_array

    src = OutputStream(name="src")
    src.configure(protocol="tcp", dtype="float32", shape=(-1, 2), sample_rate=SR, units="microvolts")
    viewer = _viewer(src)
    try:
        _wait_rebuilt(qapp, viewer)
        assert viewer.params["show_axis"] and viewer.params["show_colorbar"]  # the defaults
        _show_and_draw(qapp, viewer, src)
        df = viewer.freqs[1] - viewer.freqs[0]
        ranges = viewer.axis_ranges(0)
        assert viewer.freqs[0] == VIEW_TF["f_start"] and VIEW_TF["f_stop"] - df <= viewer.freqs[-1] < VIEW_TF["f_stop"]
        assert ranges["frequency"] == pytest.approx((viewer.freqs[0] - df / 2, viewer.freqs[-1] + df / 2), abs=1e-6)
        assert ranges["time"][0] == pytest.approx(-2.0, abs=0.02) and abs(ranges["time"][1]) < 0.02
        assert ranges["colorbar"] == (0.0, 1.4)
        plot = viewer.plots[0]
        assert plot.getAxis("bottom").isVisible() and plot.getAxis("bottom").labelText == "time"
        assert plot.getAxis("left").labelText == "frequency (Hz)"
        bar = viewer.colorbars[0]
        assert bar.getAxis("left").labelText == "amplitude (µV)"
        image = viewer.grab().toImage()
        ratio = image.devicePixelRatio()
        pixels = qimage_to_array(image)[..., :3].astype(int)
        # axis labels: light text left of and under the map
        left, top = _pixel(viewer, plot, ranges["time"][0], ranges["frequency"][1], ratio)
        right, bottom = _pixel(viewer, plot, ranges["time"][1], ranges["frequency"][0], ratio)
        assert (pixels[top:bottom, max(0, left - 40) : left - 2].min(axis=2) > 150).sum() > 20
        assert (pixels[bottom + 2 : bottom + 30, left:right].min(axis=2) > 150).sum() > 20
        # the colour bar (gray colormap): white at the top, black at the bottom, right of the map
        rect = bar.bar.sceneBoundingRect()
        point = viewer.graphiclayout.viewport().mapTo(viewer, viewer.graphiclayout.mapFromScene(rect.topLeft()))
        end = viewer.graphiclayout.viewport().mapTo(viewer, viewer.graphiclayout.mapFromScene(rect.bottomLeft()))
        x = int(
            viewer.graphiclayout.viewport().mapTo(viewer, viewer.graphiclayout.mapFromScene(rect.center())).x() * ratio
        )
        y0, y1 = int(point.y() * ratio) + 3, int(end.y() * ratio) - 3
        assert x > right and pixels[y0, x].min() > 200 and pixels[y1, x].max() < 60
        # log frequency
        viewer.params["freq_scale"] = "log"
        assert plot is not viewer.plots[0] and viewer.plots[0].getAxis("left").logMode
        drawn = viewer.maps_drawn
        viewer.refresh()
        wait_until(qapp, lambda: viewer.maps_drawn >= drawn + 2, what="two maps drawn in log mode")
        qapp.processEvents()
        ranges = viewer.axis_ranges(0)
        assert VIEW_TF["f_start"] * 0.97 < ranges["frequency"][0] < VIEW_TF["f_start"]
        assert viewer.freqs[-1] < ranges["frequency"][1] < viewer.freqs[-1] * 1.03
        image = viewer.grab().toImage()
        pixels = qimage_to_array(image)[..., :3].astype(float).mean(axis=2)
        freqs = np.geomspace(8.0, 58.0, 40)
        for ch, freq in enumerate(FREQS):
            rows = [_pixel(viewer, viewer.plots[ch], -1.2, np.log10(f), image.devicePixelRatio()) for f in freqs]
            drawn_row = np.array([pixels[y, x] for x, y in rows])
            assert abs(freqs[np.argmax(drawn_row)] / freq - 1) < 0.06, (ch, freqs[np.argmax(drawn_row)])
    finally:
        viewer.close()
        src.close()
