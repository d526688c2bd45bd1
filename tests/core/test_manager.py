"""Manager / Host / NodeGroup: the manual's chapters 2.4 and 3, supervision, no process left behind."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import psutil
import pytest
from helpers import wait_until

from lslacq.core import create_manager
from lslacq.core.rpc import ObjectProxy
from lslacq.core.stream import InputStream
from lslacq.errors import RemoteCallError

HERE = Path(__file__).parent


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _configure_device(dev, nb_channel=3):
    data = np.arange(600 * nb_channel, dtype="float32").reshape(600, nb_channel)
    dev.configure(nb_channel=nb_channel, sample_interval=0.001, chunksize=20, buffer=data)
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    dev.initialize()
    return data


@pytest.fixture
def manager():
    man = create_manager("rpc", auto_close_at_exit=False)
    yield man
    man.close()


@pytest.mark.slow
def test_add_host_with_nothing_listening_names_that_address_and_lslacq_host(manager):
    """The error names the address asked for (not the manager's own) and the command that starts a host."""
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        addr = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    t0 = time.monotonic()
    with pytest.raises(Exception, match="no lslacq host answers") as info:
        manager.add_host(addr, timeout=1.0)
    assert time.monotonic() - t0 < 8  # the timeout asked for, not the RPC default
    message = str(info.value)
    assert f"at {addr}" in message and f"lslacq host {addr}" in message, message
    assert isinstance(info.value, TimeoutError) or "TimeoutError" in message, type(info.value)


@pytest.mark.slow
def test_manual_intro_and_remote_nodes(manager):
    """Manual 1.1 / 2.1 / 2.4: nodes created remotely behave like local ones; data crosses processes."""
    assert isinstance(manager, ObjectProxy)
    nodegroup = manager.default_nodegroup
    dev = nodegroup.create_node("NumpyDeviceBuffer", name="dev0")
    data = _configure_device(dev)
    local = InputStream()
    local.connect(dev.output)
    future = dev.start(_sync="async")
    assert future.result(10) is None
    try:
        assert dev.running()
        assert nodegroup.any_node_running()
        assert local.poll(5000)
        index, chunk = local.recv()
        assert index == 20
        np.testing.assert_array_equal(chunk, data[:20])
    finally:
        manager.stop_all()
        local.close()
    assert not nodegroup.any_node_running()
    # manager.create_node on a chosen nodegroup (manual 1.1)
    worker = manager.create_nodegroup("worker")
    conv = manager.create_node("StreamConverter", host=worker)
    assert worker.list_nodes() == [conv]
    assert set(manager.list_nodegroups()) == {nodegroup, worker}


@pytest.mark.slow
def test_nodegroup_api(manager):
    nodegroup = manager.create_nodegroup(name="api")
    types = nodegroup.list_node_types()
    assert {"NumpyDeviceBuffer", "StreamConverter"} <= set(types)  # entry-point plugins included
    with pytest.raises(RemoteCallError, match="unknown node type 'NoSuchNode'"):
        nodegroup.create_node("NoSuchNode")
    # manual 3.4: register a custom class by module and name in the remote process
    nodegroup.register_node_type_from_module("manager_nodes", "PidNode")
    assert "PidNode" in nodegroup.list_node_types()
    node = nodegroup.create_node("PidNode", name="p")
    node.configure(factor=2)
    remote_pid = node.pid_times_factor() // 2
    assert remote_pid != os.getpid()
    dev = nodegroup.create_node("NumpyDeviceBuffer")
    _configure_device(dev)
    nodegroup.start_all_nodes()
    assert dev.running() and nodegroup.any_node_running()
    nodegroup.stop_all_nodes()
    assert not nodegroup.any_node_running()
    nodegroup.remove_node(node)
    assert nodegroup.list_nodes() == [dev]
    with pytest.raises(RemoteCallError, match="has no node"):
        nodegroup.remove_node(node)
    info = manager.get_logger_info()
    assert info["log_addr"].startswith("tcp://127.0.0.1:")
    assert manager.list_hosts()[0]._type_str.endswith("Host'>")
    with pytest.raises(RemoteCallError, match="already exists"):
        manager.create_nodegroup(name="api")
    with pytest.raises(RemoteCallError, match="no_such_python"):
        manager.create_nodegroup(name="broken", executable="/nonexistent/no_such_python")
    assert [d["name"] for d in manager.list_nodegroups(details=True)] == ["api"]


@pytest.mark.slow
def test_node_failure_reaches_proxy_health_and_log_once(manager, caplog):
    """The failure/counters contract across processes: proxy values, manager health, one log record."""
    nodegroup = manager.create_nodegroup(name="contract")
    nodegroup.register_node_type_from_module("manager_nodes", "PidNode")
    node = nodegroup.create_node("PidNode", name="amp")
    assert node.error is None
    counters = node.counters()
    assert isinstance(counters, dict) and counters["samples_out"] == 0 and counters["latency"] is None
    entry = next(iter(manager.health()["contract"]["nodes"].values()))
    assert entry == {"type": "PidNode", "state": "created", "error": None, "counters": counters, "readers": {}}
    with caplog.at_level(logging.ERROR):
        node.fail_in_thread()
        node.fail_in_thread("second failure")  # first failure wins, no second record
        entry = next(iter(manager.health()["contract"]["nodes"].values()))
        assert entry["error"] == "RuntimeError: amplifier disconnected"
        # node.error through the proxy is the exception by value (not a proxy of it), with its remote traceback
        error = node.error
        assert isinstance(error, RemoteCallError) and not isinstance(error, ObjectProxy)
        assert (error.remote_type, error.remote_message) == ("RuntimeError", "amplifier disconnected")
        assert any("fail_in_thread" in line or "work" in line for line in error.remote_traceback)
        wait_until(
            lambda: "node 'amp' (PidNode) failed while reading the amplifier" in caplog.text,
            what="the node's failure record",
        )
        time.sleep(0.3)  # let a (wrong) second record arrive
    records = [r for r in caplog.records if "node 'amp'" in r.getMessage()]
    assert len(records) == 1 and "second failure" not in caplog.text


@pytest.mark.slow
def test_qt_timer_node_needs_a_qt_nodegroup(manager):
    """create_nodegroup() is Qt-free by default.

    A QTimer-paced (pyacq-style) node gets a clear error there, not silence (it would send nothing).
    """
    plain = manager.create_nodegroup("plain")
    plain.register_node_type_from_module("qt_timer_nodes", "TimerNoise")
    with pytest.raises(RemoteCallError, match="TimerNoise needs Qt .*QtCore.*qt=True"):
        plain.create_node("TimerNoise")
    plain.register_node_type_from_module("qt_timer_nodes", "PlainNode")
    plain.create_node("PlainNode")  # _needs_qt = False: accepted


@pytest.mark.slow
def test_qt_timer_node_runs_in_a_qt_nodegroup(manager):
    gui = manager.create_nodegroup("gui", qt=True)
    gui.register_node_type_from_module("qt_timer_nodes", "TimerNoise")
    node = gui.create_node("TimerNoise")
    node.configure()
    node.output.configure(protocol="tcp", interface="127.0.0.1")
    node.initialize()
    local = InputStream()
    local.connect(node.output)
    try:
        node.start()
        index = 0
        while index < 50:
            index, _ = local.recv(timeout=20_000)
        node.stop()
    finally:
        local.close()


@pytest.mark.slow
def test_dead_nodegroup_is_reported_and_the_graph_keeps_running(manager, caplog):
    """Supervision: a killed nodegroup is reported (state + log record); the others keep streaming."""
    survivor = manager.create_nodegroup("survivor")
    victim = manager.create_nodegroup("victim")
    dev = survivor.create_node("NumpyDeviceBuffer")
    _configure_device(dev)
    local = InputStream()
    local.connect(dev.output)
    dev.start()
    try:
        pid = victim._client()._import("os").getpid()
        os.kill(pid, signal.SIGKILL)

        def states():
            return {d["name"]: (d["state"], d["exit_code"]) for d in manager.list_nodegroups(details=True)}

        with caplog.at_level(logging.ERROR):
            wait_until(lambda: states()["victim"][0] == "dead", timeout=10, what="the victim reported dead")
            assert states()["victim"] == ("dead", -signal.SIGKILL)
            assert states()["survivor"] == ("running", None)
            assert manager.list_nodegroups() == [survivor]
            health = manager.health()
            assert health["victim"] == {"state": "dead", "exit_code": -signal.SIGKILL}
            assert health["survivor"]["state"] == "running" and health["survivor"]["threads"] >= 2
            assert [n["state"] for n in health["survivor"]["nodes"].values()] == ["running"]
            # the manager's error record reaches this process's log server
            wait_until(
                lambda: "nodegroup victim on host default died" in caplog.text,
                timeout=10,
                what="the manager's error record",
            )
        # the rest of the graph still streams
        for _ in range(5):
            local.recv(timeout=10_000)
        victim._set_proxy_options(timeout=30)
        started = time.monotonic()
        with pytest.raises(RemoteCallError, match="lost the connection"):  # its server is gone: no hang
            victim.list_nodes()
        assert time.monotonic() - started < 30
    finally:
        dev.stop()
        local.close()


@pytest.mark.slow
def test_close_leaves_no_process():
    man = create_manager("rpc", auto_close_at_exit=False)
    a = man.create_nodegroup("a")
    man.create_nodegroup("b")
    pids = list(man.default_host.nodegroup_pids().values())
    manager_pid = man._lslacq_state["spawner"].pid
    assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
    a.create_node("NumpyDeviceBuffer")
    man.close()
    for p in pids + [manager_pid]:
        wait_until(lambda p=p: _gone(p), timeout=10, what=f"process {p} to end")
    man.close()  # idempotent


@pytest.mark.slow
def test_killed_manager_takes_its_nodegroups_down():
    man = create_manager("rpc", auto_close_at_exit=False)
    try:
        man.create_nodegroup("orphan-candidate")
        pids = list(man.default_host.nodegroup_pids().values())
        os.kill(man._lslacq_state["spawner"].pid, signal.SIGKILL)
        for p in pids:
            wait_until(lambda p=p: _gone(p), timeout=15, what=f"process {p} to end")
    finally:
        man.close()


@pytest.mark.slow
def test_local_mode():
    man = create_manager("local", auto_close_at_exit=False)
    try:
        assert not isinstance(man, ObjectProxy)
        ng = man.create_nodegroup("local-ng")
        assert ng.list_node_types()
        pid = man.default_host.nodegroup_pids()["local-ng"]
        os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: man.list_nodegroups(details=True)[0]["state"] == "dead",
            timeout=10,
            what="the nodegroup reported dead",
        )
    finally:
        man.close()
    from lslacq.core.rpc import RPCServer

    assert RPCServer.get_server() is None


@pytest.mark.slow
def test_manual_raw_json_client_example():
    """Manual 6.9 runs unchanged (apart from the package name); nothing survives the script."""
    marker = uuid.uuid4().hex
    env = dict(os.environ, LSLACQ_TEST_MARKER=marker)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE)] + [p for p in sys.path if p])
    result = subprocess.run(
        [sys.executable, str(HERE / "manual" / "rpc_custom_client.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Available node types:" in result.stdout and "NumpyDeviceBuffer" in result.stdout
    assert '"___type_name___": "proxy"' in result.stdout

    def leftovers():
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if proc.environ().get("LSLACQ_TEST_MARKER") == marker and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return found

    wait_until(lambda: not leftovers(), timeout=10, what="no leftover processes or sockets")


@pytest.mark.slow
def test_remote_nodegroup_example():
    script = HERE.parents[1] / "examples" / "remote_nodegroup.py"
    run = subprocess.run(
        [sys.executable, str(script), "--duration", "2.5"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "received up to sample 50: (50, 7) float64" in run.stdout
    assert "nodegroup acquisition: running" in run.stdout


@pytest.mark.slow
def test_repeated_managers_leak_no_sockets_or_processes():
    import gc

    me = psutil.Process()

    def cycle():
        man = create_manager("rpc", auto_close_at_exit=False)
        man.create_nodegroup("a").create_node("NumpyDeviceBuffer")
        man.close()
        gc.collect()
        return me.num_fds()

    after_first = cycle()
    counts = [cycle() for _ in range(3)]
    assert max(counts) <= after_first + 2, (after_first, counts)  # no growth per manager

    def lslacq_child(proc) -> bool:
        try:
            return "lslacq.core.rpc.bootstrap" in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:  # exited meanwhile
            return False

    assert [c for c in me.children(recursive=True) if lslacq_child(c)] == []


_CTRL_C_SCRIPT = """
import time
from lslacq.core import create_manager
man = create_manager()
ng = man.create_nodegroup('worker')
print(ng._client()._import('os').getpid(), flush=True)
time.sleep(60)
"""


@pytest.mark.slow
def test_ctrl_c_in_the_terminal_closes_everything_cleanly():
    """Ctrl-C hits the whole process group: the script's atexit closes the manager; no child crashes first."""
    marker = uuid.uuid4().hex
    env = dict(os.environ, LSLACQ_TEST_MARKER=marker)
    script = subprocess.Popen(
        [sys.executable, "-c", _CTRL_C_SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        ng_pid = int(script.stdout.readline())
        os.killpg(script.pid, signal.SIGINT)  # like Ctrl-C in a terminal
        _, err = script.communicate(timeout=30)
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait(5)
    assert err.count("KeyboardInterrupt") == 1, err  # the script itself was interrupted, no child was...
    assert "manager process did not close cleanly" not in err  # ...and closed its manager normally
    wait_until(lambda: _gone(ng_pid), timeout=10, what="the nodegroup process to end")

    def leftovers():
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if proc.environ().get("LSLACQ_TEST_MARKER") == marker and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return found

    wait_until(lambda: not leftovers(), timeout=10, what="no leftover processes or sockets")
