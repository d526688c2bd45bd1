"""NodeGroup.create_node("LslOutlet") in a spawned process finds the node type through the entry point."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pylsl")

from lsl_helpers import wait_until  # noqa: E402

from lslacq import create_manager  # noqa: E402
from lslacq_lsl import StreamWatcher  # noqa: E402


@pytest.mark.slow
def test_remote_simulated_eeg_published_by_a_remote_lsl_outlet(unique_name):
    manager = create_manager()
    try:
        nodegroup = manager.create_nodegroup("lsl")
        dev = nodegroup.create_node("SimulatedEEG", name="dev")
        dev.configure(nb_channel=8, sample_rate=250.0, event_interval=0.5, seed=2)
        dev.outputs["signals"].configure(protocol="inproc")
        dev.outputs["events"].configure(protocol="inproc")
        eeg = nodegroup.create_node("LslOutlet", name="eeg")
        eeg.configure(name=unique_name)
        eeg.inputs["signals"].connect(dev.outputs["signals"])
        markers = nodegroup.create_node("LslOutlet", name="markers")
        markers.configure(name=unique_name + "-M", reference="eeg")
        markers.inputs["signals"].connect(dev.outputs["events"])
        for node in (dev, eeg, markers):
            node.initialize()
        with (
            StreamWatcher(unique_name, buffer_size_s=4, timeout=20) as sw,
            StreamWatcher(unique_name + "-M", timeout=20) as sm,
        ):
            sw.connect_to_stream()
            sm.connect_to_stream()
            assert sw.channel_names == ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "FC5"]
            for node in (eeg, markers, dev):
                node.start()
            wait_until(
                lambda: (sw.update(), sm.update(), sm.n_total >= 2)[2],
                timeout=30,
                what="EEG and markers from the remote nodegroup",
            )
            data, t = sw.get_data()
            assert len(data) >= 125 and np.isfinite(data).all()
            np.testing.assert_allclose(np.diff(t), 1 / 250.0, atol=1e-6)
            labels, _ = sm.get_data()
            assert labels[0, 0] == "S  1"
        for node in (dev, eeg, markers):
            node.stop()
        assert eeg.n_pushed > 0 and eeg.error is None
    finally:
        manager.close()
