"""A graph served as a dareplane module: START / STOP_ACQ / CONFIGURE / STATUS over TCP, real lslacq Nodes."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from conftest import DpClient
from helpers import wait_until

from lslacq.core.node import Node
from lslacq_dareplane import GraphModule
from lslacq_dareplane.graph_module import load_factory


class Ticker(Node):
    """A source node: sends a counter chunk every few ms from a thread (no Qt, like every lslacq device)."""

    _output_specs = {"signals": dict(streamtype="analogsignal", dtype="float32", shape=(-1, 1), sample_rate=100.0)}

    def __init__(self, name="", parent=None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        self.n_pushed = 0
        self._thread = None
        self._halt = threading.Event()

    def _configure(self, fail_after: int | None = None):
        self.fail_after = fail_after

    def _start(self):
        self._halt.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-ticker")
        self._thread.start()

    def _run(self):
        while not self._halt.wait(0.005):
            if self.fail_after is not None and self.n_pushed >= self.fail_after:
                self._report_error(RuntimeError("amplifier disconnected"), context="reading the amplifier")
                return
            self.outputs["signals"].send(np.full((1, 1), self.n_pushed, "float32"))
            self.n_pushed += 1

    def _stop(self):
        self._halt.set()
        self._thread.join(10)


class Sink(Node):
    _input_specs = {"signals": {}}

    def __init__(self, name="", parent=None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        self.n_received = 0
        self.last = None
        self._thread = None
        self._halt = threading.Event()

    def _configure(self):
        pass

    def _start(self):
        self._halt.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-sink")
        self._thread.start()

    def _run(self):
        while not self._halt.is_set():
            if self.inputs["signals"].poll(timeout=50):
                _index, data = self.inputs["signals"].recv()
                self.last = float(np.asarray(data).ravel()[-1])
                self.n_received += 1

    def _stop(self):
        self._halt.set()
        self._thread.join(10)


BUILT = []


def build_graph(rate: float = 100.0, fail_after: int | None = None):
    src = Ticker(name="ticker")
    src.configure(fail_after=fail_after)
    src.outputs["signals"].spec["sample_rate"] = float(rate)
    src.outputs["signals"].configure(protocol="inproc")
    sink = Sink(name="sink")
    sink.configure()
    sink.inputs["signals"].connect(src.outputs["signals"])
    BUILT.append((src, sink))
    return [src, sink]


@pytest.fixture
def module():
    BUILT.clear()
    mod = GraphModule(build_graph, name="ticker_module", port=0)
    mod.start_in_thread()
    yield mod
    mod.close()
    for nodes in BUILT:
        for node in nodes:
            assert node.closed()


def status(client: DpClient) -> dict:
    client.send(b"STATUS;")
    return json.loads(client.recv_until(b"\n"))


def wait_status(client, predicate, timeout=30.0):
    """Poll STATUS (every 20 ms) until ``predicate`` holds; return that STATUS."""
    last = {}

    def matched():
        last["status"] = status(client)
        return predicate(last["status"])

    wait_until(matched, timeout, 0.02, what=lambda: f"a matching STATUS (the last one: {last['status']})")
    return last["status"]


def test_control_room_drives_the_graph(module):
    with DpClient(module.server.port) as c:
        assert c.banner == b"Connected to ticker_module\n"
        c.send(b"GET_PCOMMS;")
        assert c.recv_until(b"|UP") == b"START|STOP_ACQ|CONFIGURE|STATUS|STOP|CLOSE|GET_PCOMMS|UP"
        assert status(c)["state"] == "not built"
        c.send(b"START;")
        st = wait_status(c, lambda s: s["nodes"]["sink"]["counters"]["samples_in"] >= 5)
        assert st["state"] == "running" and st["nodes"]["ticker"]["running"] is True
        c.send(b"STOP_ACQ;")
        st = status(c)
        assert st["state"] == "stopped"
        src, sink = BUILT[-1]
        assert not src.running() and not sink.running()
        pushed = src.n_pushed
        c.send(b"START;")  # restart the same graph
        wait_status(c, lambda s: s["nodes"]["ticker"]["counters"]["samples_out"] > pushed + 3)
        assert len(BUILT) == 1


def test_builtin_stop_stops_the_graph_and_close_closes_it(module):
    with DpClient(module.server.port) as c:
        c.send(b"START;")
        wait_status(c, lambda s: s["state"] == "running")
        c.send(b"STOP;")
        assert status(c)["state"] == "stopped"
        c.send(b"START;CLOSE;")
        assert c.wait_closed(timeout=30).count(b"ERROR") == 0
    assert module.server._done.wait(30)
    module.close()
    src, sink = BUILT[-1]
    assert src.closed() and sink.closed()


def test_configure_rebuilds_and_restarts(module):
    with DpClient(module.server.port) as c:
        c.send(b"START;")
        wait_status(c, lambda s: s["state"] == "running")
        c.send(b'CONFIGURE|{"rate": 250};')
        st = status(c)
        assert st["config"] == {"rate": 250} and st["state"] == "running"
        assert len(BUILT) == 2 and BUILT[0][0].closed()
        assert BUILT[1][0].outputs["signals"].spec["sample_rate"] == 250.0
        c.send(b'CONFIGURE|{"rtae": 3};')
        err = c.recv_until(b"\n")
        assert err.startswith(b"ERROR command CONFIGURE failed: TypeError: bad configuration for graph")
        assert b"rtae" in err and b"rate" in err
        assert status(c)["state"] == "running"  # a rejected CONFIGURE leaves the graph alone


def test_node_failure_is_reported_in_status(module):
    with DpClient(module.server.port) as c:
        c.send(b'CONFIGURE|{"fail_after": 3};START;')
        st = wait_status(c, lambda s: s["failures"])
        assert st["failures"] == ["node 'ticker' failed: RuntimeError: amplifier disconnected"]
        assert st["nodes"]["ticker"]["error"] == "RuntimeError: amplifier disconnected"
        assert c.up()


def test_factory_errors_reach_the_client(module):
    def broken(**kw):
        raise ValueError("no LSL stream named 'EEG' on the network")

    module.factory = broken
    with DpClient(module.server.port) as c:
        c.send(b"START;")
        assert (
            c.recv_until(b"\n") == b"ERROR command START failed: ValueError: no LSL stream named 'EEG' on the network\n"
        )
        assert status(c)["state"] == "not built"


def test_load_factory_specs(tmp_path):
    path = tmp_path / "my_graph.py"
    path.write_text("def build_graph(x=1):\n    return []\n\ndef other():\n    return []\n")
    assert load_factory(str(path)).__name__ == "build_graph"
    assert load_factory(f"{path}:other").__name__ == "other"
    assert load_factory("lslacq_dareplane.graph_module:load_factory") is load_factory
    assert GraphModule(str(path), port=0).name == "my_graph"
    assert GraphModule(f"{path}:other", port=0).name == "my_graph"
    with pytest.raises(ValueError, match="no callable 'nope'"):
        load_factory(f"{path}:nope")
    with pytest.raises(FileNotFoundError):
        load_factory(str(tmp_path / "missing.py"))


def test_bad_initial_config_is_rejected():
    with pytest.raises(TypeError, match="bad configuration"):
        GraphModule(build_graph, config={"nope": 1}, port=0)


def test_factory_returning_an_owner_object_gets_it_closed():
    closed = []

    class Owned:
        def __init__(self):
            self.nodes = {"a": build_graph()[0], "b": BUILT[-1][1]}

        def close(self):
            closed.append(all(n.closed() for n in self.nodes.values()))

    mod = GraphModule(Owned, name="owned", port=0)
    mod.start_in_thread()
    try:
        with DpClient(mod.server.port) as c:
            c.send(b"START;")
            wait_status(c, lambda s: s["state"] == "running")
            c.send(b"CONFIGURE;")  # rebuild: the first owner is closed after its nodes
            assert status(c)["state"] == "running"
            assert closed == [True]
    finally:
        mod.close()
    assert closed == [True, True]


def build_remote_graph(rate: float = 500.0, cutoff: float = 30.0):
    """Nodes in a NodeGroup of a Manager process; the returned owner closes the manager."""
    from types import SimpleNamespace

    from lslacq.core import create_manager
    from lslacq.dsp import design_sos

    manager = create_manager("rpc", auto_close_at_exit=False)
    try:
        ng = manager.create_nodegroup("dareplane-graph")
        dev = ng.create_node("SimulatedEEG", name="eeg")
        dev.configure(nb_channel=4, sample_rate=rate, event_interval=0, seed=1)
        dev.outputs["signals"].configure(protocol="tcp")
        dev.outputs["events"].configure(protocol="tcp")
        filt = ng.create_node("SosFilter", name="lp")
        filt.configure(coefficients=design_sos("lowpass", cutoff, rate))
        filt.input.connect(dev.outputs["signals"])
        filt.output.configure(protocol="tcp")
    except BaseException:
        manager.close()
        raise
    return SimpleNamespace(nodes={"eeg": dev, "lp": filt}, close=manager.close)


@pytest.mark.slow
def test_graph_in_a_remote_nodegroup():
    import psutil

    from lslacq.core.stream import InputStream

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    mod = GraphModule(build_remote_graph, name="remote_graph", port=0)
    mod.start_in_thread()
    reader = InputStream(name="reader")
    try:
        with DpClient(mod.server.port, timeout=60) as c:
            c.send(b'CONFIGURE|{"cutoff": 40};')
            st = status(c)
            assert st["state"] == "built" and st["nodes"]["lp"]["type"] == "SosFilter", st
            reader.connect(mod.nodes["lp"].output)
            c.send(b"START;")
            st = wait_status(c, lambda s: s["nodes"]["eeg"]["counters"]["samples_out"] > 100, timeout=60)
            assert st["state"] == "running" and st["nodes"]["eeg"]["type"] == "SimulatedEEG"
            index, data = reader.recv(timeout=30_000)
            assert np.asarray(data).shape[1] == 4 and index > 0
            c.send(b"STOP_ACQ;")
            st = status(c)
            assert st["state"] == "stopped" and st["failures"] == []
    finally:
        reader.close()
        mod.close()
    assert mod.nodes is None
    # the manager and nodegroup processes are gone (closing the owner closed the manager)
    wait_until(
        lambda: not {p.pid for p in psutil.Process().children(recursive=True)} - before,
        timeout=30,
        interval=0.05,
        what="the manager/nodegroup processes to end",
    )


def test_error_and_type_descriptions_for_local_and_proxied_nodes():
    from lslacq_dareplane.graph_module import _describe_error, _type_name

    class FakeProxy:
        def __init__(self, value, type_str):
            self.__dict__["_type_str"] = type_str
            self._value = value

        def _get_value(self):
            if isinstance(self._value, Exception) and str(self._value) == "unserializable":
                raise TypeError("cannot serialize")
            return self._value

    assert _describe_error(RuntimeError("boom")) == "RuntimeError: boom"
    assert _describe_error(FakeProxy(OSError("device gone"), "<class 'OSError'>")) == "OSError: device gone"
    assert _describe_error(FakeProxy(ValueError("unserializable"), "ValueError")).startswith("ValueError")
    assert _type_name(FakeProxy(None, "lslacq.dsp.sosfilter.SosFilter")) == "SosFilter"
    assert _type_name(Sink()) == "Sink"
