"""Where the Epocher's markers come from.

An AnalogTrigger on the signal itself (trigger codes), and the P300 graph file is the example's online loop (same
subject, filter, epochs).
"""

from __future__ import annotations

import numpy as np
import pytest
from bci_helpers import EXAMPLES, FS, load_example
from helpers import wait_until

from lslacq.bci import Epocher
from lslacq.core.stream import OutputStream
from lslacq.dsp import AnalogTrigger


def test_analog_trigger_events_epoch_the_signal_by_code():
    n_ch = 3
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3000, n_ch)) * 5).astype(np.float32)
    x[:, 2] = 0.0
    onsets = [400, 1100, 2100]
    for t in onsets:
        x[t : t + 20, 2] = 1.0  # a TTL pulse on the trigger channel
    sig = OutputStream(name="sig")
    sig.configure(protocol="inproc", dtype="float32", shape=(-1, n_ch), sample_rate=FS)
    trig = AnalogTrigger(name="trig")
    trig.configure(channel=2, threshold=0.5, front="+")
    trig.input.connect(sig)
    trig.output.configure(protocol="inproc")
    trig.initialize()
    ep = Epocher(name="epocher")
    # the trigger's events come after the signal they were found in (another node): here after the whole
    # 12 s signal, sent at once, so the history holds all of it
    ep.configure(
        event_id={"pulse": 1},
        tmin=-0.1,
        tmax=0.3,
        baseline=(None, 0),
        picks=[0, 1],
        dtype="float64",
        buffer_duration=20.0,
    )
    ep.inputs["signals"].connect(sig)
    ep.inputs["events"].connect(trig.output)  # records: code +1 for a rising edge
    ep.initialize()
    nodes = (ep, trig)
    try:
        for node in nodes:
            node.start()
        for k in range(0, len(x), 50):
            sig.send(x[k : k + 50])
        wait_until(lambda: ep.n_epochs == len(onsets), timeout=10, what="3 epochs")
        assert ep.events["index"].tolist() == onsets
        assert ep.events["description"].tolist() == [b"pulse"] * 3 and ep.events["code"].tolist() == [0, 0, 0]
        a, b = int(round(-0.1 * FS)), int(round(0.3 * FS))
        expected = np.stack([x[t + a : t + b + 1, :2].T.astype(np.float64) for t in onsets])
        expected -= expected[:, :, : -a + 1].mean(axis=2, keepdims=True)  # baseline (None, 0): tmin..0 included
        np.testing.assert_allclose(ep.get_data(), expected, atol=1e-9)
        assert ep.error is None and trig.error is None
    finally:
        for node in nodes:
            node.close()
        sig.close()


def test_indexes_trigger_output_is_refused_with_the_fix():
    sig = OutputStream(name="sig")
    sig.configure(protocol="inproc", dtype="float32", shape=(-1, 2), sample_rate=FS)
    trig = AnalogTrigger(name="trig")
    trig.configure(output_format="indexes")
    trig.input.connect(sig)
    trig.output.configure(protocol="inproc")
    ep = Epocher(name="epocher")
    ep.configure(event_id={"pulse": 1})
    try:
        ep.inputs["signals"].connect(sig)
        with pytest.raises(ValueError, match="epocher: input 'events' has dtype int64; it must carry event records"):
            ep.inputs["events"].connect(trig.output)
    finally:
        ep.close()
        trig.close()
        sig.close()


def test_p300_graph_file_is_the_examples_online_loop():
    from lslacq.devices import SimulatedEEG
    from lslacq.dsp import design_sos
    from lslacq.graph import read_graph

    example = load_example("p300_bci")
    nodes = read_graph(EXAMPLES / "graphs" / "p300_online.toml").nodes
    # the same simulated subject: the graph's eeg node and the example's device generate the same session
    graph_dev = SimulatedEEG(name="graph-eeg")
    graph_dev.configure(**nodes["eeg"].configure)
    example_dev = example.make_device(nodes["eeg"].configure["seed"], nodes["eeg"].configure["event_interval"])
    try:
        for _ in range(3):
            (gx, gev), (ex, eev) = graph_dev.simulator.generate(500), example_dev.simulator.generate(500)
            np.testing.assert_array_equal(gx, ex)
            assert gev.tolist() == eev.tolist()
    finally:
        graph_dev.close()
        example_dev.close()
    np.testing.assert_allclose(
        nodes["filt"].configure["coefficients"],
        design_sos("bandpass", list(example.BAND), example.SAMPLE_RATE, order=example.ORDER),
    )
    epo = nodes["epocher"].configure
    assert epo["event_id"] == example.EVENT_ID
    assert (epo["tmin"], epo["tmax"]) == (example.TMIN, example.TMAX)
    assert tuple(epo["baseline"]) == (example.TMIN, example.BASELINE[1])  # the example's (None, 0) written out
    assert nodes["decoder"].type == "Decoder" and nodes["feedback"].type == "LslOutlet"


def test_nodes_registered_by_name():
    from lslacq.bci import Decoder
    from lslacq.core.registry import get_node_type, list_node_types

    assert {"Epocher", "Decoder"} <= set(list_node_types())
    assert get_node_type("Epocher") is Epocher and get_node_type("Decoder") is Decoder
