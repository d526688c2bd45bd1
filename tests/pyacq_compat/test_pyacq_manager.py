"""pyacq's ``pyacq/core/tests/test_manager.py``, renamed to lslacq."""

from __future__ import annotations

import pytest
from helpers import wait_until

from lslacq.core import create_manager
from lslacq.core.host import Host


@pytest.mark.slow
def test_manager():
    mgr = create_manager("rpc", auto_close_at_exit=False)
    host_proc, host = Host.spawn("test-host")
    try:
        host_addr = host_proc.client.address
        # connection to the host
        host = mgr.get_host(host_addr)
        # pyacq: == [host]; lslacq also lists the manager's own default host,
        # first (docs/porting.md, "Manager.list_hosts")
        assert mgr.list_hosts()[1:] == [host]
        # nodegroups
        assert mgr.list_nodegroups() == []
        ng1 = mgr.create_nodegroup("nodegroup1", host)
        assert mgr.list_nodegroups() == [ng1]
        assert ng1.list_nodes() == []
        ng1.register_node_type_from_module("pyacq_fakenodes", "_MyTestNode")  # pyacq has it built in
        n1 = ng1.create_node("_MyTestNode")
        assert ng1.list_nodes() == [n1]
        # pyacq's test calls initialize() before configure(); lslacq enforces
        # the documented order (docs/porting.md, "configure() before initialize()")
        n1.configure()
        n1.initialize()
        n1.start()
        n1.stop()
        ng1.remove_node(n1)
        assert ng1.list_nodes() == []
    finally:
        mgr.close()
        host_proc.stop()


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


def create_some_node_group(man, n_groups=5):
    nodegroups, receivers = [], []
    for i in range(n_groups):
        # pyacq's fake nodes are paced by QTimer (docs/porting.md, "Processes")
        nodegroup = man.create_nodegroup(name=f"nodegroup{i}", qt=True)
        nodegroup.register_node_type_from_module("pyacq_fakenodes", "FakeSender")
        nodegroup.register_node_type_from_module("pyacq_fakenodes", "FakeReceiver")
        nodegroups.append(nodegroup)
        sender = nodegroup.create_node("FakeSender", name=f"sender{i}")
        sender.configure()
        sender.outputs["signals"].configure(**STREAM_SPEC)
        sender.initialize()
        for j in range(3):
            receiver = nodegroup.create_node("FakeReceiver", name=f"receiver {i} {j}")
            receiver.configure()
            receiver.input.connect(sender.output)
            receiver.initialize()
            receivers.append(receiver)
    return nodegroups, receivers


@pytest.mark.slow
def test_close_manager_explicit():
    man = create_manager(auto_close_at_exit=False)
    try:
        nodegroups, receivers = create_some_node_group(man)
        for ng in nodegroups:
            ng.start_all_nodes()
        wait_until(lambda: all(r.received()[0] > 0 for r in receivers), 30, 0.1, "data in every receiver")
        for ng in nodegroups:
            ng.stop_all_nodes()
    finally:
        man.close()
