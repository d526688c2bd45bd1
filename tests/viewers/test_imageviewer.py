"""ImageViewer: a known frame's colours on screen (RGB and grey), skipped frames, bad streams refused.

The multi-video grid (each video in its cell, row by row), its status lines and its argument checks.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest
from viewer_helpers import color_mask, wait_until

from lslacq.core.stream import OutputStream
from lslacq.viewers.imageviewer import ImageViewer

H, W = 40, 60
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def quadrants() -> np.ndarray:
    frame = np.zeros((H, W, 3), np.uint8)
    frame[: H // 2, : W // 2] = RED
    frame[: H // 2, W // 2 :] = GREEN
    frame[H // 2 :, : W // 2] = BLUE
    frame[H // 2 :, W // 2 :] = WHITE
    return frame


def _source(shape, **kwargs):
    out = OutputStream(name="camera")
    out.configure(
        protocol="tcp", streamtype="image/video", dtype="uint8", shape=(-1,) + shape, sample_rate=30.0, **kwargs
    )
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


def _holds(viewer, index, video=0) -> bool:
    """Whether the viewer's poller has handed it the frame ending at ``index``.

    counters()['last_index'] is the input's, updated before the poller's callback keeps the frame: a refresh then
    could draw the one before.
    """
    return viewer.cells[video]._frame_index == index


def _screen_colour(qapp, viewer, col, row, video=0):
    """RGB of the widget pixel showing image pixel (col, row) of video ``video``."""
    from lslacq.viewers._qt import QtCore, qimage_to_array

    image = viewer.grab().toImage()
    cell = viewer.cells[video]
    scene = cell.viewbox.mapViewToScene(QtCore.QPointF(col + 0.5, row + 0.5))
    point = cell.graphicsview.viewport().mapTo(viewer, cell.graphicsview.mapFromScene(scene))
    ratio = image.devicePixelRatio()
    return tuple(int(v) for v in qimage_to_array(image)[int(point.y() * ratio), int(point.x() * ratio), :3])


@pytest.mark.parametrize("transfermode", ["plaindata", "sharedmem"])
def test_rgb_frame_shows_its_colours_in_place(qapp, transfermode):
    source = _source((H, W, 3), transfermode=transfermode)
    viewer = _viewer(source)
    try:
        source.send(np.zeros((1, H, W, 3), np.uint8))  # an older frame, replaced before any redraw
        source.send(quadrants()[np.newaxis])
        wait_until(qapp, lambda: _holds(viewer, 2), what="the second frame")
        viewer.refresh()
        assert viewer.frames_drawn == 1
        for (col, row), colour in [
            ((W // 4, H // 4), RED),
            ((3 * W // 4, H // 4), GREEN),
            ((W // 4, 3 * H // 4), BLUE),
            ((3 * W // 4, 3 * H // 4), WHITE),
        ]:
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
        frame[:, W // 2 :] = 100
        frame[H // 2 :, W // 2 :] = 250  # above the top level: white
        source.send(frame[np.newaxis])
        wait_until(qapp, lambda: _holds(viewer, 1), what="the frame")
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
        wait_until(qapp, lambda: _holds(viewer, 10), what="the newest frame")
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


# -- the multi-video grid: configure(num_video=N, nb_column=C), inputs video0 ... video<N-1> ---------------------


@contextlib.contextmanager
def _grid(sources, size, clock=None, **configure):
    """A running grid viewer of ``sources`` (video0, video1...); closes it and them at exit.

    ``clock``: the viewer's clock for the frame rates (default time.monotonic).
    """
    viewer = ImageViewer(name="grid")
    if clock is not None:
        viewer._clock = clock
    try:
        viewer.configure(num_video=len(sources), **configure)
        for i, source in enumerate(sources):
            viewer.inputs[f"video{i}"].connect(source)
        viewer.initialize()
        viewer.resize(*size)
        viewer.show()
        viewer.start()
        for source in sources:
            source.wait_for_subscribers(1, timeout=10)
        yield viewer
    finally:
        viewer.close()
        for source in sources:
            source.close()


def _send_colours(qapp, viewer, sources, colours, shape=(H, H, 3)):
    for source, colour in zip(sources, colours, strict=True):
        source.send(np.full((1,) + shape, colour, np.uint8))
    wait_until(qapp, lambda: viewer.frames_received == len(sources), what="one frame per video")
    viewer.refresh()
    return viewer.grab_array()


def _where(image, rgb):
    """Mean (x, y) of the pixels of colour ``rgb`` as fractions of the image, and their share of it."""
    mask = color_mask(image, rgb, tol=10)
    rows, cols = np.nonzero(mask)
    assert len(rows), f"no pixel of colour {rgb}"
    return cols.mean() / image.shape[1], rows.mean() / image.shape[0], mask.mean()


@pytest.mark.parametrize(("nb_column", "size", "axis"), [(2, (400, 200), 1), (1, (200, 400), 0)])
def test_two_videos_each_in_its_cell(qapp, nb_column, size, axis):
    """Two columns: video0 (red) on the left, video1 (green) on the right; one column: video0 on top."""
    sources = [_source((H, H, 3)) for _ in range(2)]
    with _grid(sources, size, nb_column=nb_column) as viewer:
        assert list(viewer.inputs) == ["video0", "video1"] and viewer.nb_column == nb_column
        image = _send_colours(qapp, viewer, sources, [RED, GREEN])
        for cell, colour in enumerate([RED, GREEN]):
            halves = np.array_split(color_mask(image, colour, tol=10), 2, axis=axis)
            assert halves[1 - cell].sum() == 0  # none of it in the other video's half
        along, across = (0, 1) if axis == 1 else (1, 0)  # (x, y) coordinates of _where
        red, green = _where(image, RED), _where(image, GREEN)
        assert abs(red[along] - 0.25) < 0.05 and abs(green[along] - 0.75) < 0.05
        assert abs(red[across] - green[across]) < 0.02
        assert red[2] > 0.25 and green[2] > 0.25  # each square frame fills most of its square cell
        assert viewer.counters()["frames_drawn"] == 2
        assert [c["frames_drawn"] for c in viewer.video_counters()] == [1, 1]


def test_three_videos_fill_two_columns_row_by_row(qapp):
    sources = [_source((H, H, 3)) for _ in range(3)]
    with _grid(sources, (400, 400), nb_column=2) as viewer:
        image = _send_colours(qapp, viewer, sources, [RED, GREEN, BLUE])
        (rx, ry, _), (gx, gy, _), (bx, by, _) = (_where(image, c) for c in (RED, GREEN, BLUE))
        assert rx < 0.5 < gx and ry < 0.5 and gy < 0.5  # first row: video0, video1
        assert bx < 0.5 < by and abs(bx - rx) < 0.02  # second row, first column: video2


def test_grid_cells_take_grey_and_rgb_frames_of_any_size(qapp):
    grey, rgb = _source((30, 80), transfermode="sharedmem"), _source((H, W, 3))
    with _grid([grey, rgb], (600, 200), nb_column=2, levels=(0, 200)) as viewer:
        grey.send(np.full((1, 30, 80), 100, np.uint8))
        rgb.send(quadrants()[np.newaxis])
        wait_until(qapp, lambda: viewer.frames_received == 2, what="both frames")
        viewer.refresh()
        grey_pixel = _screen_colour(qapp, viewer, 40, 15, video=0)
        assert grey_pixel[0] == grey_pixel[1] == grey_pixel[2] and abs(grey_pixel[0] - 128) <= 2  # 100 / 200
        assert _screen_colour(qapp, viewer, W // 4, H // 4, video=1) == RED
        assert _screen_colour(qapp, viewer, 3 * W // 4, 3 * H // 4, video=1) == WHITE
        assert viewer.cells[0].frame_shape == (30, 80) and viewer.cells[1].frame_shape == (H, W, 3)


def _send_one_by_one(qapp, viewer, source, count: int, shape=(H, W, 3)) -> None:
    """Send ``count`` frames one at a time (a latest_only input may skip frames sent in a burst)."""
    for _ in range(count):
        expected = viewer.frames_received + 1
        source.send(np.zeros((1,) + shape, np.uint8))
        wait_until(qapp, lambda e=expected: viewer.frames_received == e, what=f"frame {expected}")


def test_each_video_has_its_status_line(qapp):
    sources = [_source((H, W, 3)), _source((H, H))]
    clock = [time.monotonic()]
    with _grid(sources, (400, 200), clock=lambda: clock[0], nb_column=2) as viewer:
        assert viewer.status_text(0) == f"video0: {W}x{H} RGB, waiting for frames"
        assert viewer.status_text(1) == f"video1: {H}x{H} grey, waiting for frames"
        _send_one_by_one(qapp, viewer, sources[0], 1)
        viewer._status_time = 0.0  # the status is updated at most 4 times a second
        viewer.refresh()
        assert viewer.status_text(0) == f"video0: {W}x{H} RGB, - fps, 0 skipped, 0 lost"  # rate: after 1 s
        assert viewer.status_text(1).endswith("waiting for frames")
        # the rate: frames received between two refreshes at least a second apart
        _send_one_by_one(qapp, viewer, sources[0], 3)
        clock[0] += 2.0
        viewer.refresh()
        assert viewer.status_text(0).startswith(f"video0: {W}x{H} RGB, 2.0 fps, ")  # 4 frames in 2 s
        assert [c["rate"] for c in viewer.video_counters()] == [2.0, 0.0]


def test_rates_are_measured_with_the_status_lines_off(qapp):
    sources = [_source((H, W, 3)), _source((H, H))]
    clock = [100.0]
    with _grid(sources, (400, 200), clock=lambda: clock[0], nb_column=2, show_status=False) as viewer:
        assert [c["rate"] for c in viewer.video_counters()] == [None, None]
        _send_one_by_one(qapp, viewer, sources[0], 3)
        clock[0] = 102.0
        viewer.refresh()
        assert [c["rate"] for c in viewer.video_counters()] == [1.5, 0.0]  # 3 frames in 2 s, none
        assert viewer.status_text(0) == "" and not viewer.cells[0].status.isVisible()


def test_single_video_names_and_status_off(qapp):
    viewer = ImageViewer()
    viewer.configure(show_status=False)
    assert list(viewer.inputs) == ["video"] and viewer.inputs["video0"] is viewer.inputs["video"]
    assert viewer.input is viewer.inputs["video"] and viewer.input.latest_only
    assert viewer.status_text() == ""
    viewer.close()


BAD_SIZES = [0, -2, 1.5, "2", True]


@pytest.mark.parametrize(
    ("argument", "value"), [("num_video", v) for v in [*BAD_SIZES, None]] + [("nb_column", v) for v in BAD_SIZES]
)  # nb_column=None: the default
def test_bad_grid_sizes_are_refused_naming_the_argument(qapp, argument, value):
    viewer = ImageViewer(name="grid")
    try:
        with pytest.raises(ValueError, match=rf"grid: {argument}={value!r} must be a whole number >= 1"):
            viewer.configure(**{"num_video": 2, argument: value})
    finally:
        viewer.close()


def test_grid_refuses_a_bad_stream_naming_its_input(qapp):
    good, bad = _source((H, W, 3)), _source((H, W, 2))
    viewer = ImageViewer(name="grid")
    try:
        viewer.configure(num_video=2)
        viewer.inputs["video0"].connect(good)
        viewer.inputs["video1"].connect(bad)
        with pytest.raises(ValueError, match=r"grid: input 'video1': frames of shape \(40, 60, 2\)"):
            viewer.initialize()
    finally:
        viewer.close()
        good.close()
        bad.close()


@pytest.mark.parametrize(("levels", "error"), [((5, 1), ValueError), ("bright", TypeError), ((0, 1, 2), TypeError)])
def test_bad_levels_are_refused_naming_them(qapp, levels, error):
    viewer = ImageViewer(name="images")
    try:
        with pytest.raises(error, match=r"images: levels"):
            viewer.configure(levels=levels)
    finally:
        viewer.close()
