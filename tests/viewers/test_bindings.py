"""The viewers work under each Qt binding pyqtgraph supports (PyQt5 for users, PySide6 too)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

# the scripts import tests/helpers.py
_TESTS_ON_PATH = os.pathsep.join(
    p for p in (os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.environ.get("PYTHONPATH")) if p
)
SCRIPT = r"""
import numpy as np
from lslacq.core.stream import OutputStream
from lslacq.viewers import QOscilloscope, QTriggeredOscilloscope
from lslacq.viewers._qt import QT_LIB, mkQApp

app = mkQApp()
out = OutputStream(name="src")
out.configure(protocol="tcp", dtype="float32", shape=(-1, 1), sample_rate=1000.0)
viewer = QOscilloscope(name="scope")
viewer.configure(with_user_dialog=True)
viewer.input.connect(out)
viewer.initialize()
viewer.params.update(mode="scroll", xsize=1.0, background_color="k", show_status=False, ylim_min=-10, ylim_max=10)
viewer.by_channel_params[0, "color"] = "#ff0000"
viewer.resize(400, 300)
viewer.show()
viewer.start()
out.send(np.full((1000, 1), 5.0, "float32"))
from helpers import wait_until
wait_until(lambda: viewer.counters()["last_index"] == 1000, timeout=20, what="the samples", each=app.processEvents)
app.processEvents()
viewer.refresh()
image = viewer.grab_array()
red = (image[..., 0] > 200) & (image[..., 1] < 60)
red[:, :image.shape[1] // 2] = False  # the traces, not the name gutter's colour swatch
rows = np.flatnonzero(red.any(axis=1))
viewer.show_params_controller()
trig = QTriggeredOscilloscope(name="trig")
trig.configure()
trig.input.connect(out)
trig.initialize()
trig.close()
viewer.close()
out.close()
print(QT_LIB, len(rows), rows.mean() / image.shape[0] if len(rows) else -1)
"""


@pytest.mark.slow
@pytest.mark.parametrize("binding", ["PyQt5", "PySide6"])
def test_viewer_opens_and_draws(binding):
    if importlib.util.find_spec(binding) is None:
        pytest.skip(f"{binding} is not installed")
    env = dict(os.environ, PYQTGRAPH_QT_LIB=binding, QT_QPA_PLATFORM="offscreen", PYTHONPATH=_TESTS_ON_PATH)
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    lib, n_rows, where = run.stdout.split()[-3:]
    assert lib == binding
    # a constant 5 in [-10, 10] is a horizontal line a quarter of the way down the plot
    assert 0 < int(n_rows) <= 4 and 0.15 < float(where) < 0.35, run.stdout


@pytest.mark.slow
def test_viewers_use_the_binding_whose_qt_runs_even_if_another_was_imported():
    """A QtRPCServer runs PyQt5.

    A PySide6 package imported by something else must not make pyqtgraph (which prefers PySide6 when both are in
    sys.modules) load a second Qt library into the process.
    """
    if importlib.util.find_spec("PySide6") is None or importlib.util.find_spec("PyQt5") is None:
        pytest.skip("needs PyQt5 and PySide6")
    code = (
        "import PySide6, PyQt5.QtCore, sys; import lslacq.viewers._qt as q; "
        "print(q.QT_LIB, 'PySide6.QtCore' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYQTGRAPH_QT_LIB", "QT_API")}
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(env, QT_QPA_PLATFORM="offscreen"),
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[-2:] == ["PyQt5", "False"]
