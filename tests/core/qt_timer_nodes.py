"""A pyacq-style node paced by a QTimer (manual 6.2): it needs a Qt event loop in its process."""

import numpy as np
from pyqtgraph.Qt import QtCore

from lslacq.core import Node


class TimerNoise(Node):
    _output_specs = {"signals": dict(streamtype="analogsignal", dtype="float32", shape=(-1, 2), sample_rate=1000.0)}

    def _configure(self):
        self.head = 0

    def _initialize(self):
        self.timer = QtCore.QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self.send_data)

    def _start(self):
        self.timer.start()

    def _stop(self):
        self.timer.stop()

    def send_data(self):
        self.head += 10
        self.output.send(np.ones((10, 2), "float32"), index=self.head)


class PlainNode(Node):
    """Declares that it needs no Qt although its module imports it."""

    _needs_qt = False
