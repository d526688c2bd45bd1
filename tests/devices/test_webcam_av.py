"""WebCamAV on real FFmpeg (PyAV's bundled libavfilter): lavfi test sources with known pixels stand in for a camera."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from helpers import wait_until

pytest.importorskip("av")

from lslacq.core.stream import InputStream  # noqa: E402
from lslacq.devices.webcam_av import CameraError, WebCamAV, WebCamImageIO  # noqa: E402


def _frames(inp: InputStream, n: int, timeout: float = 30.0) -> tuple[list[int], np.ndarray]:
    positions, images = [], []

    def received():
        if inp.poll(timeout=200):
            pos, data = inp.recv()
            positions.append(pos)
            images.append(np.array(data))
        return len(images) >= n

    wait_until(received, timeout=timeout, interval=0, what=f"{n} frames")
    return positions, np.concatenate(images)


def _camera(url: str, node_class=WebCamAV, **kwargs) -> tuple[WebCamAV, InputStream]:
    cam = node_class(name="cam")
    cam.configure(url=url, format="lavfi", **kwargs)
    cam.output.configure(protocol="inproc")
    cam.initialize()
    inp = InputStream()
    inp.connect(cam.output)
    return cam, inp


def test_known_colour_frames_exact_pixels():
    cam, inp = _camera("color=c=red:size=64x48:rate=25,format=rgb24")
    try:
        params = cam.output.params
        assert params.streamtype == "image/video" and np.dtype(params.dtype) == np.uint8
        assert tuple(params.shape) == (-1, 48, 64, 3) and params.sample_rate == 25.0
        cam.start()
        positions, images = _frames(inp, 10)
        cam.stop()
    finally:
        cam.close()
        inp.close()
    assert images.shape == (10, 48, 64, 3)
    assert (images == np.array([255, 0, 0], np.uint8)).all()
    assert positions == list(range(1, 11))


def test_smpte_bars_have_the_75_percent_colours():
    cam, inp = _camera("smptebars=size=320x240:rate=30")
    try:
        cam.start()
        _, images = _frames(inp, 2)
        cam.stop()
    finally:
        cam.close()
        inp.close()
    row = images[0, 40].astype(int)  # the top band: seven 75 % bars
    bar_width = 320 / 7
    expected = [(191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191), (191, 0, 0), (0, 0, 191)]
    for k, colour in enumerate(expected):
        centre = row[int((k + 0.5) * bar_width)]
        np.testing.assert_allclose(centre, colour, atol=4, err_msg=f"bar {k}")  # YUV -> RGB rounding
    np.testing.assert_array_equal(images[0], images[1])  # a still pattern


@pytest.mark.slow
def test_realtime_source_is_paced_at_its_frame_rate_without_loss():
    cam, inp = _camera("testsrc=size=320x240:rate=30,realtime")
    try:
        assert cam.output.params.sample_rate == 30.0
        cam.start()
        t0 = time.monotonic()
        positions, images = _frames(inp, 31)
        elapsed = time.monotonic() - t0
        cam.stop()
        counters = cam.counters()
    finally:
        cam.close()
        inp.close()
    assert positions == list(range(1, 32)) and counters["dropped_frames"] == 0
    assert elapsed >= 0.9 * 30 / 30  # the realtime filter paces 30 frames per second (never faster)
    assert images.shape == (31, 240, 320, 3)
    # testsrc's colour bars: top row, left to right, exact in its native rgb24
    np.testing.assert_array_equal(
        images[0, 0, [60, 100, 140, 180, 220]], [[255, 0, 0], [255, 0, 255], [0, 0, 255], [255, 255, 0], [0, 255, 0]]
    )
    assert not np.array_equal(images[0], images[30])  # the pattern moves


def test_finite_input_ends_the_run_and_restart_starts_over():
    cam, inp = _camera("testsrc=size=64x48:rate=30:duration=1")  # 30 frames, unpaced
    try:
        for _ in range(2):
            cam.start()
            positions, _ = _frames(inp, 30)
            wait_until(lambda: cam.counters()["ended"], timeout=10, what="the end of the video")
            cam.stop()
            assert positions == list(range(1, 31)) and cam.counters()["frames"] == 30
            assert not inp.poll(timeout=100)
        assert cam.error is None
    finally:
        cam.close()
        inp.close()


def test_no_camera_is_a_clear_error():
    if os.path.exists("/dev/video57"):
        pytest.skip("this machine has a /dev/video57")
    with WebCamAV(name="cam") as cam:
        with pytest.raises(
            CameraError,
            match=r"no camera at /dev/video57 \(FFmpeg format 'video4linux2'\).*"
            r"lslacq devices list",
        ):
            cam.configure(camera_num=57)
        with pytest.raises(CameraError, match=r"/dev/null is not a camera"):
            cam.configure(url="/dev/null", format="video4linux2")
        with pytest.raises(CameraError, match=r"no container format 'nosuchformat'"):
            cam.configure(url="x", format="nosuchformat")
        with pytest.raises(TypeError, match=r"unexpected configure\(\) arguments \['fps'\]"):
            cam.configure(url="testsrc", format="lavfi", fps=3)


def test_webcam_imageio_is_the_same_node_on_pyav():
    cam, inp = _camera("color=c=blue:size=32x16:rate=10,format=rgb24", node_class=WebCamImageIO)
    try:
        cam.start()
        _, images = _frames(inp, 2)
        cam.stop()
    finally:
        cam.close()
        inp.close()
    assert (images == np.array([0, 0, 255], np.uint8)).all()


def test_send_failure_reaches_the_node_contract():
    cam, inp = _camera("testsrc=size=64x48:rate=30,realtime")
    failures = []
    cam.failed.connect(failures.append)
    try:

        def broken_send(data, index=None):
            raise RuntimeError("stream broke")

        cam.outputs["signals"].send = broken_send
        cam.start()
        wait_until(lambda: cam.error is not None, timeout=10, what="the camera's error")
        cam.stop()
    finally:
        cam.close()
        inp.close()
    assert str(cam.error) == "stream broke" and failures == [cam.error]


@pytest.mark.slow
def test_remote_nodegroup_camera():
    """Manual 6.1/6.3: ng.create_node('WebCamAV') in another process, frames read here over tcp."""
    from lslacq import create_manager

    manager = create_manager()
    inp = InputStream()
    try:
        dev = manager.create_nodegroup("cam").create_node("WebCamAV", name="cam0")
        dev.configure(url="color=c=green:size=80x60:rate=30,format=rgb24,realtime", format="lavfi")
        dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        dev.initialize()
        inp.connect(dev.output)
        dev.start()
        positions, images = _frames(inp, 5)
        dev.stop()
        assert positions == [1, 2, 3, 4, 5] and dev.error is None
    finally:
        inp.close()
        manager.close()
    assert images.shape == (5, 60, 80, 3)
    assert (images == np.array([0, 128, 0], np.uint8)).all()  # FFmpeg's green is #008000


def test_devices_list_reports_cameras(monkeypatch, capsys):
    from lslacq.cli import main
    from lslacq.devices import listing

    monkeypatch.setattr(listing, "_video_nodes", list)
    assert main(["devices", "list", "--video"]) == 0
    assert "video: no camera (/dev/video* absent)" in capsys.readouterr().err
    monkeypatch.setattr(listing, "_video_nodes", lambda: ["/dev/null"])  # exists, but is not a camera: FFmpeg says so
    assert main(["devices", "list", "--video", "--all"]) == 0
    captured = capsys.readouterr()
    assert "video /dev/null: unusable: /dev/null is not a camera" in captured.out
    assert "none of ['/dev/null'] can be opened" in captured.err


@pytest.mark.slow
def test_small_video_feeds_an_lsl_outlet_and_is_sent_without_copy():
    """A thumbnail camera published on LSL (one channel per pixel value), read back with pylsl."""
    pylsl = pytest.importorskip("pylsl")
    from lslacq_lsl import LslOutlet, resolve_stream

    name = f"lslacq-test-video-{os.getpid()}"
    cam = WebCamAV(name="cam")
    outlet = LslOutlet(name="lsl-cam")
    sent = []
    try:
        cam.configure(url="color=c=red:size=8x6:rate=30,format=rgb24,realtime", format="lavfi")
        cam.output.configure(protocol="inproc")
        send = cam.output.send

        def spy(data, index=None):
            sent.append(data)
            send(data, index=index)

        cam.output.send = spy
        outlet.configure(name=name, type="Video")
        outlet.inputs["signals"].connect(cam.output)
        outlet.initialize()
        cam.initialize()
        info = resolve_stream(name=name, timeout=20)
        assert info.channel_count() == 6 * 8 * 3 and info.nominal_srate() == 30.0
        inlet = pylsl.StreamInlet(info)
        try:
            inlet.open_stream(timeout=10)
            outlet.start()
            cam.start()
            rows = []

            def three_rows(inlet):  # inlet passed in: the finally block deletes the name
                rows.extend(inlet.pull_chunk(timeout=1.0)[0])
                return len(rows) >= 3

            wait_until(lambda i=inlet: three_rows(i), timeout=30, interval=0, what="3 frames through pylsl")
            cam.stop()
        finally:
            inlet.close_stream()
            del inlet
    finally:
        cam.close()
        outlet.close()
    frames = np.asarray(rows[:3]).reshape(3, 6, 8, 3)
    assert (frames == [255, 0, 0]).all()
    # the chunk sent is a view of FFmpeg's frame buffer (an RGB source needs no conversion): no copy
    assert sent and not sent[0].flags.owndata and sent[0].shape == (1, 6, 8, 3)


def test_frames_missing_from_the_source_are_a_counted_gap_in_the_index():
    # FFmpeg's select filter drops frames 5 and 6 and keeps the others' times, as a camera skipping frames
    cam, inp = _camera("testsrc=size=64x48:rate=30:duration=0.5,select='not(eq(n\\,5)+eq(n\\,6))'")
    try:
        cam.start()
        positions, _ = _frames(inp, 13)
        cam.stop()
        counters = cam.counters()
    finally:
        cam.close()
        inp.close()
    assert positions == [1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15]
    assert counters["dropped_frames"] == 2 and counters["frames"] == 13 and counters["lost_samples"] == 0
