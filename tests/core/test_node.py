import threading

import numpy as np
import pytest

from lslacq.core import registry
from lslacq.core.node import Node
from lslacq.errors import NodeStateError


class Doubler(Node):
    """Test node: one input, one output, records every hook call."""

    _input_specs = {"signals": {"streamtype": "analogsignal"}}
    _output_specs = {"doubled": {"streamtype": "analogsignal"}}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = []

    def _configure(self, gain=2.0):
        self.gain = gain
        self.calls.append("configure")

    def after_input_connect(self, inputname):
        self.calls.append(f"connect:{inputname}")
        params = self.inputs[inputname].params
        self.output.spec["shape"] = params["shape"]
        self.output.spec["dtype"] = params["dtype"]

    def after_output_configure(self, outputname):
        self.calls.append(f"output:{outputname}")

    def check_input_specs(self):
        self.calls.append("check_input")

    def check_output_specs(self):
        self.calls.append("check_output")

    def _initialize(self):
        self.calls.append("initialize")

    def _start(self):
        self.calls.append("start")

    def _stop(self):
        self.calls.append("stop")

    def _close(self):
        self.calls.append("close")


@pytest.fixture
def source():
    from lslacq.core.stream import OutputStream

    out = OutputStream(name="src")
    out.configure(protocol="inproc", dtype="float32", shape=(-1, 3))
    yield out
    out.close()


def test_lifecycle_in_order_calls_every_hook(source):
    node = Doubler(name="dbl")
    node.configure(gain=3)
    node.input.connect(source)
    node.output.configure(protocol="inproc")
    node.initialize()
    assert node.configured() and node.initialized() and not node.running()
    for _ in range(2):  # start/stop are repeatable
        node.start()
        assert node.running()
        node.stop()
    node.close()
    assert node.closed()
    assert node.calls == [
        "configure",
        "connect:signals",
        "output:doubled",
        "check_input",
        "check_output",
        "initialize",
        "start",
        "stop",
        "start",
        "stop",
        "close",
    ]
    assert node.output.params.shape == (-1, 3)  # spec set in after_input_connect


@pytest.mark.parametrize(
    ("step", "needle"),
    [
        ("initialize", "call configure\\(\\) first"),
        ("start", "call configure\\(\\) first"),
        ("stop", "call initialize\\(\\) first"),
    ],
)
def test_out_of_order_steps_name_the_missing_one(step, needle):
    node = Doubler(name="early")
    with pytest.raises(NodeStateError, match=f"early.*{needle}"):
        getattr(node, step)()


def test_initialize_requires_connected_inputs_and_configured_outputs(source):
    node = Doubler(name="n")
    node.configure()
    with pytest.raises(NodeStateError, match="input 'signals' is not connected"):
        node.initialize()
    node.input.connect(source)
    with pytest.raises(NodeStateError, match="output 'doubled' is not configured"):
        node.initialize()
    node.close()


def test_closed_node_refuses_everything_and_close_is_idempotent(source):
    node = Doubler(name="n")
    node.configure()
    node.input.connect(source)
    node.output.configure(protocol="inproc")
    node.initialize()
    node.start()
    node.close()  # stops first
    node.close()
    assert node.calls[-2:] == ["stop", "close"]
    with pytest.raises(NodeStateError, match="closed"):
        node.start()
    with pytest.raises(NodeStateError, match="closed"):
        node.configure()


def test_double_start_and_configure_while_running_are_errors(source):
    node = Doubler(name="n")
    node.configure()
    node.input.connect(source)
    node.output.configure(protocol="inproc")
    node.initialize()
    node.start()
    with pytest.raises(NodeStateError, match="already running"):
        node.start()
    with pytest.raises(NodeStateError, match="call stop\\(\\) first"):
        node.configure()
    node.close()


def test_unexpected_configure_arguments_are_named():
    with pytest.raises(TypeError, match="unexpected arguments \\['speed'\\]"):
        Node(name="plain").configure(speed=3)


def test_input_output_shortcuts_need_exactly_one_stream():
    class TwoOut(Node):
        _output_specs = {"a": {}, "b": {}}

    node = TwoOut()
    with pytest.raises(AttributeError, match="2 outputs"):
        node.output  # noqa: B018
    with pytest.raises(AttributeError, match="0 inputs"):
        node.input  # noqa: B018


def test_worker_polling_running_does_not_deadlock_stop(source):
    """pyacq-style node: a worker thread loops on self.running(); stop() joins it."""

    class Polling(Node):
        def _start(self):
            self.iterations = 0
            self.worker = threading.Thread(target=self._work)
            self.worker.start()

        def _work(self):
            while self.running() or not hasattr(self, "stopping"):
                self.iterations += 1
                if self.iterations > 10_000_000:
                    break

        def _stop(self):
            self.stopping = True
            self.worker.join(10)

    node = Polling(name="poller")
    node.configure()
    node.initialize()
    node.start()
    node.stop()
    assert not node.worker.is_alive()
    assert node.iterations < 10_000_000
    node.stop()  # stopping a stopped node does nothing, as in pyacq
    node.close()


def test_registry_runtime_and_entry_points():
    registry.register_node_type(Doubler)
    assert registry.get_node_type("Doubler") is Doubler
    names = registry.list_node_types()
    assert {"Doubler", "NumpyDeviceBuffer", "StreamConverter", "ChannelSplitter"} <= set(names)
    from lslacq.devices.numpy_device import NumpyDeviceBuffer

    assert registry.get_node_type("NumpyDeviceBuffer") is NumpyDeviceBuffer
    with pytest.raises(KeyError, match="unknown node type 'Nope'.*NumpyDeviceBuffer"):
        registry.get_node_type("Nope")
    with pytest.raises(TypeError, match="Node subclass"):
        registry.register_node_type(int)
    cls = registry.register_node_type_from_module("lslacq.core.tools", "StreamConverter")
    assert cls.__name__ == "StreamConverter"
    with pytest.raises(ValueError, match="has no attribute"):
        registry.register_node_type_from_module("lslacq.core.tools", "Missing")


def test_node_data_flow_with_local_thread(source):
    """A node processing data end to end in the same process."""
    from lslacq.core.tools import ThreadPollInput

    class Gain(Node):
        _input_specs = {"signals": {}}
        _output_specs = {"signals": {}}

        def after_input_connect(self, inputname):
            for key in ("shape", "dtype"):
                self.output.spec[key] = self.input.params[key]

        def _start(self):
            self.poller = ThreadPollInput(self.input)
            self.poller.new_data.connect(lambda pos, data: self.output.send(data * 2, index=pos))
            self.poller.start()

        def _stop(self):
            self.poller.stop()
            self.poller.wait(10)

    node = Gain(name="gain")
    node.configure()
    node.input.connect(source)
    node.output.configure(protocol="inproc")
    node.initialize()
    from lslacq.core.stream import InputStream

    sink = InputStream()
    sink.connect(node.output)
    node.start()
    source.send(np.ones((4, 3), "float32"))
    index, data = sink.recv(timeout=5000)
    node.close()
    sink.close()
    assert index == 4
    np.testing.assert_array_equal(data, 2 * np.ones((4, 3)))


# -- the failure and counters contract ---------------------------------------------------------------


class Failing(Node):
    """A node whose worker thread fails on demand (twice: the second failure must not be reported again)."""

    def _start(self):
        self.go = threading.Event()
        self.worker = threading.Thread(target=self._work)
        self.worker.start()

    def _work(self):
        if self.go.wait(10):
            for n in range(2):
                try:
                    raise RuntimeError(f"amplifier disconnected #{n}")
                except RuntimeError as exc:
                    self._report_error(exc, context="reading the amplifier")

    def _stop(self):
        self.go.set()
        self.worker.join(10)


def test_error_failed_counters_exist_from_init():
    node = Doubler(name="fresh")
    assert node.error is None
    assert len(node.failed) == 0
    assert node.counters() == {
        "samples_in": 0,
        "samples_out": 0,
        "lost_samples": 0,
        "last_index": None,
        "latency": None,
        "wait_seconds": 0.0,
    }


def test_report_error_records_first_failure_logs_and_emits_once(caplog):
    node = Failing(name="amp")
    node.configure()
    node.initialize()
    seen = []
    node.failed.connect(seen.append)
    node.start()
    with caplog.at_level("DEBUG", logger="lslacq.core.node"):
        node.go.set()
        node.worker.join(10)
    assert isinstance(node.error, RuntimeError) and str(node.error) == "amplifier disconnected #0"
    assert seen == [node.error]  # emitted once, with the first failure
    records = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(records) == 1
    assert "'amp'" in records[0].getMessage() and "reading the amplifier" in records[0].getMessage()
    assert records[0].exc_info[1] is node.error  # with its traceback
    node.stop()
    # a new run clears the error; its first failure is reported again
    node.start()
    assert node.error is None
    node.go.set()
    node.worker.join(10)
    assert len(seen) == 2 and seen[1] is node.error
    node.close()


def test_report_error_of_an_exception_never_raised_logs_no_empty_traceback(caplog):
    node = Node(name="quiet")
    with caplog.at_level("ERROR", logger="lslacq.core.node"):
        assert node._report_error(RuntimeError("the device said goodbye"))
    (record,) = caplog.records
    assert "the device said goodbye" in record.getMessage() and record.exc_info is None
    assert caplog.text.count("the device said goodbye") == 1  # not repeated under the line


def test_report_error_is_thread_safe_first_wins():
    node = Doubler(name="racy")
    seen = []
    node.failed.connect(seen.append)
    barrier = threading.Barrier(8)
    errors = [ValueError(i) for i in range(8)]

    def fail(exc):
        barrier.wait(10)
        node._report_error(exc)

    threads = [threading.Thread(target=fail, args=(e,)) for e in errors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(seen) == 1 and seen[0] is node.error and node.error in errors


def test_counters_follow_the_streams(source):
    from lslacq.core.stream import InputStream

    node = Doubler(name="count")
    node.configure()
    node.input.connect(source)
    node.output.configure(protocol="inproc")
    node.initialize()
    sink = InputStream()
    sink.connect(node.output)
    try:
        source.send(np.ones((4, 3), "float32"))
        source.send(np.ones((6, 3), "float32"), index=20)  # 10 samples skipped by the sender
        node.input.recv(timeout=5000)
        node.input.recv(timeout=5000)
        node.output.send(np.ones((5, 3), "float32"))
        counters = node.counters()
        assert counters == {
            "samples_in": 20,
            "samples_out": 5,
            "lost_samples": 10,
            "last_index": 5,
            "latency": None,
            "wait_seconds": 0.0,
        }
    finally:
        sink.close()
        node.close()


def test_optional_output_may_stay_unconfigured():
    class WithAux(Node):
        _output_specs = {
            "signals": {"dtype": "float32", "shape": (-1, 2)},
            "aux": {"dtype": "float32", "shape": (-1, 1), "optional": True},
        }

    node = WithAux(name="aux")
    assert node.optional_outputs == {"aux"}
    assert "optional" not in node.outputs["aux"].spec.explicit_keys()  # not a stream parameter
    node.configure()
    with pytest.raises(NodeStateError, match="output 'signals' is not configured"):
        node.initialize()
    node.outputs["signals"].configure(protocol="inproc")
    node.initialize()  # 'aux' unconfigured: fine
    assert not node.outputs["aux"].configured
    assert node.counters()["samples_out"] == 0
    node.close()


def test_counters_count_samples_once_across_outputs():
    """A splitter (or a device with a marker output) counts its samples once: the largest output position."""

    class Split(Node):
        _output_specs = {"a": {"dtype": "float32", "shape": (-1, 1)}, "b": {"dtype": "float32", "shape": (-1, 1)}}

    node = Split(name="split")
    node.configure()
    for out in node.outputs.values():
        out.configure(protocol="inproc")
    node.initialize()
    node.outputs["a"].send(np.zeros((7, 1), "float32"))
    node.outputs["b"].send(np.zeros((7, 1), "float32"))
    node.outputs["b"].send(np.zeros((3, 1), "float32"))
    assert node.counters() == {
        "samples_in": 0,
        "samples_out": 10,
        "lost_samples": 0,
        "last_index": 10,
        "latency": None,
        "wait_seconds": 0.0,
    }
    node.close()


def test_node_health_lists_each_outputs_readers(source):
    """NodeGroup.health()'s node entry: state, error, counters and every reader's lag and losses per output."""
    from lslacq.core.nodegroup import node_health
    from lslacq.core.stream import InputStream

    node = Doubler(name="health")
    node.configure()
    node.input.connect(source)
    node.output.configure(protocol="inproc")
    node.initialize()
    sink = InputStream(name="viewer")
    sink.connect(node.output)
    try:
        node.output.send(np.ones((4, 3), "float32"))
        entry = node_health(node)
        assert entry["type"] == "Doubler" and entry["state"] == "initialized" and entry["error"] is None
        assert entry["counters"]["samples_out"] == 4
        (reader,) = entry["readers"]["doubled"]
        assert {"lag_samples", "dropped_samples"} <= set(reader) and reader["dropped_samples"] == 0
        node._report_error(ValueError("bad chunk"))
        assert node_health(node)["error"] == "ValueError: bad chunk"
    finally:
        sink.close()
        node.close()


def test_output_aliases_resolve_without_being_listed():
    """The output names of pyacq keep working (OpenBCI's 'chan' is 'signals') while each stream is listed once."""
    from lslacq.core.node import Node

    class Device(Node):
        _output_specs = {"signals": {}}
        _output_aliases = {"chan": "signals"}

    node = Device()
    try:
        assert node.outputs["chan"] is node.outputs["signals"] and list(node.outputs) == ["signals"]
        with pytest.raises(KeyError):
            node.outputs["nope"]
    finally:
        node.close()
