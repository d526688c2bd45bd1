import logging
import threading

import numpy as np
import pytest

from lslacq.core.stream import InputStream, OutputStream
from lslacq.core.tools import ChannelSplitter, StreamConverter, ThreadPollInput


@pytest.fixture
def source():
    out = OutputStream(name="src")
    out.configure(
        protocol="tcp",
        transfermode="sharedmem",
        dtype="float32",
        shape=(-1, 4),
        sample_rate=100.0,
        channel_names=["a", "b", "c", "d"],
        buffer_size=1000,
    )
    yield out
    out.close()


def _collect(inp, n_samples, timeout=10000):
    chunks, total = [], 0
    while total < n_samples:
        _, data = inp.recv(with_data=True, timeout=timeout)
        chunks.append(np.array(data))
        total += len(data)
    return np.concatenate(chunks)


def test_thread_poll_input_emits_every_chunk_and_stops(source):
    inp = InputStream()
    inp.connect(source)
    poller = ThreadPollInput(inp, timeout=50, return_data=True)
    got, done = [], threading.Event()

    def on_data(pos, data):
        got.append((pos, np.array(data)))
        if pos == 30:
            done.set()

    poller.new_data.connect(on_data)
    poller.start()
    for k in range(3):
        source.send(np.full((10, 4), k, "float32"))
    assert done.wait(10)
    poller.stop()
    assert poller.wait(10)
    assert [p for p, _ in got] == [10, 20, 30]
    assert got[2][1][0, 0] == 2
    assert poller.error is None
    # like a QThread it starts again
    restarted = []
    poller.new_data.disconnect()
    poller.new_data.connect(lambda pos, data: (restarted.append(pos), done.set()))
    done.clear()
    poller.start()
    source.send(np.full((10, 4), 9, "float32"))
    assert done.wait(10)
    poller.stop()
    assert poller.wait(10) and not poller.is_alive()
    assert restarted == [40]
    inp.close()


def test_thread_poll_input_reports_a_failing_subclass(source):
    class Broken(ThreadPollInput):
        def process_data(self, pos, data):
            raise RuntimeError("boom")

    inp = InputStream()
    inp.connect(source)
    poller = Broken(inp, timeout=50)
    failures = []
    poller.failed.connect(failures.append)
    poller.start()
    source.send(np.zeros((1, 4), "float32"))
    assert poller.wait(10)
    assert isinstance(poller.error, RuntimeError) and failures == [poller.error]
    inp.close()


def test_thread_poll_input_ends_when_output_closes():
    out = OutputStream()
    out.configure(protocol="inproc")
    inp = InputStream()
    inp.connect(out)
    poller = ThreadPollInput(inp, timeout=50)
    poller.start()
    out.close()
    assert poller.wait(10)
    assert poller.error is None
    inp.close()


def test_stream_converter_sharedmem_to_tcp_keeps_data_and_metadata(source):
    conv = StreamConverter(name="conv")
    conv.configure()
    conv.input.connect(source)
    conv.output.configure(protocol="tcp", transfermode="plaindata")
    conv.initialize()
    assert conv.output.params["channel_names"] == ["a", "b", "c", "d"]
    assert conv.output.params.sample_rate == 100.0
    sink = InputStream()
    sink.connect(conv.output)
    conv.start()
    data = np.random.default_rng(3).normal(size=(50, 4)).astype("float32")
    for chunk in np.split(data, 5):
        source.send(chunk)
    np.testing.assert_array_equal(_collect(sink, 50), data)
    conv.close()
    sink.close()


def test_channel_splitter_groups_and_names(source):
    split = ChannelSplitter(name="split")
    split.configure(output_channels={"front": [0, 1], "back": [3]})
    split.input.connect(source)
    for out in split.outputs.values():
        out.configure(protocol="inproc")
    split.initialize()
    assert split.outputs["front"].params["channel_names"] == ["a", "b"]
    sinks = {}
    for name, out in split.outputs.items():
        sinks[name] = InputStream()
        sinks[name].connect(out)
    split.start()
    data = np.arange(40, dtype="float32").reshape(10, 4)
    source.send(data)
    np.testing.assert_array_equal(_collect(sinks["front"], 10), data[:, :2])
    np.testing.assert_array_equal(_collect(sinks["back"], 10), data[:, 3:])
    split.close()
    for sink in sinks.values():
        sink.close()


def test_channel_splitter_defaults_to_one_output_per_channel(source):
    split = ChannelSplitter()
    split.configure()
    split.input.connect(source)
    assert sorted(split.outputs) == ["ch0", "ch1", "ch2", "ch3"]
    split.close()


def test_channel_splitter_rejects_missing_channels(source):
    split = ChannelSplitter()
    split.configure(output_channels={"x": [7]})
    with pytest.raises(ValueError, match="channels \\[7\\].*4 channels"):
        split.input.connect(source)
    split.close()


@pytest.mark.parametrize("node_type", ["StreamConverter", "ChannelSplitter"])
def test_polling_node_failure_reaches_the_node_contract_once(source, caplog, node_type):
    """A _PollingNode whose output fails: node.error, node.failed and one log record naming the node."""
    node = StreamConverter(name="conv") if node_type == "StreamConverter" else ChannelSplitter(name="split")
    node.configure()
    node.input.connect(source)
    for out in node.outputs.values():
        out.configure(protocol="inproc")
    node.initialize()
    failed = threading.Event()
    node.failed.connect(lambda exc: failed.set())
    node.start()
    next(iter(node.outputs.values())).close()  # the output dies under the running node
    with caplog.at_level(logging.INFO):
        source.send(np.zeros((5, 4), "float32"))
        assert failed.wait(10)
    assert type(node.error).__name__ == "StreamClosedError"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and f"node {node.name!r}" in errors[0].getMessage()
    assert node.counters()["samples_in"] == 5
    node.close()


def test_thread_poll_input_logs_its_failure_only_without_listener(source, caplog):
    class Broken(ThreadPollInput):
        def process_data(self, pos, data):
            raise RuntimeError("boom")

    inp = InputStream()
    inp.connect(source)
    with caplog.at_level(logging.ERROR, logger="lslacq.core.tools"):
        for listen in (False, True):
            poller = Broken(inp, timeout=50, name=f"poller-{listen}")
            if listen:
                poller.failed.connect(lambda exc: None)
            poller.start()
            source.send(np.zeros((1, 4), "float32"))
            assert poller.wait(10) and isinstance(poller.error, RuntimeError)
    assert "poller-False failed while processing its input: boom" in caplog.text
    assert "poller-True" not in caplog.text
    inp.close()


def test_join_thread_reports_a_thread_that_does_not_stop(caplog):
    from lslacq.core.tools import join_thread

    release = threading.Event()
    stuck = threading.Thread(target=release.wait, args=(10,), name="stuck")
    stuck.start()
    try:
        with caplog.at_level(logging.ERROR, logger="lslacq.core.tools"):
            assert join_thread(stuck, 0.05, "the stuck worker") is False
        assert "the stuck worker did not stop within 0.05 s" in caplog.text
    finally:
        release.set()
    assert join_thread(stuck, 10, "the stuck worker") is True
    assert join_thread(None, 0, "nothing") is True
