"""QOscilloscope frame cost vs bare pyqtgraph, same run (offscreen).

For each case (channels x rate, 10 s window, min_max decimation) the viewer
ingests 10 ms of data (what its input thread does per chunk: the incremental
decimation) and renders one frame (``refresh()`` then an offscreen ``grab()``
of the whole widget). Baselines measured in the same run:

* bare pyqtgraph: the same already-decimated points, with the same gains,
  offsets and ranges, drawn with one ``PlotCurveItem`` per channel in a
  ``PlotWidget`` of the same size (setData + grab), frames interleaved with
  ours so machine load hits both alike - the floor for any pyqtgraph
  oscilloscope;
* pyacq-style decimation: min_max of the whole 10 s window in numpy, what
  pyacq's QOscilloscope recomputes at every refresh (numpy only, no drawing).

Targets (issue 13): a frame in under 16 ms (60 fps) with the viewer using
under one core; ratio to bare pyqtgraph printed.

Usage: QT_QPA_PLATFORM=offscreen python benchmarks/viewers.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np

CASES = [  # (label, channels, sample rate)
    ("64 ch @ 10 kHz", 64, 10_000.0),
    ("256 ch @ 1 kHz", 256, 1_000.0),
    ("1 ch @ 44.1 kHz", 1, 44_100.0),
]
WINDOW_S = 10.0
CHUNK_S = 0.010
SIZE = (1200, 800)


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def _stacking(nch: int) -> tuple[np.ndarray, np.ndarray]:
    """Gains and offsets of a typical multichannel display: channels stacked one unit apart."""
    return np.full(nch, 0.15, dtype=np.float32), np.arange(nch, dtype=np.float32)[::-1].copy()


def bench_case(app, nch: int, rate: float, frames: int) -> dict:
    """Interleave our frames and bare pyqtgraph frames (same points, same geometry) so machine load hits both."""
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
    viewer.params.update(xsize=WINDOW_S, decimation_method="min_max", mode="scroll", show_status=True,
                         ylim_min=-1.0, ylim_max=float(nch))
    for c in range(nch):
        viewer.by_channel_params[c, "gain"] = float(gains[c])
        viewer.by_channel_params[c, "offset"] = float(offsets[c])
    viewer.resize(*SIZE)
    viewer.show()
    app.processEvents()
    viewer.estimate_decimate()  # auto_decimate for this width (done by a timer after a resize)
    rng = np.random.default_rng(0)
    chunk = int(round(rate * CHUNK_S))
    window = int(rate * WINDOW_S)
    index = 0
    block = rng.standard_normal((window, nch)).astype("float32")
    for i in range(0, window, 10 * chunk):  # a full window on screen first
        part = block[i:i + 10 * chunk]
        index += len(part)
        viewer._on_signals(index, part)
    app.processEvents()
    viewer.refresh()
    viewer.grab()
    _, points = viewer._scope.points()
    decimate = viewer._scope.decimate

    bare = pg.PlotWidget()
    bare.resize(*SIZE)
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
    bare.show()
    app.processEvents()

    data = rng.standard_normal((chunk, nch)).astype("float32")
    ingest, render, total, baseline = [], [], [], []
    for _ in range(frames):
        t0 = time.perf_counter()
        index += chunk
        viewer._on_signals(index, data)
        t1 = time.perf_counter()
        viewer.refresh()
        viewer.grab()
        t2 = time.perf_counter()
        for c, curve in enumerate(curves):
            curve.setData(x, shown[c])
        bare.grab()
        t3 = time.perf_counter()
        ingest.append(t1 - t0)
        render.append(t2 - t1)
        total.append(t2 - t0)
        baseline.append(t3 - t2)
    viewer.close()
    bare.close()
    out.close()
    return {"ingest": _median_ms(ingest), "render": _median_ms(render), "frame": _median_ms(total),
            "bare": _median_ms(baseline), "points": n, "decimate": decimate}


def bench_pyacq_decimation(nch: int, rate: float, decimate: int, frames: int) -> float:
    window = int(rate * WINDOW_S)
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
    args = parser.parse_args()
    frames = 10 if args.quick else 60

    from lslacq.viewers._qt import QT_LIB, mkQApp

    app = mkQApp()
    print(f"QOscilloscope, {WINDOW_S:g} s window, min_max, {CHUNK_S * 1e3:g} ms chunks, {SIZE[0]}x{SIZE[1]} "
          f"offscreen ({QT_LIB}), median of {frames} frames")
    header = (f"{'case':<16} {'points/ch':>9} {'ingest ms':>9} {'render ms':>9} {'frame ms':>9} {'fps max':>7} "
              f"{'core@60fps':>10} {'bare pg ms':>10} {'ratio':>6} {'pyacq-style decim ms':>20}")
    print(header)
    print("-" * len(header))
    for label, nch, rate in CASES:
        ours = bench_case(app, nch, rate, frames)
        pyacq = bench_pyacq_decimation(nch, rate, ours["decimate"], frames)
        frame, bare = ours["frame"], ours["bare"]
        print(f"{label:<16} {ours['points']:>9d} {ours['ingest']:>9.2f} {ours['render']:>9.2f} "
              f"{frame:>9.2f} {1000 / frame:>7.0f} {frame / (1000 / 60):>10.2f} {bare:>10.2f} "
              f"{frame / bare:>6.2f} {pyacq:>20.2f}", flush=True)
    print("ratio = our frame (ingest + render) / bare pyqtgraph drawing the same points; core@60fps = frame "
          "time / 16.7 ms (the share of one core a 60 fps refresh needs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
