"""DSP nodes in a remote NodeGroup (created by name through the Manager), driven through RPC proxies."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from helpers import wait_until

from lslacq.core import create_manager
from lslacq.core.stream import InputStream, OutputStream
from lslacq.dsp import EVENT_DTYPE, design_sos
from lslacq.errors import RemoteCallError

SR = 1000.0


def _recv_events(inp, n, timeout_ms=20_000):
    events = []
    while len(events) < n:
        _, data = inp.recv(timeout=timeout_ms)
        events.extend(np.array(data).tolist())
    return np.array(events, dtype=EVENT_DTYPE)


@pytest.fixture
def manager():
    man = create_manager("rpc", auto_close_at_exit=False)
    yield man
    man.close()


@pytest.mark.slow
def test_filter_trigger_accumulator_graph_in_a_nodegroup(manager):
    n, nch = 3000, 2
    sig = np.zeros((n, nch), "float32")
    onsets = [300, 800, 1300, 1800]
    for t in onsets + [2300]:  # the last pulse comes after the online changes
        sig[t : t + 100, 0] = 1.0
    sig[:, 1] = np.arange(n)  # channel 1 tells the sample index
    lowpass = design_sos("lowpass", 100.0, SR, order=2)
    filtered = scipy.signal.sosfilt(lowpass, sig.astype(float), axis=0)
    expected = (np.flatnonzero((filtered[: 2000 - 1, 0] <= 0.5) & (filtered[1:2000, 0] > 0.5)) + 1).tolist()
    assert len(expected) == len(onsets)

    src = OutputStream(name="src")
    src.configure(protocol="tcp", dtype="float32", shape=(-1, nch), sample_rate=SR)
    events_in = InputStream(name="events-in")
    ng = manager.create_nodegroup("dsp")
    try:
        filt = ng.create_node("SosFilter", name="lp")
        filt.configure(coefficients=lowpass)
        filt.input.connect(src.params.to_dict())
        filt.output.configure(protocol="tcp")
        filt.initialize()

        trig = ng.create_node("AnalogTrigger", name="trig")
        trig.configure(channel=0, threshold=0.5, front="+")
        trig.input.connect(filt.output)
        trig.output.configure(protocol="tcp")
        trig.initialize()

        acc = ng.create_node("TriggerAccumulator", name="acc")
        acc.configure(max_stack_size=10, left_sweep=-0.05, right_sweep=0.15, stack_size=10)
        acc.inputs["signals"].connect(filt.output)
        acc.inputs["events"].connect(trig.output)
        acc.initialize()

        events_in.connect(trig.output)
        ng.start_all_nodes()
        src.wait_for_subscribers(1, timeout=30)
        for i in range(0, 2000, 125):
            src.send(sig[i : i + 125], index=i + 125)

        events = _recv_events(events_in, 4)
        assert events["index"].tolist() == expected
        wait_until(lambda: acc.total_trig == 4, what="4 epochs")
        epochs = acc.get_epochs()
        assert epochs.shape == (4, nch, 200)
        # channel 1 low-passed is a delayed ramp; the epochs start 50 samples before each trigger
        np.testing.assert_allclose(
            epochs[:, 1, :], np.stack([filtered[t - 50 : t + 150, 1] for t in expected]), rtol=1e-5, atol=1e-3
        )

        # online parameters through the proxies, validated remotely
        trig.params["front"] = "-"
        with pytest.raises(RemoteCallError, match="out of range|does not exist"):
            trig.params["channel"] = 5
        filt.params["coefficients"] = design_sos("lowpass", 50.0, SR, order=4)
        acc.set_params(left_sweep=0.0, right_sweep=0.1)
        assert acc.size == 100 and acc.total_trig == 0
        for i in range(2000, 3000, 125):
            src.send(sig[i : i + 125], index=i + 125)
        falling = _recv_events(events_in, 1)
        assert falling["code"].tolist() == [-1] and 2400 < falling["index"][0] < 2430
        wait_until(lambda: acc.total_trig == 1, what="1 epoch")
        assert [filt.error, trig.error, acc.error] == [None, None, None]
    finally:
        ng.stop_all_nodes()
        events_in.close()
        src.close()
