import numpy as np
import pytest

from lslacq.core.stream import InputStream
from lslacq.devices.numpy_device import NumpyDeviceBuffer


@pytest.mark.slow
@pytest.mark.parametrize("transfermode", ["plaindata", "sharedmem"])
def test_streams_the_buffer_in_a_loop_with_continuous_indices(transfermode):
    buffer = np.arange(300 * 2, dtype="float32").reshape(300, 2)
    dev = NumpyDeviceBuffer(name="dev")
    dev.configure(nb_channel=2, sample_interval=0.0005, chunksize=30, buffer=buffer)
    dev.output.configure(protocol="tcp", transfermode=transfermode, buffer_size=2000)
    dev.initialize()
    assert dev.output.params.sample_rate == 2000.0
    sink = InputStream()
    sink.connect(dev.output)
    dev.start()
    received, indices = [], []
    while sum(len(c) for c in received) < 750:  # 2.5 loops over the buffer
        index, data = sink.recv(with_data=True, timeout=10000)
        received.append(np.array(data))
        indices.append(index)
    dev.stop()
    assert dev.error is None
    assert indices == [30 * (k + 1) for k in range(len(indices))]
    np.testing.assert_array_equal(np.concatenate(received)[:750], np.tile(buffer, (3, 1))[:750])
    # restart: the count starts again from 0
    dev.start()
    index = None
    while index != 30:  # chunks sent before stop() may still be in flight; skip them
        index, data = sink.recv(with_data=True, timeout=10000)
    np.testing.assert_array_equal(data, buffer[:30])
    dev.close()
    sink.close()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (dict(nb_channel=0), "nb_channel must be >= 1, got 0"),
        (dict(nb_channel=2, chunksize=7, buffer=np.zeros((20, 2))), "not a multiple of chunksize"),
        (dict(nb_channel=3, buffer=np.zeros((256, 2))), "expected \\(n_samples, 3\\)"),
        (dict(rate=3), "has no argument 'rate'; its arguments: nb_channel, sample_interval, chunksize, buffer"),
        (dict(nb_channel="eight"), "nb_channel must be an int, got 'eight'"),
    ],
)
def test_bad_configuration_is_explained(kwargs, needle):
    with pytest.raises((ValueError, TypeError), match=needle):
        NumpyDeviceBuffer().configure(**kwargs)


def test_failure_reaches_the_node_contract_once(caplog):
    """NumpyDeviceBuffer.failed exists from __init__; a send failure is the node's error, logged once."""
    dev = NumpyDeviceBuffer(name="dev")
    failures = []
    dev.failed.connect(failures.append)  # before initialize(): the signal exists from __init__
    dev.configure(nb_channel=2, sample_interval=0.001, chunksize=10)
    dev.output.configure(protocol="inproc")
    dev.initialize()
    sent = []

    def send(data, index=None):
        sent.append(index)
        if len(sent) == 3:
            raise OSError("device unplugged")

    dev.output.send = send
    with caplog.at_level("ERROR"):
        dev.start()
        dev.workers[0].join(10)
    assert not dev.workers[0].is_alive()
    assert isinstance(dev.error, OSError) and failures == [dev.error]
    assert [r.exc_info[1] for r in caplog.records if r.exc_info] == [dev.error]  # one record with traceback
    assert "'dev'" in caplog.records[-1].getMessage()
    dev.close()


def test_counters_count_sent_samples():
    dev = NumpyDeviceBuffer(name="dev")
    dev.configure(nb_channel=2, sample_interval=0.001, chunksize=10)
    dev.output.configure(protocol="inproc")
    dev.initialize()
    sink = InputStream()
    sink.connect(dev.output)
    dev.start()
    try:
        index = 0
        while index < 50:
            index, _ = sink.recv(timeout=10000)
    finally:
        dev.stop()
    counters = dev.counters()
    assert counters["samples_out"] == dev.head >= 50 and counters["last_index"] == dev.head
    assert counters["lost_samples"] == 0
    dev.close()
    sink.close()
