"""pyacq's ``pyacq/core/tests/test_node.py``, renamed to lslacq.

pyacq runs each pair of nodes for a fixed time inside ``app.exec_()``; here the
event loop runs until the receivers got data (asserted), with a timeout.
pyacq's fake nodes are paced by ``QTimer``, so their nodegroups are created
with ``qt=True`` (docs/porting.md, "Processes": lslacq's default is
``qt=False``).
"""

from __future__ import annotations

import pytest

pytest.importorskip("pyqtgraph")

from helpers import wait_until
from pyacq_fakenodes import FakeReceiver, FakeSender, ReceiverWidget

from lslacq import create_manager
from lslacq.viewers._qt import mkQApp

# pyacq's test spells it ``transfertmode``, which pyacq silently ignores; lslacq
# refuses unknown stream parameters (docs/porting.md, "unknown stream parameters")
STREAM_SPEC = {
    "protocol": "tcp",
    "interface": "127.0.0.1",
    "port": "*",
    "transfermode": "plaindata",
    "streamtype": "analogsignal",
    "dtype": "float32",
    "shape": (-1, 16),
    "compression": "",
    "scale": None,
    "offset": None,
    "units": "",
}


def _run_until(app, predicate, timeout=20.0):
    return wait_until(predicate, timeout, what="the receivers' chunks", each=app.processEvents)


def _wait_remote(predicate, timeout=20.0):
    return wait_until(predicate, timeout, 0.05, "the remote receivers' chunks")


@pytest.mark.slow
def test_stream_between_local_nodes():
    app = mkQApp()
    sender = FakeSender()
    sender.configure(sample_interval=0.001)
    sender.outputs["signals"].configure(**STREAM_SPEC)
    sender.initialize()
    receiver = FakeReceiver()
    receiver.configure()
    receiver.inputs["signals"].connect(sender.outputs["signals"])
    receiver.initialize()
    sender.start()
    receiver.start()
    try:
        assert _run_until(app, lambda: receiver.n_chunks >= 3)
    finally:
        sender.stop()
        receiver.stop()
        receiver.close()
        sender.close()
    assert receiver.last_index % 256 == 0 and receiver.last_index >= 3 * 256


@pytest.mark.slow
def test_stream_between_remote_nodes():
    man = create_manager(auto_close_at_exit=False)
    try:
        nodegroup = man.create_nodegroup("nodegroup", qt=True)
        nodegroup.register_node_type_from_module("pyacq_fakenodes", "FakeSender")
        nodegroup.register_node_type_from_module("pyacq_fakenodes", "FakeReceiver")
        sender = nodegroup.create_node("FakeSender", name="sender")
        sender.configure(sample_interval=0.001)
        sender.outputs["signals"].configure(**STREAM_SPEC)
        sender.initialize()
        receiver = nodegroup.create_node("FakeReceiver", name="receiver")
        receiver.configure()
        receiver.inputs["signals"].connect(sender.outputs["signals"])
        receiver.initialize()
        sender.start()
        receiver.start()
        assert nodegroup.any_node_running()
        assert _wait_remote(lambda: receiver.received()[0] >= 3)
        sender.stop()
        receiver.stop()
        assert not nodegroup.any_node_running()
    finally:
        man.close()


@pytest.mark.slow
def test_stream_between_local_and_remote_nodes():
    man = create_manager(auto_close_at_exit=False)
    receiver = None
    try:
        nodegroup = man.create_nodegroup("nodegroup", qt=True)
        nodegroup.register_node_type_from_module("pyacq_fakenodes", "FakeSender")
        sender = nodegroup.create_node("FakeSender", name="sender")
        sender.configure(sample_interval=0.001)
        sender.output.configure(**STREAM_SPEC)
        sender.initialize()
        app = mkQApp()
        receiver = FakeReceiver()
        receiver.configure()
        receiver.input.connect(sender.output)
        receiver.initialize()
        sender.start()
        receiver.start()
        assert _run_until(app, lambda: receiver.n_chunks >= 3)
        sender.stop()
        receiver.stop()
    finally:
        if receiver is not None:
            receiver.close()
        man.close()


@pytest.mark.slow
def test_visual_node_both_in_main_qapp_and_remote_qapp():
    man = create_manager(auto_close_at_exit=False)
    receiver1 = None
    try:
        nodegroup = man.create_nodegroup("nodegroup", qt=True)
        nodegroup.register_node_type_from_module("pyacq_fakenodes", "FakeSender")
        nodegroup.register_node_type_from_module("pyacq_fakenodes", "ReceiverWidget")
        sender = nodegroup.create_node("FakeSender", name="sender")
        sender.configure(sample_interval=0.001)
        sender.output.configure(**STREAM_SPEC)
        sender.initialize()
        # receiver0 is in the remote QApplication (the nodegroup's)
        receiver0 = nodegroup.create_node("ReceiverWidget", name="receiver0", tag="<b>I am in distant QApp</b>")
        receiver0.configure()
        receiver0.input.connect(sender.output)
        receiver0.initialize()
        receiver0.show()
        # receiver1 is in this process's QApplication
        app = mkQApp()
        receiver1 = ReceiverWidget(name="receiver1", tag="<b>I am in local QApp</b>")
        receiver1.configure()
        receiver1.input.connect(sender.output)
        receiver1.initialize()
        receiver1.show()
        sender.start()
        receiver0.start()
        receiver1.start()
        assert nodegroup.any_node_running()
        assert _run_until(app, lambda: receiver1.n_chunks >= 2)
        assert _wait_remote(lambda: "Recv:" in receiver0.label_text())
        assert "I am in distant QApp" in receiver0.label_text()
        assert "I am in local QApp" in receiver1.label.text() and "(256, 16)" in receiver1.label.text()
        sender.stop()
        receiver0.stop()
        receiver1.stop()
        receiver0.close()
    finally:
        if receiver1 is not None:
            receiver1.close()
        man.close()
