"""A Node that is also a Qt widget (like the viewers), for the qt nodegroup test."""

from lslacq.core import Node
from lslacq.core.rpc.qt import qt_modules

_, QtWidgets = qt_modules()  # the binding a Qt nodegroup uses


class LabelNode(QtWidgets.QLabel, Node):
    _input_specs: dict = {}
    _output_specs: dict = {}

    def __init__(self, **kwargs):
        QtWidgets.QLabel.__init__(self, "node")
        Node.__init__(self, **kwargs)
