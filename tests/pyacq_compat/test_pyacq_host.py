"""pyacq's ``pyacq/core/tests/test_host.py``, renamed to lslacq."""

from __future__ import annotations

import pytest

from lslacq.core.host import Host


@pytest.mark.slow
def test_host1():
    p1, host1 = Host.spawn("host1")
    p2, host2 = Host.spawn("host2")
    try:
        host1.create_nodegroup("ng1")
        host1.create_nodegroup("ng2")
        host2.create_nodegroup("ng3")
        host2.create_nodegroup("ng4")
        assert len(host1.spawners) == 2
        host1.close_all_nodegroups()
        assert len(host1.spawners) == 0
        host2.close_all_nodegroups()
        assert len(host2.spawners) == 0
    finally:
        p1.stop()
        p2.stop()
