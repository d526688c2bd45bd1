"""pyacq's ``pyacq/core/tests/test_nodegroup.py``, renamed to lslacq.

pyacq registers its test node types ``_MyTestNode`` and ``_MyTestNodeQWidget``
inside the package; here they come from ``pyacq_fakenodes`` and are
registered by module, as pyacq's own test does for NoneRegisteredClass.
"""

from __future__ import annotations

import pytest

from lslacq import create_manager
from lslacq.core.host import Host


@pytest.mark.slow
def test_nodegroup0():
    proc, host = Host.spawn("host1")
    try:
        # the widget node needs a Qt nodegroup (docs/porting.md, "Processes")
        ng = host.create_nodegroup("nodegroup", qt=True)
        ng.register_node_type_from_module("pyacq_fakenodes", "_MyTestNode")
        ng.register_node_type_from_module("pyacq_fakenodes", "_MyTestNodeQWidget")
        n = 5
        nodes = [ng.create_node("_MyTestNode", name=f"mynode{i}") for i in range(n)]
        for node in nodes:
            node.configure()
        for node in nodes:
            node.initialize()
        for node in nodes:
            node.start()
        # pyacq: removing a running node raises RemoteCallException. lslacq's
        # remove_node stops and closes it first (docs/porting.md, "remove_node")
        ng.remove_node(nodes[0])
        assert not nodes[0].running() and nodes[0].closed()
        assert nodes[0] not in ng.list_nodes()
        nodes = nodes[1:]
        for node in nodes:
            node.stop()
        # a QWidget node is shown in the nodegroup's process
        qt_node = ng.create_node("_MyTestNodeQWidget", name="myqtnode")
        qt_node.show()
        assert qt_node.isVisible()
        for node in nodes:
            ng.remove_node(node)
        assert ng.list_nodes() == [qt_node]
        ng.close()
    finally:
        proc.stop()


@pytest.mark.slow
def test_register_node_type_from_module():
    man = create_manager(auto_close_at_exit=False)
    try:
        nodegroup = man.create_nodegroup("nodegroup")
        nodegroup.register_node_type_from_module("pyacq_fakenodes", "NoneRegisteredClass")
        node = nodegroup.create_node("NoneRegisteredClass")
        assert "NoneRegisteredClass" in node._type_str or node.__class__.__name__ == "ObjectProxy"
    finally:
        man.close()
