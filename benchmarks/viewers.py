"""QOscilloscope frame cost vs bare pyqtgraph, same run (offscreen, or real windows under Xvfb with --xvfb).

For each case (channels x rate, 10 s window, min_max decimation, scroll mode:
the costlier one) the viewer ingests 10 ms of data (what its input thread does
per chunk: the incremental decimation), updates its items (``refresh()``:
dense windows repaint only their new pixel columns, see
``lslacq.viewers.raster``) and renders one frame (an offscreen ``grab()`` of
the whole widget). Times are reported apart (ingest, update, render) and as
the CPU time of a frame (``time.process_time``) over the 16.7 ms of a 60 fps
frame: the share of one core the viewer needs at 60 fps. Baselines measured
in the same run:

* bare pyqtgraph: the same already-decimated points, with the same gains,
  offsets and ranges, drawn with one ``PlotCurveItem`` per channel in a
  ``PlotWidget`` of the same size (setData + grab), frames interleaved with
  ours so machine load hits both alike - the floor for any pyqtgraph
  oscilloscope;
* pyacq-style decimation: min_max of the whole 10 s window in numpy, what
  pyacq's QOscilloscope recomputes at every refresh (numpy only, no drawing).

Targets (issue 13): a frame in under 16 ms (60 fps) with the viewer using
under one core; ratio to bare pyqtgraph printed.

``--xvfb`` (issue 25): full size (1600x1000), 64 ch @ 10 kHz (10 s window)
and a 384 ch @ 30 kHz probe (2 s window), in real windows on an Xvfb server
the script starts (Qt's xcb platform plugin): "render" is then a synchronous
``repaint()`` of the plot's viewport (the paint and its transfer to the X server),
for the viewer and for bare pyqtgraph alike. The viewer runs with its
defaults (names gutter, time axis, scale bar, status line) except
``channels_per_page`` = all channels, so both draw the same points.

Usage: QT_QPA_PLATFORM=offscreen python benchmarks/viewers.py [--quick]
       python benchmarks/viewers.py --xvfb [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

CASES = [  # (label, channels, sample rate)
    ("64 ch @ 10 kHz", 64, 10_000.0),
    ("256 ch @ 1 kHz", 256, 1_000.0),
    ("1 ch @ 44.1 kHz", 1, 44_100.0),
]
XVFB_CASES = [  # (label, channels, sample rate, window s)
    ("64 ch @ 10 kHz", 64, 10_000.0, 10.0),
    ("384 ch @ 30 kHz", 384, 30_000.0, 2.0),
]
WINDOW_S = 10.0
CHUNK_S = 0.010
SIZE = (1200, 800)
XVFB_SIZE = (1600, 1000)


def start_xvfb() -> str:
    """Start an Xvfb server on a free display (stopped at exit); point Qt at it; return ':N'."""
    import atexit
    import subprocess

    read, write = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "3400x1100x24", "-dpi", "96", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    atexit.register(lambda: (proc.terminate(), proc.wait(10)))
    os.environ.update(DISPLAY=f":{number}", QT_QPA_PLATFORM="xcb")
    return f":{number}"


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def _stacking(nch: int) -> tuple[np.ndarray, np.ndarray]:
    """Gains and offsets of a typical multichannel display: channels stacked one unit apart."""
    return np.full(nch, 0.15, dtype=np.float32), np.arange(nch, dtype=np.float32)[::-1].copy()


def bench_case(
    app, nch: int, rate: float, frames: int, window_s: float = WINDOW_S, size=SIZE, real_window: bool = False
) -> dict:
    """Interleave our frames and bare pyqtgraph frames (same points, same geometry) so machine load hits both.

    ``real_window``: render = a synchronous ``repaint()`` of the shown window (xcb), else an offscreen ``grab()``.
    """
    import pyqtgraph as pg

    from lslacq.core.stream import OutputStream
    from lslacq.viewers import QOscilloscope

    out = OutputStream(name="bench")
    out.configure(protocol="inproc", dtype="float32", shape=(-1, nch), sample_rate=rate)
    viewer = QOscilloscope(name="bench")
    viewer.configure(with_user_dialog=False)
    viewer.input.connect(out)
    viewer.initialize()
    gains, offsets = _stacking(nch)
    viewer.params.update(
        xsize=window_s,
        decimation_method="min_max",
        mode="scroll",
        show_status=True,
        ylim_min=-1.0,
        ylim_max=float(nch),
        channels_per_page=nch,
    )
    for c in range(nch):
        viewer.by_channel_params[c, "gain"] = float(gains[c])
        viewer.by_channel_params[c, "offset"] = float(offsets[c])
    viewer.resize(*size)
    viewer.show()
    app.processEvents()
    viewer.estimate_decimate()  # auto_decimate for this width (done by a timer after a resize)
    rng = np.random.default_rng(0)
    chunk = int(round(rate * CHUNK_S))
    window = int(rate * window_s)
    index = 0
    block = rng.standard_normal((window, nch)).astype("float32")
    for i in range(0, window, 10 * chunk):  # a full window on screen first
        part = block[i : i + 10 * chunk]
        index += len(part)
        viewer._on_signals(index, part)
    app.processEvents()
    viewer.refresh()
    viewer.grab()
    _, points = viewer._scope.points()
    decimate = viewer._scope.decimate

    bare = pg.PlotWidget()
    bare.resize(*size)
    bare.setBackground("k")
    bare.plotItem.hideAxis("left")
    bare.plotItem.hideAxis("bottom")
    n = points.shape[0]
    x = (np.arange(n) - n) * decimate / rate
    curves = [pg.PlotCurveItem(pen=pg.intColor(c, hues=max(nch, 1))) for c in range(nch)]
    for curve in curves:
        bare.addItem(curve)
    bare.setXRange(x[0], 0, padding=0)
    bare.setYRange(-1.0, float(nch), padding=0)
    shown = np.ascontiguousarray((points * gains + offsets).T)
    if real_window:  # side by side: a window hidden behind another is not exposed, and Qt does not paint it
        viewer.move(0, 0)
        bare.move(size[0] + 50, 0)
    bare.show()
    app.processEvents()
    if real_window:
        deadline = time.monotonic() + 10
        while not all(w.windowHandle() is not None and w.windowHandle().isExposed() for w in (viewer, bare)):
            if time.monotonic() > deadline:
                raise RuntimeError("the benchmark windows were not exposed on the X server within 10 s")
            app.processEvents()
            time.sleep(0.01)
    # a real window: repaint its plot now (the QGraphicsView's viewport: repaint() of the window itself does
    # not reach it) - the scene painted into the backing store and flushed to the X server
    render_ours = viewer.graphicsview.viewport().repaint if real_window else viewer.grab
    render_bare = bare.viewport().repaint if real_window else bare.grab

    data = rng.standard_normal((chunk, nch)).astype("float32")
    ingest, update, render, total, cpu, baseline = [], [], [], [], [], []
    for _ in range(frames):
        c0, t0 = time.process_time(), time.perf_counter()
        index += chunk
        viewer._on_signals(index, data)
        t1 = time.perf_counter()
        viewer.refresh()
        t2 = time.perf_counter()
        render_ours()
        t3, c3 = time.perf_counter(), time.process_time()
        for c, curve in enumerate(curves):
            curve.setData(x, shown[c])
        render_bare()
        t4 = time.perf_counter()
        if real_window:
            app.processEvents()  # what the event loop does between frames (input, X replies)
        ingest.append(t1 - t0)
        update.append(t2 - t1)
        render.append(t3 - t2)
        total.append(t3 - t0)
        cpu.append(c3 - c0)
        baseline.append(t4 - t3)
    dense = viewer.traces.isVisible()
    viewer.close()
    bare.close()
    out.close()
    return {
        "ingest": _median_ms(ingest),
        "update": _median_ms(update),
        "render": _median_ms(render),
        "frame": _median_ms(total),
        "cpu": _median_ms(cpu),
        "bare": _median_ms(baseline),
        "points": n,
        "decimate": decimate,
        "dense": dense,
    }


def bench_pyacq_decimation(nch: int, rate: float, decimate: int, frames: int, window_s: float = WINDOW_S) -> float:
    window = int(rate * window_s)
    window -= window % (2 * decimate)
    full = np.random.default_rng(0).standard_normal((nch, window)).astype("float32")
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        arr = full.reshape(nch, -1, 2 * decimate)
        small = np.empty((nch, arr.shape[1] * 2), dtype=np.float32)
        small[:, ::2] = arr.max(axis=2)
        small[:, 1::2] = arr.min(axis=2)
        times.append(time.perf_counter() - t0)
    return _median_ms(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames (CI smoke run)")
    parser.add_argument(
        "--xvfb",
        action="store_true",
        help="real windows on an Xvfb server, 1600x1000, 64 ch @ 10 kHz and 384 ch @ 30 kHz",
    )
    args = parser.parse_args()
    frames = 10 if args.quick else 60
    if args.xvfb:
        return main_xvfb(frames)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from lslacq.viewers._qt import QT_LIB, mkQApp

    app = mkQApp()
    print(
        f"QOscilloscope, {WINDOW_S:g} s window, min_max, {CHUNK_S * 1e3:g} ms chunks, {SIZE[0]}x{SIZE[1]} "
        f"offscreen ({QT_LIB}), median of {frames} frames"
    )
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} cores")
    header = (
        f"{'case':<16} {'points/ch':>9} {'drawn as':>8} {'ingest ms':>9} {'update ms':>9} {'render ms':>9} "
        f"{'frame ms':>8} {'fps max':>7} {'core@60fps':>10} {'bare pg ms':>10} {'ratio':>6} "
        f"{'pyacq-style decim ms':>20}"
    )
    print(header)
    print("-" * len(header))
    for label, nch, rate in CASES:
        ours = bench_case(app, nch, rate, frames)
        pyacq = bench_pyacq_decimation(nch, rate, ours["decimate"], frames)
        frame, bare = ours["frame"], ours["bare"]
        drawn = "image" if ours["dense"] else "curves"
        print(
            f"{label:<16} {ours['points']:>9d} {drawn:>8} {ours['ingest']:>9.2f} {ours['update']:>9.2f} "
            f"{ours['render']:>9.2f} {frame:>8.2f} {1000 / frame:>7.0f} {ours['cpu'] / (1000 / 60):>10.2f} "
            f"{bare:>10.2f} {frame / bare:>6.2f} {pyacq:>20.2f}",
            flush=True,
        )
    print(
        "ratio = our frame (ingest + update + render) / bare pyqtgraph drawing the same points (setData + grab); "
        "core@60fps = CPU time of a frame / 16.7 ms (the share of one core a 60 fps refresh needs)"
    )
    return 0


def main_xvfb(frames: int) -> int:
    """Run the full-size cases in real xcb windows on Xvfb."""
    display = start_xvfb()
    from lslacq.viewers._qt import QT_LIB, mkQApp

    app = mkQApp()
    print(
        f"QOscilloscope in real windows (xcb on Xvfb {display}, platform {app.platformName()}), "
        f"{XVFB_SIZE[0]}x{XVFB_SIZE[1]}, min_max, scroll, {CHUNK_S * 1e3:g} ms chunks ({QT_LIB}), "
        f"median of {frames} frames; render = repaint() of the plot's viewport"
    )
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} cores")
    header = (
        f"{'case':<16} {'window':>6} {'points/ch':>9} {'drawn as':>8} {'ingest ms':>9} {'update ms':>9} "
        f"{'render ms':>9} {'frame ms':>8} {'fps max':>7} {'core@60fps':>10} {'bare pg ms':>10} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for label, nch, rate, window_s in XVFB_CASES:
        ours = bench_case(app, nch, rate, frames, window_s=window_s, size=XVFB_SIZE, real_window=True)
        frame, bare = ours["frame"], ours["bare"]
        print(
            f"{label:<16} {window_s:>5g}s {ours['points']:>9d} {'image' if ours['dense'] else 'curves':>8} "
            f"{ours['ingest']:>9.2f} {ours['update']:>9.2f} {ours['render']:>9.2f} {frame:>8.2f} "
            f"{1000 / frame:>7.0f} {ours['cpu'] / (1000 / 60):>10.2f} {bare:>10.2f} {frame / bare:>6.2f}",
            flush=True,
        )
    print(
        "frame = ingest 10 ms of data + refresh() + repaint(); bare = setData of the same points on one "
        "PlotCurveItem per channel + repaint(), interleaved in the same run"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
