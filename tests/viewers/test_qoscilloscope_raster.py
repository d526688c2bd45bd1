"""Dense traces drawn as an image: TraceRaster pixels, incremental frames equal a full repaint, dense/sparse switch."""

from __future__ import annotations

import numpy as np
import pytest
from viewer_helpers import color_mask, render, rows_of, to_pixel, wait_until

from lslacq.core.stream import OutputStream
from lslacq.viewers import QOscilloscope
from lslacq.viewers.decimation import ScopeBuffer
from lslacq.viewers.raster import TraceRaster, argb32

RED, BLUE = argb32((255, 0, 0, 255)), argb32((0, 0, 255, 255))


def _raster(height=10, width=4):
    raster = TraceRaster()
    raster.resize(height, width)
    return raster


def test_a_column_spans_its_points_and_the_join_from_the_previous_column():
    raster = _raster()
    pts = np.array([[2.0], [5.0], [5.0], [5.0]], dtype=np.float32)  # 2 points per column, y range 0..10
    assert raster.paint(0, pts, np.array([np.nan]), 2, np.array([RED], np.uint32), 0.0, 10.0) == 2
    np.testing.assert_array_equal(np.flatnonzero(raster.image[:, 0]), [2, 3, 4, 5])  # rows 2..5 (row 0 = ymin)
    np.testing.assert_array_equal(np.flatnonzero(raster.image[:, 1]), [5])
    assert not raster.image[:, 2:].any()
    assert raster.image[2, 0] == RED


def test_nan_out_of_range_clipping_and_channel_order():
    raster = _raster()
    pts = np.array(
        [
            [np.nan, np.nan],
            [np.nan, np.nan],
            [-5.0, 3.0],
            [20.0, 3.0],
            [30.0, 3.0],
            [40.0, 3.0],
            [3.0, 3.0],
            [3.0, 3.0],
        ],
        dtype=np.float32,
    )
    colors = np.array([RED, BLUE], np.uint32)
    raster.paint(0, pts, np.full(2, np.nan), 2, colors, 0.0, 10.0)
    assert not raster.image[:, 0].any()  # no data
    assert (raster.image[:, 1] != 0).all()  # from -5 to 20: every row, clipped
    assert raster.image[3, 1] == BLUE  # the later channel is drawn over the earlier one
    assert not (raster.image[:, 2] == RED).any() and raster.image[3, 2] == BLUE  # 20..40: above the range
    np.testing.assert_array_equal(np.flatnonzero(raster.image[:, 3] == RED), [4, 5, 6, 7, 8, 9])  # back from 40
    assert raster.image[3, 3] == BLUE


def test_shift_and_bad_columns():
    raster = _raster(width=4)
    raster.image[:] = np.arange(4, dtype=np.uint32)
    raster.shift(1)
    np.testing.assert_array_equal(raster.image[0], [1, 2, 3, 0])
    with pytest.raises(ValueError, match="outside the raster"):
        raster.paint(3, np.zeros((4, 1), np.float32), np.zeros(1), 2, np.array([RED], np.uint32), 0, 1)
    with pytest.raises(ValueError, match="at least 1 x 1"):
        raster.resize(0, 3)


def test_shifts_move_the_origin_and_wrap_back_with_the_pixels_kept():
    """Scrolling moves the image's origin in a buffer twice as wide (no copy per frame).

    Once at its end the pixels are copied back to its start: every shift, painted columns included, is what a plain
    shift gives.
    """
    raster = _raster(height=3, width=5)
    model = np.zeros((3, 5), np.uint32)
    for step, n in enumerate([1, 2, 1, 3, 2, 1, 4, 1, 6, 2]):
        raster.shift(n)
        model = (
            np.concatenate([model[:, n:], np.zeros((3, min(n, 5)), np.uint32)], axis=1)[:, -5:]
            if n < 5
            else np.zeros((3, 5), np.uint32)
        )
        raster.paint(
            4, np.array([[step % 3 + 0.5]], np.float32), np.array([np.nan]), 1, np.array([RED], np.uint32), 0.0, 3.0
        )  # the newest column: one pixel at row step % 3
        model[:, 4] = 0
        model[step % 3, 4] = RED
        np.testing.assert_array_equal(raster.image, model, err_msg=f"after shift {step} by {n}")
        assert 0 <= raster.origin <= raster.buffer.shape[1] - raster.width
    assert raster.buffer.shape == (3, 10)


@pytest.mark.parametrize("mode", ["scan", "scroll"])
@pytest.mark.parametrize("width", [100, 77])  # 77: a partial last column (n_points not a multiple)
def test_incremental_frames_equal_a_full_repaint(qapp, mode, width):
    from lslacq.viewers.rastertraces import RasterTraces

    rng = np.random.default_rng(3)
    scope = ScopeBuffer(3, size=4000, decimate=10, method="min_max")  # 400 points
    data = np.cumsum(rng.standard_normal((13000, 3)), axis=0).astype("float32")
    args = (
        1000.0,
        mode,
        (width, 60),
        np.array([0, 2]),
        np.array([0.1, 0.1], np.float32),
        np.array([0.0, 1.0], np.float32),
        np.array([RED, BLUE], np.uint32),
        (-3.0, 4.0),
    )
    live = RasterTraces()
    pos, sizes, painted = 0, [37, 250, 1, 903, 64], []
    for k in range(60):
        n = sizes[k % len(sizes)]
        scope.feed(pos + n, data[pos : pos + n])
        pos += n
        live.update_traces(scope, scope.end, *args)
        painted.append(live.columns_painted)
        if pos > 12000:
            break
    fresh = RasterTraces()
    fresh.update_traces(scope, scope.end, *args)
    assert live.raster.image.any()
    skip = 2 if mode == "scroll" else 0  # the oldest column holds points older than the window
    np.testing.assert_array_equal(live.raster.image[:, skip:], fresh.raster.image[:, skip:])
    assert live.boundingRect() == fresh.boundingRect()
    assert min(painted[5:]) < live.raster.width / 4  # frames repaint only their new columns


def _two_frames(n: int, width: int, mode: str, first_end: int, second_end: int):
    """A RasterTraces updated at ``first_end`` then ``second_end`` (points of an n-point window), and a fresh one."""
    from lslacq.viewers.rastertraces import RasterTraces

    scope = ScopeBuffer(1, size=n, decimate=1)  # n points, one per sample
    data = np.random.default_rng(first_end * 100 + second_end).uniform(-1, 1, (second_end, 1)).astype("float32")
    args = (
        1.0,
        mode,
        (width, 8),
        np.array([0]),
        np.ones(1, np.float32),
        np.zeros(1, np.float32),
        np.array([RED], np.uint32),
        (-1.0, 1.0),
    )
    live = RasterTraces()
    scope.feed(first_end, data[:first_end])
    live.update_traces(scope, scope.end, *args)
    scope.feed(second_end, data[first_end:])
    live.update_traces(scope, scope.end, *args)
    fresh = RasterTraces()
    fresh.update_traces(scope, scope.end, *args)
    return live, fresh


def test_scroll_frame_almost_a_window_after_the_previous_one(qapp):
    """Regression (d70b7ed): a gap of n-1 points on 3 points per column raised 'columns [-1, 1) are outside'."""
    live, fresh = _two_frames(6, 2, "scroll", 2, 7)  # 6 points on 2 columns; end 2 -> 7
    assert fresh.raster.image.any()
    np.testing.assert_array_equal(live.raster.image, fresh.raster.image)
    assert live.boundingRect() == fresh.boundingRect()


@pytest.mark.parametrize("mode", ["scan", "scroll"])
@pytest.mark.parametrize(("n", "width"), [(6, 2), (7, 2), (7, 3), (8, 3), (9, 4), (5, 5)])
def test_any_gap_shorter_than_a_window_equals_a_full_repaint(qapp, mode, n, width):
    # scroll: the oldest column may keep points (or the join from a point) older than the window, which a
    # full repaint leaves out
    skip = 1 if mode == "scroll" else 0
    for first_end in range(1, 2 * n + 1):
        for gap in range(1, n):  # a gap of a whole window or more is a full repaint anyway
            live, fresh = _two_frames(n, width, mode, first_end, first_end + gap)
            assert fresh.raster.image[:, skip:].any()
            np.testing.assert_array_equal(
                live.raster.image[:, skip:],
                fresh.raster.image[:, skip:],
                err_msg=f"{mode} n={n} width={width} end {first_end} -> +{gap}",
            )


@pytest.fixture
def source():
    out = OutputStream(name="src")
    out.configure(protocol="tcp", transfermode="plaindata", dtype="float32", shape=(-1, 1), sample_rate=100.0)
    yield out
    out.close()


def test_sparse_windows_draw_curves_dense_windows_an_image(qapp, source):
    viewer = QOscilloscope(name="scope")
    try:
        viewer.configure(with_user_dialog=False)
        viewer.input.connect(source)
        viewer.initialize()
        viewer.resize(600, 400)
        viewer.params.update(
            xsize=2.0, mode="scroll", ylim_min=-10, ylim_max=10, show_status=False, auto_decimate=False, decimate=1
        )
        viewer.by_channel_params[0, "color"] = "#ff0000"
        viewer.show()
        viewer.start()
        t = np.arange(1000) / 100.0
        data = (6 * np.sin(2 * np.pi * 0.5 * t)).astype("float32")[:, None]
        source.send(data, index=1000)
        wait_until(qapp, lambda: viewer.counters()["last_index"] == 1000, what="the data")
        for xsize, dense in ((2.0, False), (10.0, True)):  # 200 then 1000 points on ~600 pixel columns
            viewer.params["xsize"] = xsize
            image = render(qapp, viewer)
            assert viewer.traces.isVisible() == dense and viewer.curves[0].isVisible() != dense
            red = color_mask(image, (255, 0, 0))
            for sample in (850, 900, 950):  # trough, zero crossing, peak
                col, row = to_pixel(viewer, (sample - 1000) / 100.0, data[sample, 0], image)
                rows = rows_of(red, col, halfwidth=2)
                assert rows.size and np.abs(rows - row).min() <= 2, (xsize, sample, row, rows)
    finally:
        viewer.close()
