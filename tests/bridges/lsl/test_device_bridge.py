"""DeviceLslBridge / run_bridge_loop: any device node -> LSL (what `lslacq bridge SOURCE` runs)."""

from __future__ import annotations

import numpy as np
import pytest
from lsl_helpers import wait_until

pylsl = pytest.importorskip("pylsl")

from lslacq.devices import NumpyDeviceBuffer  # noqa: E402
from lslacq_lsl import resolve_stream  # noqa: E402
from lslacq_lsl.bridge_cli import SOURCES  # noqa: E402
from lslacq_lsl.device_bridge import DeviceLslBridge, run_bridge_loop  # noqa: E402


def _device(n_channels=3, chunksize=50, n=1000):
    node = NumpyDeviceBuffer(name="dev")
    buffer = (np.arange(n)[:, None] * 10 + np.arange(n_channels)[None, :]).astype("float32")
    node.configure(nb_channel=n_channels, sample_interval=0.002, chunksize=chunksize, buffer=buffer)
    return node


@pytest.mark.slow
def test_publishes_every_sample_and_drains_on_stop(unique_name):
    with DeviceLslBridge(_device(), name=unique_name, stream_type="Test") as bridge:
        info = resolve_stream(name=unique_name, timeout=10)
        assert info.type() == "Test" and info.channel_count() == 3 and info.nominal_srate() == 500.0
        assert unique_name in bridge.describe() and "(Test, source_id" in bridge.describe()
        inlet = pylsl.StreamInlet(info)
        try:
            inlet.open_stream(timeout=10)
            bridge.start()
            wait_until(lambda: bridge.pushed()[unique_name] >= 300, timeout=30, what="300 samples on LSL")
            bridge.stop()
            sent = bridge.node.output.last_index
            assert bridge.pushed()[unique_name] == sent  # stop() published everything the device sent
            chunks, n = [], 0
            while n < sent:
                chunk, _ = inlet.pull_chunk(timeout=2.0)
                assert chunk, f"only {n} of {sent} samples arrived"
                chunks.append(np.asarray(chunk))
                n += len(chunk)
        finally:
            inlet.close_stream()
            del inlet
    data = np.concatenate(chunks)
    np.testing.assert_array_equal(data[:, 0], (np.arange(sent) % 1000) * 10)  # no sample lost or repeated
    np.testing.assert_array_equal(data[:, 2] - data[:, 0], 2)
    assert "samples" in bridge.status() and bridge.error is None


def test_bad_names_are_clear_errors_and_close_the_node():
    node = _device()
    with pytest.raises(ValueError, match=r"has no output\(s\) \['nope'\]; its outputs are \['signals'\]"):
        DeviceLslBridge(node, name="x", names={"nope": "y"})
    assert node.closed()


class _Failing:
    def __init__(self, error=None):
        self.error = error

    def status(self) -> str:
        return "42 samples"


@pytest.mark.slow
def test_run_loop_duration_status_and_failure(capsys):
    assert run_bridge_loop(_Failing(), "prog", duration=0.35, interval=0.1) == 0
    out = capsys.readouterr().out
    assert out.count("42 samples") >= 2
    assert run_bridge_loop(_Failing(RuntimeError("device unplugged")), "prog", duration=5) == 1
    assert "prog: stopped: device unplugged" in capsys.readouterr().err


def test_every_source_has_a_builder_or_a_runner():
    assert "rda" in SOURCES
    for name, source in SOURCES.items():
        assert (source.build_node is None) != (source.run is None), name
