"""Two `lslacq host` servers on different loopback addresses, a stream crossing between them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import psutil
import pytest
from helpers import loopback_alias_usable, wait_until
from helpers import start_host as _start_host
from helpers import stop_host as _stop_host

from lslacq.core import create_manager
from lslacq.core.stream import InputStream

pytestmark = pytest.mark.skipif(
    not loopback_alias_usable("127.0.0.2"), reason="this system cannot bind 127.0.0.2 (no 127/8 loopback aliases)"
)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _processes_with(marker: str) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("LSLACQ_TEST_MARKER") == marker and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


@pytest.mark.slow
def test_two_hosts_stream_crossing():
    marker = uuid.uuid4().hex
    env = dict(os.environ, LSLACQ_TEST_MARKER=marker)
    host_a, addr_a = _start_host("127.0.0.2", env)
    host_b, addr_b = _start_host("127.0.0.3", env)
    man = create_manager("rpc", auto_close_at_exit=False)
    local = InputStream()
    try:
        ha = man.add_host(addr_a)
        hb = man.get_host(addr_b)
        assert man.get_host(addr_a) == ha and hb != ha
        assert len(man.list_hosts()) == 3  # default + 2
        ng_a = man.create_nodegroup("acq", host=ha)
        ng_b = man.create_nodegroup("proc", host=addr_b)
        # the manual's spellings: manager.create_nodegroup(host) (3.3), host.create_nodegroup() (1.1)
        extra = man.create_nodegroup(ha)
        assert extra._rpc_addr.startswith("tcp://127.0.0.2:") and extra.list_node_types()
        unmanaged = ha.create_nodegroup()
        assert unmanaged.list_nodes() == []
        ha.close_nodegroup(unmanaged)
        assert ng_a._rpc_addr.startswith("tcp://127.0.0.2:") and ng_b._rpc_addr.startswith("tcp://127.0.0.3:")

        dev = ng_a.create_node("NumpyDeviceBuffer", name="dev")
        data = np.arange(900, dtype="float32").reshape(300, 3)
        dev.configure(nb_channel=3, sample_interval=0.001, chunksize=30, buffer=data)
        dev.output.configure(protocol="tcp", interface="127.0.0.2", transfermode="plaindata")
        dev.initialize()
        conv = ng_b.create_node("StreamConverter", name="conv")
        conv.configure()
        conv.input.connect(dev.output)  # host B's process reads host A's output
        conv.output.configure(protocol="tcp", interface="127.0.0.3", transfermode="plaindata")
        conv.initialize()
        local.connect(conv.output)
        man.start_all()
        chunks = [local.recv(timeout=20_000)[1] for _ in range(3)]
        np.testing.assert_array_equal(np.concatenate(chunks), data[:90])
        man.stop_all()

        # a nodegroup dying on a remote host is reported to the manager by that host
        pid_b = ng_b._client()._import("os").getpid()
        os.kill(pid_b, signal.SIGKILL)

        def states():
            return {d["name"]: d["state"] for d in man.list_nodegroups(details=True)}

        wait_until(lambda: states()["proc"] == "dead", timeout=10, what="the remote nodegroup reported dead")
        assert states() == {"acq": "running", "proc": "dead", "nodegroup0": "running"}
    finally:
        local.close()
        man.close()
        codes = [_stop_host(host_a), _stop_host(host_b)]
    assert codes == [0, 0]
    wait_until(lambda: _processes_with(marker) == [], timeout=10, what="no process left behind")


@pytest.mark.slow
def test_curve_host_manager_and_log_server_on_all_interfaces(tmp_path, caplog):
    """Non-loopback everything: host, manager, nodegroups and log server authenticate with CurveZMQ."""
    import logging

    from lslacq.core.rpc import security

    keys = tmp_path / "keys"
    security.create_keys(keys, "lab")
    secret = keys / "lab.key_secret"
    marker = uuid.uuid4().hex
    env = dict(os.environ, LSLACQ_TEST_MARKER=marker)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lslacq.cli",
            "host",
            "tcp://0.0.0.0:*",
            "--key",
            str(secret),
            "--authorized-keys",
            str(keys),
            "--manager-timeout",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()
    assert "CurveZMQ public key" in line, line
    addr = line.split("serving at ")[1].split()[0]
    host_key = line.rsplit("public key ", 1)[1][:40]  # Z85: 40 characters, ')' among them (no strip)
    assert not addr.startswith("tcp://0.0.0.0")
    man = None
    try:
        man = create_manager(
            "rpc",
            auto_close_at_exit=False,
            address="tcp://0.0.0.0:*",
            log_address="tcp://0.0.0.0:*",
            secret_key=secret,
            authorized_keys=keys,
        )
        assert man._server_key  # the manager process itself is Curve-protected
        host = man.add_host(addr, server_key=host_key)
        ng = man.create_nodegroup("secure", host=host)
        assert ng._server_key and "NumpyDeviceBuffer" in ng.list_node_types()
        with caplog.at_level(logging.WARNING):
            ng._client()._import("logging").getLogger("curve.test").warning("hello over curve %s", marker)
            wait_until(
                lambda: f"hello over curve {marker}" in caplog.text,
                timeout=10,
                what="the nodegroup's log record over CurveZMQ",
            )
        # the host's liveness pings reach the Curve-protected manager: the nodegroup outlives
        # several manager timeouts (1 s here) while we keep using it
        start = time.monotonic()
        while time.monotonic() - start < 2.5:
            assert ng.health(_timeout=5)["nodes"] == {}
            time.sleep(0.1)
        assert [d["state"] for d in man.list_nodegroups(details=True)] == ["running"]
    finally:
        if man is not None:
            man.close()
        security.set_default_keys(None, None)
        assert _stop_host(proc) == 0
    wait_until(lambda: _processes_with(marker) == [], timeout=10, what="no process left behind")


@pytest.mark.slow
def test_host_closes_nodegroups_of_a_dead_manager():
    marker = uuid.uuid4().hex
    env = dict(os.environ, LSLACQ_TEST_MARKER=marker)
    host_proc, addr = _start_host("127.0.0.2", env, extra=("--orphan-timeout", "2"))
    man = create_manager("rpc", auto_close_at_exit=False)
    try:
        host = man.add_host(addr)
        ng = man.create_nodegroup("left-behind", host=host)
        ng_pid = ng._client()._import("os").getpid()
        os.kill(man._lslacq_state["spawner"].pid, signal.SIGKILL)
        wait_until(lambda: _gone(ng_pid), timeout=30, what="the orphaned nodegroup to end")
        assert host_proc.poll() is None  # the host itself keeps serving
    finally:
        man.close()
        assert _stop_host(host_proc) == 0


@pytest.mark.slow
def test_local_manager_stays_reachable_for_remote_hosts():
    """A 'local' manager answers the host's liveness pings even while this thread does not call RPC."""
    marker = uuid.uuid4().hex
    env = dict(os.environ, LSLACQ_TEST_MARKER=marker)
    host_proc = subprocess.Popen(
        [sys.executable, "-m", "lslacq.cli", "host", "tcp://127.0.0.2:*", "--manager-timeout", "1"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    addr = host_proc.stdout.readline().split("serving at ")[1].split()[0]
    man = create_manager("local", auto_close_at_exit=False)
    try:
        ng = man.create_nodegroup("remote", host=addr)
        pid = ng._client()._import("os").getpid()
        # this thread makes no RPC call for several manager timeouts
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert psutil.pid_exists(pid)
            time.sleep(0.1)
        assert ng.list_nodes() == []
        os.kill(pid, signal.SIGKILL)  # and the host's death report reaches the local manager
        wait_until(
            lambda: man.list_nodegroups(details=True)[0]["state"] == "dead", timeout=10, what="the host's death report"
        )
    finally:
        man.close()
        assert _stop_host(host_proc) == 0
