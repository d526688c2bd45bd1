"""Third-party LSL consumers read an LslOutlet: mne-lsl's StreamLSL and dareplane-utils' StreamWatcher."""

from __future__ import annotations

import numpy as np
import pytest
from lsl_helpers import make_source, ramp, wait_until

pylsl = pytest.importorskip("pylsl")

from lslacq_lsl import LslOutlet  # noqa: E402

NAMES = ["Fz", "Cz", "Pz", "Oz"]


@pytest.fixture
def published(unique_name):
    """An LslOutlet fed by an in-process source, started; yields (source, node)."""
    src = make_source(4, 200.0, channel_names=NAMES, channel_units=["microvolts"] * 4, channel_types=["EEG"] * 4)
    node = LslOutlet(name="published")
    node.configure(name=unique_name)
    node.inputs["signals"].connect(src)
    node.initialize()
    node.start()
    yield src, node
    node.close()
    src.close()


@pytest.mark.slow
def test_mne_lsl_stream_reads_our_outlet(published):
    mne_lsl_stream = pytest.importorskip("mne_lsl.stream")
    src, node = published
    stream = mne_lsl_stream.StreamLSL(bufsize=5, source_id=node.source_id)
    stream.connect(acquisition_delay=0.005, timeout=10)
    try:
        assert stream.info["ch_names"] == NAMES
        assert stream.get_channel_types() == ["eeg"] * 4
        assert stream.info["sfreq"] == 200.0
        src.send(ramp(300, 4))
        wait_until(lambda: stream.n_new_samples >= 300, what="mne-lsl to receive 300 samples")
        data, ts = stream.get_data(winsize=1.5)  # (n_channels, n_times), newest last
        np.testing.assert_array_equal(data.T, ramp(300, 4))
        np.testing.assert_allclose(np.diff(ts), 1 / 200.0, atol=1e-9, rtol=0)
    finally:
        stream.disconnect()


def test_dareplane_stream_watcher_reads_our_outlet(published, unique_name):
    dp = pytest.importorskip("dareplane_utils.stream_watcher.lsl_stream_watcher")
    src, node = published
    sw = dp.StreamWatcher(unique_name, buffer_size_s=2)
    sw.connect_to_stream()
    try:
        assert sw.channel_names == NAMES
        # dareplane-utils subscribes lazily (its first pull_chunk opens the stream): wait until it has
        assert node.wait_for_consumers(10)
        src.send(ramp(250, 4))

        def received():
            sw.update()
            return sw.n_new >= 250

        wait_until(received, what="dareplane's StreamWatcher to receive 250 samples")
        np.testing.assert_array_equal(sw.unfold_buffer()[-250:], ramp(250, 4))
        np.testing.assert_allclose(np.diff(sw.unfold_buffer_t()[-250:]), 1 / 200.0, atol=1e-9, rtol=0)
    finally:
        sw.disconnect()
