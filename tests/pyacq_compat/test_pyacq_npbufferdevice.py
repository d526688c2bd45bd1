"""pyacq's ``pyacq/devices/tests/test_npbufferdevice.py``, renamed to lslacq."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import wait_until

from lslacq import create_manager


@pytest.mark.slow
def test_npbufferdevice():
    man = create_manager(auto_close_at_exit=False)
    try:
        # pyacq's FakeReceiver is paced by a QTimer (docs/porting.md, "Processes")
        nodegroup = man.create_nodegroup(qt=True)
        sigs = np.random.default_rng().standard_normal((2560, 7)).astype("float64")
        dev = nodegroup.create_node("NumpyDeviceBuffer", name="dev")
        dev.configure(nb_channel=7, sample_interval=0.0001, chunksize=256, buffer=sigs)
        dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        dev.initialize()
        nodegroup.register_node_type_from_module("pyacq_fakenodes", "FakeReceiver")
        receivers = [nodegroup.create_node("FakeReceiver", name=f"receiver{i}") for i in range(3)]
        for receiver in receivers:
            receiver.configure()
            receiver.input.connect(dev.output)
            receiver.initialize()
        channel_info = receivers[0].input.params["channel_info"]
        assert len(channel_info) == 7
        nodegroup.start_all_nodes()
        wait_until(lambda: all(r.received()[0] >= 3 for r in receivers), 20, 0.05, "3 chunks in every receiver")
        nodegroup.stop_all_nodes()
    finally:
        man.close()
