"""A Node that is also a Qt widget (like the viewers), for the qt nodegroup test."""

from PySide6 import QtWidgets

from lslacq.core import Node


class LabelNode(QtWidgets.QLabel, Node):
    _input_specs: dict = {}
    _output_specs: dict = {}

    def __init__(self, **kwargs):
        QtWidgets.QLabel.__init__(self, "node")
        Node.__init__(self, **kwargs)
