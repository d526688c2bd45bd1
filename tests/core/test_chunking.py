"""pyacq's core.tools ThreadPollOutput and ChunkResizer."""

import threading

import numpy as np
import pytest

import lslacq
from lslacq.core.stream import OutputStream


@pytest.fixture
def source():
    out = OutputStream(name="src")
    out.configure(
        protocol="tcp",
        transfermode="plaindata",
        dtype="float32",
        shape=(-1, 3),
        sample_rate=500.0,
        channel_names=["a", "b", "c"],
    )
    yield out
    out.close()


class Collector:
    """Thread-safe sink for ``new_data(pos, data)``."""

    def __init__(self, until_pos):
        self.until_pos = until_pos
        self.got = []
        self.done = threading.Event()

    def __call__(self, pos, data):
        self.got.append((pos, np.array(data)))
        if pos >= self.until_pos:
            self.done.set()


def test_pyacq_paths_and_top_level_export():
    from lslacq.core import chunking
    from lslacq.core.tools import ChunkResizer, ThreadPollOutput

    assert lslacq.ThreadPollOutput is ThreadPollOutput is chunking.ThreadPollOutput
    assert lslacq.core.ChunkResizer is ChunkResizer
    assert issubclass(ThreadPollOutput, lslacq.ThreadPollInput)


def test_pyacq_thread_poll_output_reports_what_an_output_sends(source):
    from lslacq.core.tools import ThreadPollOutput

    sink = Collector(until_pos=30)
    with ThreadPollOutput(source, timeout=50, return_data=True) as poller:
        poller.new_data.connect(sink)
        poller.start()
        for k in range(3):
            source.send(np.full((10, 3), k, "float32"))
        assert sink.done.wait(10)
    assert not poller.is_alive() and poller.instream.socket is None
    assert [pos for pos, _ in sink.got] == [10, 20, 30]
    np.testing.assert_array_equal([d[0, 0] for _, d in sink.got], [0, 1, 2])


def _resizer(source, chunksize):
    from lslacq.core.tools import ChunkResizer

    node = ChunkResizer(name="resizer")
    node.configure(chunksize=chunksize)
    node.input.connect(source)
    node.output.configure(protocol="inproc")
    node.initialize()
    return node


def test_pyacq_chunk_resizer_sends_fixed_chunks_on_the_input_clock(source):
    from lslacq.core.tools import ThreadPollOutput

    node = _resizer(source, chunksize=16)
    assert node.output.params["shape"] == (-1, 3) and node.output.params["channel_names"] == ["a", "b", "c"]
    assert node.output.params["sample_rate"] == 500.0
    data = np.arange(200 * 3, dtype="float32").reshape(200, 3)
    sink = Collector(until_pos=192)
    with ThreadPollOutput(node.output, timeout=50, return_data=True) as poller:
        poller.new_data.connect(sink)
        poller.start()
        node.start()
        i = 0
        for n in [1, 5, 16, 40, 3, 7, 100, 28]:  # 200 samples in uneven chunks
            source.send(data[i : i + n])
            i += n
        assert sink.done.wait(10)
        node.stop()
    node.close()
    assert node.error is None
    assert [pos for pos, _ in sink.got] == list(range(16, 193, 16))  # 12 full chunks; 8 samples pending
    assert all(d.shape == (16, 3) for _, d in sink.got)
    np.testing.assert_array_equal(np.concatenate([d for _, d in sink.got]), data[:192])


def test_pyacq_chunk_resizer_fills_an_index_gap(source):
    from lslacq.core.tools import ThreadPollOutput

    node = _resizer(source, chunksize=8)
    sink = Collector(until_pos=24)
    with ThreadPollOutput(node.output, timeout=50, return_data=True) as poller:
        poller.new_data.connect(sink)
        poller.start()
        node.start()
        source.send(np.ones((5, 3), "float32"), index=5)
        source.send(np.full((10, 3), 2, "float32"), index=20)  # samples 5..9 were lost upstream
        source.send(np.full((4, 3), 3, "float32"), index=24)
        assert sink.done.wait(10)
        node.stop()
    node.close()
    column = np.concatenate([d for _, d in sink.got])[:, 0]
    assert [pos for pos, _ in sink.got] == [8, 16, 24]
    np.testing.assert_array_equal(column[:5], 1)
    assert np.isnan(column[5:10]).all()
    np.testing.assert_array_equal(column[10:20], 2)
    np.testing.assert_array_equal(column[20:], 3)


def test_chunk_resizer_rejects_a_bad_chunksize():
    from lslacq.core.tools import ChunkResizer

    node = ChunkResizer(name="r")
    with pytest.raises(ValueError, match="chunksize=0 must be a positive integer"):
        node.configure(chunksize=0)
    node.close()


def test_chunk_resizer_is_a_registered_node_type():
    """nodegroup.create_node('ChunkResizer') works in any process (the lslacq.nodes entry point)."""
    from lslacq.core.registry import get_node_type
    from lslacq.core.tools import ChunkResizer

    assert get_node_type("ChunkResizer") is ChunkResizer
