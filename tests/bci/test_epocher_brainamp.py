"""BrainAmp (RDA) markers as Epocher events: the RDA emulator -> BrainAmpSocket -> its ``triggers`` -> Epocher.

The emulator's signal is known (channel 0 counts the absolute samples), so an epoch is checked sample by
sample against the signal around the marker's position.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import wait_until

from lslacq.bci import Epocher
from lslacq.core.stream import InputStream
from lslacq.devices import BrainAmpSocket
from lslacq.devices.rda import RdaEmulator

FS = 1000.0


@pytest.mark.slow
def test_brainamp_markers_epoch_the_rda_signal_at_their_positions():
    # a marker every 20 samples, "S  1" ... "S 15" in turn: "S  1" every 0.3 s, "S  3" 40 samples later
    with RdaEmulator(
        port=0,
        n_channels=4,
        sample_rate=FS,
        block_duration=0.01,
        marker_interval=0.02,
        keepalive_interval=0.05,
        other_interval=0.1,
    ) as emu:
        amp = BrainAmpSocket(name="amp")
        amp.configure(brainamp_host="127.0.0.1", brainamp_port=emu.address[1])
        for out in amp.outputs.values():
            out.configure(protocol="inproc")
        ep = Epocher(name="epocher")
        # a description (the RDA marker text) and a code (the number in it) both select markers
        ep.configure(
            event_id={"target": "S  1", "three": 3}, tmin=-0.05, tmax=0.1, dtype="float64", buffer_duration=10.0
        )
        ep.inputs["signals"].connect(amp.outputs["signals"])
        ep.inputs["events"].connect(amp.outputs["triggers"])
        sig = InputStream()
        sig.connect(amp.outputs["signals"])  # the first sample's counter: the emulator's sample at index 0
        nodes = (ep, amp)
        try:
            for node in nodes:
                node.initialize()
            for node in nodes:
                node.start()
            _, first_chunk = sig.recv(timeout=10000)
            first = int(first_chunk[0, 0])
            wait_until(lambda: ep.n_epochs >= 6, timeout=20, what="6 epochs")
            amp.stop()
            data, events = ep.get_data(), ep.events
            assert ep.error is None and amp.error is None
        finally:
            for node in nodes:
                node.close()
            sig.close()
        # the markers the emulator sent, in node indexes (counted from the first sample received)
        expected = emu.expected_markers(first, first + int(events["index"].max()) + 1)
        keep = np.isin(expected["description"], [b"S  1", b"S  3"])
        pos = expected["pos"][keep] - first
        pos = pos[pos + int(round(-0.05 * FS)) >= 0]  # epochs starting before the first sample are dropped
        assert events["index"].tolist() == pos[: len(events)].tolist()
        assert len(events) >= 6 and set(events["description"].tolist()) == {b"target", b"three"}
        assert events["code"].tolist() == [0 if d == b"target" else 1 for d in events["description"]]
        a, b = int(round(-0.05 * FS)), int(round(0.1 * FS))
        for t, epoch in zip(events["index"].tolist(), data, strict=True):
            at = first + t
            # channel 0 is the emulator's sample counter: the epoch is samples at-50 .. at+100 exactly
            np.testing.assert_array_equal(epoch[0], np.arange(at + a, at + b + 1))
            np.testing.assert_allclose(epoch, emu.signal(at + a, at + b + 1).T, rtol=1e-6, atol=1e-4)
