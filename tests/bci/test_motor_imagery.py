"""The motor-imagery walkthrough of docs/bci.md.

BrainVision-style markers matched by code, mne's CSP + LDA through the Decoder, fitted online with fit_after.
"""

from __future__ import annotations

import numpy as np
import pytest
from bci_helpers import reader, recv_n, sources
from helpers import wait_until

from lslacq.bci import Decoder, Epocher
from lslacq.core.stream.events import make_events

pytest.importorskip("sklearn")
decoding = pytest.importorskip("mne.decoding")
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

FS = 250.0


def _mi_session(n_trials=80, seed=0):
    """4 channels of noise; 'left' trials (marker S  1) carry a 12 Hz rhythm on channel 0, 'right' (S  2) on 1."""
    rng = np.random.default_rng(seed)
    trial = int(4 * FS)
    data = rng.standard_normal((n_trials * trial + trial, 4)).astype(np.float32) * 5
    onsets = np.arange(n_trials) * trial + int(FS)
    classes = rng.integers(1, 3, n_trials)
    t = np.arange(int(2 * FS)) / FS
    for onset, c in zip(onsets, classes, strict=True):
        data[onset + int(0.5 * FS) : onset + int(2.5 * FS), c - 1] += (8 * np.sin(2 * np.pi * 12 * t)).astype(
            np.float32
        )
    events = make_events(onsets, type="Stimulus", description=[f"S{c:3d}" for c in classes], code=classes)
    return data, events, classes


def test_motor_imagery_csp_lda_fit_after():
    data, events, classes = _mi_session()
    sig, ev = sources(4)
    ep = Epocher(name="epocher")
    ep.configure(event_id={"left": 1, "right": 2}, tmin=0.5, tmax=2.5)  # codes of 'S  1' / 'S  2'
    ep.inputs["signals"].connect(sig)
    ep.inputs["events"].connect(ev)
    ep.outputs["epochs"].configure(protocol="inproc")
    ep.outputs["labels"].configure(protocol="inproc")
    ep.initialize()
    dec = Decoder(name="decoder")
    dec.configure(model=make_pipeline(decoding.CSP(n_components=2), LinearDiscriminantAnalysis()), fit_after=40)
    dec.inputs["epochs"].connect(ep.outputs["epochs"])
    dec.inputs["labels"].connect(ep.outputs["labels"])
    dec.outputs["predictions"].configure(protocol="inproc")
    dec.initialize()
    preds_in = reader(dec.outputs["predictions"])
    try:
        dec.start()
        ep.start()
        ev.send(events)
        wait_until(lambda: len(ep.engine.pending) == len(events), timeout=20, what="the markers in the Epocher")
        for k in range(0, len(data), 250):
            sig.send(data[k : k + 250])
        preds = recv_n(preds_in, 40)
        truth = np.where(classes[40:] == 1, "left", "right")
        accuracy = np.mean(np.array([p.decode() for p in preds["description"]]) == truth)
        assert accuracy > 0.9
        assert preds["index"].tolist() == events["index"][40:].tolist()
    finally:
        preds_in.close()
        dec.close()
        ep.close()
        sig.close()
        ev.close()
