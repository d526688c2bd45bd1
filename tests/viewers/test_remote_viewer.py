"""Remote viewers (manual 6.1 dev_remote_viewer_remote): a QOscilloscope in a Qt NodeGroup shows and updates."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import wait_until

from lslacq.core import create_manager


@pytest.mark.slow
def test_oscilloscope_in_a_qt_nodegroup_updates_from_there():
    man = create_manager("rpc", auto_close_at_exit=False)
    try:
        devices = man.create_nodegroup("devices")
        gui = man.create_nodegroup("gui", qt=True)
        dev = devices.create_node("NumpyDeviceBuffer", name="dev0")
        dev.configure(nb_channel=2, sample_interval=0.001, chunksize=20)
        dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        dev.initialize()
        viewer = gui.create_node("QOscilloscope", name="viewer0")
        viewer.configure(with_user_dialog=False)
        viewer.input.connect(dev.output)
        viewer.initialize()
        viewer.params["xsize"] = 1.0
        viewer.params["refresh_interval"] = 20
        viewer.params["background_color"] = "k"
        viewer.show()
        viewer.start()
        dev.start()
        wait_until(
            lambda: (c := viewer.counters())["samples_in"] >= 1500 and c["frames"] >= 5,
            timeout=30,
            interval=0.05,
            what=lambda: f"1500 samples and 5 frames (counters: {viewer.counters()})",
        )
        assert viewer.isVisible()
        image = viewer.grab_array()  # rendered in the GUI process, sent back as an array
        assert isinstance(image, np.ndarray) and image.ndim == 3
        plot = image[: int(image.shape[0] * 0.9), :, :3].astype(int)
        assert (plot.max(axis=2) > 100).sum() > 200  # the sines are drawn on the black background
        # a triggered oscilloscope in the same process, its sub-nodes driven through the proxy
        trig = gui.create_node("QTriggeredOscilloscope", name="trig0")
        trig.configure(with_user_dialog=False)
        trig.input.connect(dev.output)
        trig.initialize()
        trig.trigger.params.update(threshold=0.0, front="+")
        trig.triggeraccumulator.params.update(left_sweep=-0.05, right_sweep=0.1, stack_size=2)
        trig.start()
        wait_until(lambda: trig.counters()["triggers"] >= 3, timeout=30, interval=0.05, what="3 triggers")
        # the Node contract reaches the manager's health report
        nodes = {info["type"]: info for info in gui.health()["nodes"].values()}
        assert nodes["QOscilloscope"]["state"] == "running" and nodes["QOscilloscope"]["error"] is None
        assert nodes["QOscilloscope"]["counters"]["frames"] >= 5
        assert nodes["QTriggeredOscilloscope"]["counters"]["triggers"] >= 3
        dev.stop()
        trig.close()
        viewer.stop()
        viewer.close()
        assert viewer.closed()
    finally:
        man.close()
