"""QTimeFreq, ImageViewer and QDigitalOscilloscope open and draw under PySide6 too.

Their other tests run in-process under PyQt5, the users' binding. A closed QTimeFreq collected later, from another
thread, does not crash the process.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

# the script imports tests/helpers.py
_TESTS_ON_PATH = os.pathsep.join(
    p for p in (os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.environ.get("PYTHONPATH")) if p
)

SCRIPT = r"""
import gc
import threading
import weakref
import numpy as np
from helpers import wait_until
from lslacq.core.stream import OutputStream
from lslacq.viewers import ImageViewer, QDigitalOscilloscope, QTimeFreq
from lslacq.viewers._qt import QT_LIB, QtCore, mkQApp, pg
from lslacq.viewers.widgetnode import delete_closed_widgets

app = mkQApp()

def pump(condition):
    wait_until(condition, timeout=30, interval=0.005, each=app.processEvents)

# QTimeFreq: a 20 Hz sine, maps computed in worker threads and drawn through a Qt signal
sig = OutputStream(name="sig")
sig.configure(protocol="tcp", dtype="float32", shape=(-1, 1), sample_rate=500.0)
tf = QTimeFreq(name="tf")
tf.configure(with_user_dialog=False, max_xsize=3.0)
tf.input.connect(sig)
tf.initialize()
tf.params["xsize"] = 2.0
tf.params["timefreq", "f_stop"] = 60.0
pump(lambda: not tf._rebuild_pending and tf.freqs.max() < 60)
tf.show()
tf.start()
sig.send(np.sin(2 * np.pi * 20 * np.arange(1500) / 500.0).astype("float32")[:, None], index=1500)
pump(lambda: tf.head == 1500 and tf.workers[0].head == 1500)
for _ in range(2):  # a timer map asked for before the data arrived can be drawn after the first refresh
    drawn = tf.maps_drawn
    tf.refresh()
    pump(lambda: tf.maps_drawn > drawn)
peak = tf.freqs[int(np.argmax(tf.images[0].image[len(tf.times) // 2]))]
tf_timers = tf.findChildren(QtCore.QTimer)
tf.close()
tf_ref = weakref.ref(tf)
del tf
collector = threading.Thread(target=gc.collect)  # Python's gc may collect the closed viewer in any thread
collector.start()
collector.join(30)
delete_closed_widgets()  # Qt deletes it in this (GUI) thread, as the event loop would
gc.collect()
tf_deleted = tf_ref() is None and bool(tf_timers) and not any(pg.Qt.isQObjectAlive(t) for t in tf_timers)
sig.close()

# ImageViewer: a red frame
video = OutputStream(name="video")
video.configure(protocol="tcp", streamtype="image/video", dtype="uint8", shape=(-1, 30, 40, 3), sample_rate=30.0)
iv = ImageViewer(name="iv")
iv.configure()
iv.input.connect(video)
iv.initialize()
iv.resize(200, 150)
iv.show()
iv.start()
frame = np.zeros((1, 30, 40, 3), np.uint8)
frame[..., 0] = 255
video.send(frame)
pump(lambda: iv.counters()["last_index"] == 1)
iv.refresh()
image = iv.grab_array()
red = int(((image[..., 0] > 200) & (image[..., 1] < 50)).sum())
iv.close()
video.close()

# QDigitalOscilloscope: 8 bits, 8 rows
ttl = OutputStream(name="ttl")
ttl.configure(protocol="tcp", dtype="uint8", shape=(-1, 1), sample_rate=1000.0)
dig = QDigitalOscilloscope(name="dig")
dig.configure(with_user_dialog=False)
dig.input.connect(ttl)
dig.initialize()
dig.show()
dig.start()
ttl.send(np.full((500, 1), 0b1010, np.uint8), index=500)
pump(lambda: dig.counters()["last_index"] == 500)
dig.refresh()
dig.grab_array()
offsets = [dig.by_channel_params[c, "offset"] for c in range(dig.nb_channel)]
dig.close()
ttl.close()
print(QT_LIB, tf_deleted, peak, red, dig.nb_channel, offsets[0], offsets[-1])
"""


@pytest.mark.slow
@pytest.mark.parametrize("binding", ["PySide6"])
def test_image_viewers_open_and_draw(binding):
    if importlib.util.find_spec(binding) is None:
        pytest.skip(f"{binding} is not installed")
    version = subprocess.run(
        [sys.executable, "-c", "import PySide6; print(PySide6.__version__)"], capture_output=True, text=True, timeout=60
    ).stdout.strip()
    if version.startswith("6.12.") and sys.version_info < (3, 12):
        # its Signal.disconnect drops a reference to True per call: Python may abort at exit (see
        # docs/viewers.md); the test extra excludes that version
        pytest.skip(f"PySide6 {version} on Python < 3.12 aborts at random (bool_dealloc)")
    env = dict(os.environ, PYQTGRAPH_QT_LIB=binding, QT_QPA_PLATFORM="offscreen", PYTHONPATH=_TESTS_ON_PATH)
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    lib, tf_deleted, peak, red, nb_channel, top, bottom = run.stdout.split()[-7:]
    assert lib == binding
    # the closed QTimeFreq, collected by a gc run in another thread, was deleted by Qt in the GUI thread
    assert tf_deleted == "True" and "from another thread" not in run.stderr, run.stderr
    assert float(peak) == 21.0  # the QTimeFreq row nearest 20 Hz (3, 6, ... 57 Hz)
    assert int(red) > 1000  # the red frame fills the ImageViewer
    assert int(nb_channel) == 8 and float(top) == 7.0 and float(bottom) == 0.0
