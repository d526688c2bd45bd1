"""Feedback: the Decoder's predictions as LSL string markers read with pylsl (as PsychoPy does).

And the last prediction in a dareplane module's STATUS.
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from bci_helpers import EVENT_ID, p300_session, send_session, sources
from helpers import wait_until

from lslacq.bci import Decoder, Epocher, WindowMeans
from lslacq.bci.engine import EpochingEngine

sklearn = pytest.importorskip("sklearn")
pylsl = pytest.importorskip("pylsl")
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

TMIN, TMAX = -0.1, 0.6


def _offline(data, events):
    eng = EpochingEngine(data.shape[1], 250.0, EVENT_ID, TMIN, TMAX, baseline=(None, 0), buffer_size=len(data))
    eng.add_events(events)
    X, labels = eng.feed(len(data), data)
    return X, np.array([d.decode() for d in labels["description"]]), labels


@pytest.fixture(scope="module")
def fitted():
    data, events, names = p300_session(40.0, seed=21)
    X, y, _ = _offline(data, events)
    return make_pipeline(WindowMeans(7), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")).fit(X, y)


def _graph(sig, ev, model):
    ep = Epocher(name="epocher")
    ep.configure(event_id=EVENT_ID, tmin=TMIN, tmax=TMAX, baseline=(None, 0))
    ep.inputs["signals"].connect(sig)
    ep.inputs["events"].connect(ev)
    ep.outputs["epochs"].configure(protocol="inproc")
    ep.outputs["labels"].configure(protocol="inproc")
    dec = Decoder(name="decoder")
    dec.configure(model=model)
    dec.inputs["epochs"].connect(ep.outputs["epochs"])
    dec.inputs["labels"].connect(ep.outputs["labels"])
    dec.outputs["predictions"].configure(protocol="inproc")
    return ep, dec


@pytest.mark.slow
def test_predictions_reach_a_pylsl_inlet_as_string_markers(fitted):
    from lslacq_lsl import LslOutlet

    data, events, names = p300_session(20.0, seed=22)
    X, y, labels = _offline(data, events)
    sig, ev = sources(data.shape[1], names)
    ep, dec = _graph(sig, ev, fitted)
    name = f"lslacq-bci-feedback-{uuid.uuid4().hex[:8]}"
    outlet = LslOutlet(name="feedback")
    outlet.configure(name=name, type="Markers")
    outlet.input.connect(dec.outputs["predictions"])
    nodes = (outlet, dec, ep)
    inlet = None
    try:
        for node in reversed(nodes):
            node.initialize()
        for node in nodes:
            node.start()
        found = pylsl.resolve_byprop("name", name, 1, 10.0)
        assert found, f"LSL stream {name} not found"
        assert found[0].channel_format() == pylsl.cf_string and found[0].type() == "Markers"
        inlet = pylsl.StreamInlet(found[0])
        inlet.open_stream(timeout=10.0)
        wait_until(outlet.have_consumers, timeout=10, what="the pylsl inlet connected")
        send_session(sig, ev, data, events, ep)
        markers, stamps = [], []

        def pull():
            samples, times = inlet.pull_chunk(timeout=0.1)
            markers.extend(sample[0] for sample in samples)
            stamps.extend(times)
            return len(markers) >= len(X)

        wait_until(pull, timeout=30, what=f"{len(X)} prediction markers")
        assert markers == fitted.predict(X).tolist()
        assert all(np.diff(stamps) > 0)  # one timestamp per prediction, in trigger order
        assert dec.error is None and outlet.error is None
    finally:
        if inlet is not None:
            inlet.close_stream()
        for node in nodes:
            node.close()
        sig.close()
        ev.close()


def test_last_prediction_in_a_dareplane_module_status(fitted):
    from lslacq_dareplane import GraphModule

    data, events, names = p300_session(8.0, seed=23)
    X, y, labels = _offline(data, events)
    sig, ev = sources(data.shape[1], names)
    nodes = list(_graph(sig, ev, fitted))
    ep = nodes[0]
    mod = GraphModule(lambda: nodes, name="p300", port=0)
    try:
        mod.start()
        send_session(sig, ev, data, events, ep)
        status = wait_until(
            lambda: (
                (s := json.loads(json.dumps(mod.status_dict(), default=str)))["nodes"]["decoder"]["counters"][
                    "n_predicted"
                ]
                == len(X)
                and s
            ),
            timeout=20,
            what="all predictions in STATUS",
        )
        counters = status["nodes"]["decoder"]["counters"]
        assert counters["last_prediction"] == fitted.predict(X[-1:])[0]
        assert counters["last_prediction_index"] == int(labels["index"][-1])
        np.testing.assert_allclose(counters["last_scores"], fitted.predict_proba(X[-1:])[0], atol=1e-5)
        assert status["nodes"]["epocher"]["counters"]["n_epochs"] == len(X)
    finally:
        mod.close()
        sig.close()
        ev.close()
