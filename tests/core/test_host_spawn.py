"""pyacq's Host.spawn(): a host server process started from a script."""

import psutil
import pytest
from helpers import wait_until

from lslacq.core.host import Host, HostProcess
from lslacq.core.rpc import ObjectProxy, RPCClient


def _gone(pid, timeout=20.0):
    def gone():
        try:
            return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:  # ended between the two calls
            return True

    return wait_until(gone, timeout=timeout, interval=0.05, what=f"process {pid} to end")


@pytest.mark.slow
def test_pyacq_host_spawn_creates_nodegroups_and_stop_closes_them():
    proc, host = Host.spawn("spawned-host")
    try:
        assert isinstance(proc, HostProcess) and isinstance(host, ObjectProxy)
        assert proc.pid != psutil.Process().pid
        # published as 'host', where Manager.get_host(address) looks for it
        client = RPCClient.get_client(proc.address)
        assert client["host"] == host
        ng = host.create_nodegroup("ng0")
        assert ng.list_nodes() == []
        pids = host.nodegroup_pids()
        assert list(pids) == ["ng0"]
        ng_pid = pids["ng0"]
        assert psutil.Process(ng_pid).ppid() == proc.pid  # the nodegroup runs under the host process
    finally:
        code = proc.stop()
    assert code == 0
    assert _gone(ng_pid)
