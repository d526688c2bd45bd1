"""Viewer start-up and redraw costs that grow with the channel count (offscreen).

* QTimeFreq, 32 channels at 20 kHz (pyacq's ``test_qtimefreq.py`` setting):
  ``initialize()`` (32 local TimeFreqWorkers, the converter's shared ring, 32
  plots with axes and colour bars), then ``params['nb_column'] = 8`` (what
  the pyacq test does next), with the converter ring's size.
* QTriggeredOscilloscope, 16 channels, a stack of 100 sweeps: ``refresh()``
  when one sweep arrived, when every sweep is redrawn (a parameter change) and
  when nothing is new, and the paint of the stack (``grab()``).

Measured on the commit before (bb838bf^ / b0422db^) and after: see
docs/viewers.md (QTimeFreq, QTriggeredOscilloscope).

Run: ``QT_QPA_PLATFORM=offscreen python benchmarks/viewers_startup.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def timefreq_startup(runs: int) -> None:
    from lslacq.devices import NumpyDeviceBuffer
    from lslacq.viewers._qt import mkQApp
    from lslacq.viewers.qtimefreq import QTimeFreq

    mkQApp()
    nb_channel, rate = 32, 20000.0
    for run in range(runs):
        dev = NumpyDeviceBuffer(name="dev")
        dev.configure(
            nb_channel=nb_channel,
            sample_interval=1 / rate,
            chunksize=100,
            buffer=np.zeros((4000, nb_channel), "float32"),
        )
        dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        dev.initialize()
        viewer = QTimeFreq(name="tf")
        viewer.configure(with_user_dialog=True, nodegroup_friends=None)
        viewer.input.connect(dev.output)
        t0 = time.perf_counter()
        viewer.initialize()
        t1 = time.perf_counter()
        viewer.resize(600, 400)
        viewer.show()
        viewer.params["nb_column"] = 8
        t2 = time.perf_counter()
        ring = viewer.conv.output.params["buffer_size"]
        print(
            f"QTimeFreq {nb_channel} ch x {rate / 1000:g} kHz, run {run + 1}: initialize {t1 - t0:.2f} s, "
            f"nb_column=8 {t2 - t1:.2f} s, converter ring {ring} samples "
            f"({ring * nb_channel * 4 * 2 / 1e6:.0f} MB double)"
        )
        viewer.close()
        dev.close()


def triggered_redraw() -> None:
    from lslacq.devices import NumpyDeviceBuffer
    from lslacq.viewers._qt import mkQApp
    from lslacq.viewers.qtriggeredoscilloscope import QTriggeredOscilloscope

    app = mkQApp()
    nb_channel, rate, stack = 16, 1000.0, 100
    n = int(rate * 8)
    t = np.arange(n) / rate
    data = (np.random.default_rng(0).standard_normal((n, nb_channel)) * 0.3).astype("float32")
    data[:, 0] = ((t % 0.05) < 0.02) * 2.0  # a trigger every 50 ms on channel 0
    dev = NumpyDeviceBuffer(name="dev")
    dev.configure(nb_channel=nb_channel, sample_interval=1 / rate, chunksize=50, buffer=data)
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    dev.initialize()
    viewer = QTriggeredOscilloscope(name="trig")
    viewer.configure(with_user_dialog=False)
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.resize(1600, 1000)
    viewer.show()
    viewer.trigger.params["threshold"] = 1.0
    acc = viewer.triggeraccumulator
    acc.params.update(stack_size=stack, left_sweep=-0.2, right_sweep=0.5)
    dev.start()
    viewer.start()
    deadline = time.monotonic() + 60
    while acc.total_trig < stack + 10 and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.005)
    viewer.stop()
    dev.stop()

    def measure(prepare) -> tuple[float, float]:
        refresh, paint = [], []
        for _ in range(7):
            prepare()
            t0 = time.perf_counter()
            viewer.refresh()
            t1 = time.perf_counter()
            viewer.grab()
            refresh.append(t1 - t0)
            paint.append(time.perf_counter() - t1)
        return 1000 * statistics.median(refresh), 1000 * statistics.median(paint)

    key = viewer._layout_key(stack)
    one = measure(lambda: setattr(viewer, "_drawn", (acc.total_trig - 1, key)))
    full = measure(lambda: setattr(viewer, "_drawn", None))
    idle = measure(lambda: None)
    print(
        f"QTriggeredOscilloscope {nb_channel} ch x {stack} sweeps, 1600x1000 (refresh / paint, median ms): "
        f"one new sweep {one[0]:.1f} / {one[1]:.0f}, every sweep {full[0]:.0f} / {full[1]:.0f}, "
        f"nothing new {idle[0]:.2f} / -"
    )
    viewer.close()
    dev.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="QTimeFreq start-ups (default 3)")
    args = parser.parse_args()
    timefreq_startup(args.runs)
    triggered_redraw()


if __name__ == "__main__":
    main()
