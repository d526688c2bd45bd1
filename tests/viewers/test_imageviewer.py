"""ImageViewer: a known frame's colours on screen (RGB and grey), skipped frames, bad streams refused."""

from __future__ import annotations

import numpy as np
import pytest
from viewer_helpers import wait_until

from lslacq.core.stream import OutputStream
from lslacq.viewers.imageviewer import ImageViewer

H, W = 40, 60
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def quadrants() -> np.ndarray:
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:H // 2, :W // 2] = RED
    frame[:H // 2, W // 2:] = GREEN
    frame[H // 2:, :W // 2] = BLUE
    frame[H // 2:, W // 2:] = WHITE
    return frame


def _source(shape, **kwargs):
    out = OutputStream(name="camera")
    out.configure(protocol="tcp", streamtype="image/video", dtype="uint8", shape=(-1,) + shape, sample_rate=30.0,
                  **kwargs)
    return out


def _viewer(source, **configure):
    viewer = ImageViewer(name="images")
    viewer.configure(**configure)
    viewer.input.connect(source)
    viewer.initialize()
    viewer.resize(300, 200)
    viewer.show()
    viewer.start()
    source.wait_for_subscribers(1, timeout=10)
    return viewer


def _screen_colour(qapp, viewer, col, row):
    """RGB of the widget pixel showing image pixel (col, row)."""
    from lslacq.viewers._qt import QtCore, qimage_to_array

    image = viewer.grab().toImage()
    scene = viewer.viewbox.mapViewToScene(QtCore.QPointF(col + 0.5, row + 0.5))
    point = viewer.graphicsview.viewport().mapTo(viewer, viewer.graphicsview.mapFromScene(scene))
    ratio = image.devicePixelRatio()
    return tuple(int(v) for v in qimage_to_array(image)[int(point.y() * ratio), int(point.x() * ratio), :3])


@pytest.mark.parametrize("transfermode", ["plaindata", "sharedmem"])
def test_rgb_frame_shows_its_colours_in_place(qapp, transfermode):
    source = _source((H, W, 3), transfermode=transfermode)
    viewer = _viewer(source)
    try:
        source.send(np.zeros((1, H, W, 3), np.uint8))  # an older frame, replaced before any redraw
        source.send(quadrants()[np.newaxis])
        wait_until(qapp, lambda: viewer.counters()["last_index"] == 2, what="the second frame")
        viewer.refresh()
        assert viewer.frames_drawn == 1
        for (col, row), colour in [((W // 4, H // 4), RED), ((3 * W // 4, H // 4), GREEN),
                                   ((W // 4, 3 * H // 4), BLUE), ((3 * W // 4, 3 * H // 4), WHITE)]:
            assert _screen_colour(qapp, viewer, col, row) == colour, (col, row)
        counters = viewer.counters()
        assert counters["frames_drawn"] == 1 and counters["skipped_frames"] + counters["lost_samples"] == 1
    finally:
        viewer.close()
        source.close()


def test_grey_frame_and_custom_levels(qapp):
    source = _source((H, W))
    viewer = _viewer(source, levels=(0, 200))
    try:
        frame = np.zeros((H, W), np.uint8)
        frame[:, W // 2:] = 100
        frame[H // 2:, W // 2:] = 250  # above the top level: white
        source.send(frame[np.newaxis])
        wait_until(qapp, lambda: viewer.counters()["last_index"] == 1, what="the frame")
        viewer.refresh()
        assert _screen_colour(qapp, viewer, 5, 5) == (0, 0, 0)
        grey = _screen_colour(qapp, viewer, 3 * W // 4, 5)
        assert grey[0] == grey[1] == grey[2] and abs(grey[0] - 128) <= 2  # 100 / 200 of full scale
        assert _screen_colour(qapp, viewer, 3 * W // 4, H - 5) == WHITE
    finally:
        viewer.close()
        source.close()


def test_a_slow_display_skips_frames_and_counts_them(qapp):
    source = _source((H, W, 3))
    viewer = _viewer(source)
    try:
        viewer.set_refresh_interval(60_000)  # the display never redraws by itself
        for k in range(10):
            source.send(np.full((1, H, W, 3), k, np.uint8))
        wait_until(qapp, lambda: viewer.counters()["last_index"] == 10, what="the newest frame")
        viewer.refresh()
        viewer.refresh()  # nothing new: no redraw
        counters = viewer.counters()
        # 9 frames never shown: skipped by the display, or never queued for this latest_only reader
        assert viewer.frames_drawn == 1 and counters["skipped_frames"] + counters["lost_samples"] == 9
        assert viewer.image.image[0, 0, 0] == 9  # the newest frame is the one shown
    finally:
        viewer.close()
        source.close()


def test_frames_of_the_wrong_shape_are_refused(qapp):
    source = _source((H, W, 2))
    viewer = ImageViewer(name="images")
    try:
        viewer.configure()
        viewer.input.connect(source)
        with pytest.raises(ValueError, match=r"\(H, W, 3\) RGB"):
            viewer.initialize()
        other = ImageViewer()
        with pytest.raises(ValueError, match="levels"):
            other.configure(levels=(5, 1))
        other.close()
    finally:
        viewer.close()
        source.close()
