"""pyacq's test nodes, written for lslacq's Node API.

``pyacq/core/tests/fakenodes.py`` and the ``_MyTestNode`` types pyacq registers for its tests.

FakeSender and FakeReceiver are paced by ``QTimer`` as pyacq's are, so they
need a Qt event loop: a ``qt=True`` nodegroup, or a local QApplication.
Receivers count what they got, so the tests can assert data flowed.
"""

import numpy as np
from pyqtgraph.Qt import QtCore, QtWidgets

from lslacq.core import Node
from lslacq.viewers import WidgetNode


class NoneRegisteredClass(Node):
    """A node type nobody registered (pyacq's test_register_node_type_from_module)."""

    _needs_qt = False  # its module imports Qt, the node does not use it
    _input_specs: dict = {}
    _output_specs: dict = {}


class _MyTestNode(Node):
    """pyacq's do-nothing node."""

    _needs_qt = False
    _input_specs: dict = {}
    _output_specs: dict = {}


class _MyTestNodeQWidget(WidgetNode):
    """pyacq's do-nothing widget node."""

    _input_specs: dict = {}
    _output_specs: dict = {}

    def _refresh(self):
        pass


class FakeSender(Node):
    """Sends 256 x 16 float32 random samples every ``256 * sample_interval`` s from a QTimer."""

    _output_specs = {"signals": {}}

    def _configure(self, sample_interval=0.001):
        self.sample_interval = sample_interval

    def check_output_specs(self):
        spec = self.outputs["signals"].params
        if len(spec["shape"]) != 2 or spec["shape"][1] != 16:
            raise ValueError(f"FakeSender sends (n, 16) chunks; output shape is {spec['shape']}")

    def _initialize(self):
        self.n = 0
        self.timer = QtCore.QTimer(singleShot=False, interval=int(256 * self.sample_interval * 1000))
        self.timer.timeout.connect(self.send_data)

    def _start(self):
        self.timer.start()

    def _stop(self):
        self.timer.stop()

    def send_data(self):
        self.n += 256
        self.outputs["signals"].send(np.random.default_rng().random((256, 16)).astype("float32"), index=self.n)


class FakeReceiver(Node):
    """Polls its input from a QTimer every 50 ms; counts chunks and keeps the last index."""

    _input_specs = {"signals": {}}

    def _configure(self, **kargs):
        self.n_chunks = 0
        self.last_index = 0

    def _initialize(self):
        self.timer = QtCore.QTimer(singleShot=False)
        self.timer.setInterval(50)
        self.timer.timeout.connect(self.poll_socket)

    def _start(self):
        self.timer.start()

    def _stop(self):
        self.timer.stop()

    def poll_socket(self):
        # pyacq polls ``inputs['signals'].socket``; lslacq's InputStream.poll is the public way
        while self.inputs["signals"].poll(0):
            index, _data = self.inputs["signals"].recv()
            self.n_chunks += 1
            self.last_index = index

    def received(self):
        return self.n_chunks, self.last_index


class ReceiverWidget(WidgetNode):
    """A QLabel showing the last received index and chunk shape."""

    _input_specs = {"signals": {}}

    def __init__(self, tag="label", **kargs):
        WidgetNode.__init__(self, **kargs)
        self.tag = tag
        self.label = QtWidgets.QLabel()
        layout = QtWidgets.QHBoxLayout()
        layout.addWidget(self.label)
        self.setLayout(layout)
        self.n_chunks = 0

    def _configure(self, **kargs):
        pass

    def _initialize(self):
        self.timer = QtCore.QTimer(singleShot=False)
        self.timer.setInterval(50)
        self.timer.timeout.connect(self.poll_socket)

    def _start(self):
        self.timer.start()

    def _stop(self):
        self.timer.stop()

    def _refresh(self):
        pass

    def poll_socket(self):
        while self.inputs["signals"].poll(0):
            index, data = self.inputs["signals"].recv()
            self.n_chunks += 1
            self.label.setText(f"{self.name}  {self.tag}   Recv: {index} {data.shape}")

    def label_text(self):
        return self.label.text()
