"""Epocher node: epochs equal mne.Epochs.

With markers from the same stream (early and late) and from a second real LSL stream placed by LSL timestamps;
outputs, get_data/events, bad configure values.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import wait_until

from lslacq.bci import Epocher
from lslacq.core.stream import InputStream, OutputStream
from lslacq.core.stream.events import EVENT_DTYPE, make_events

mne = pytest.importorskip("mne")

FS = 250.0
N_CH = 3


def _signal(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, N_CH)) * 10 + np.array([5.0, -20.0, 40.0])).astype(np.float32)


def _mne(x, idx, desc, event_id, tmin, tmax, baseline, reject=None):
    info = mne.create_info([f"c{i}" for i in range(x.shape[1])], FS, "eeg")
    raw = mne.io.RawArray(x.T.astype(np.float64), info, verbose="error")
    codes = {lab: i + 1 for i, lab in enumerate(event_id)}
    label_of = {m: lab for lab, m in event_id.items()}
    mev = np.array([[i, 0, codes[label_of[d]]] for i, d in zip(idx, desc, strict=True) if d in label_of], dtype=int)
    return mne.Epochs(
        raw,
        mev,
        codes,
        tmin,
        tmax,
        baseline=baseline,
        preload=True,
        verbose="error",
        reject=None if reject is None else {"eeg": reject},
    )


def _sources():
    sig = OutputStream(name="sig")
    sig.configure(
        protocol="inproc", dtype="float32", shape=(-1, N_CH), sample_rate=FS, channel_names=["Fz", "Cz", "Pz"]
    )
    ev = OutputStream(name="ev")
    ev.configure(protocol="inproc", streamtype="event", dtype=EVENT_DTYPE.descr, shape=(-1,))
    return sig, ev


def _recv_epochs(epochs_in, labels_in, n):
    datas, labs = [], []
    while sum(len(d) for d in datas) < n:
        _, d = epochs_in.recv(timeout=10000)
        datas.append(d)
    while sum(len(lab) for lab in labs) < n:
        _, lab = labels_in.recv(timeout=10000)
        labs.append(lab)
    return np.concatenate(datas), np.concatenate(labs)


@pytest.mark.parametrize("when", ["early", "late"])
def test_epocher_same_stream_equals_mne_epochs(when):
    n = 5000
    x = _signal(n)
    idx = np.arange(100, 4800, 173)
    desc = ["target" if k % 3 == 0 else "nontarget" for k in range(len(idx))]
    event_id = {"target": "target", "nontarget": "nontarget"}
    sig, ev = _sources()
    ep = Epocher(name="epocher")
    ep.configure(
        event_id=event_id, tmin=-0.1, tmax=0.6, baseline=(None, 0), dtype="float64", max_epochs=5, buffer_duration=30.0
    )  # 'late' markers come after the whole 20 s signal
    ep.inputs["signals"].connect(sig)
    ep.inputs["events"].connect(ev)
    ep.outputs["epochs"].configure(protocol="inproc")
    ep.outputs["labels"].configure(protocol="inproc")
    ep.initialize()
    epochs_in, labels_in = InputStream(), InputStream()
    epochs_in.connect(ep.outputs["epochs"])
    labels_in.connect(ep.outputs["labels"])
    assert tuple(epochs_in.params["shape"]) == (-1, N_CH, 176)  # 0.7 s at 250 Hz, tmax inclusive
    assert epochs_in.params["channel_names"] == ["Fz", "Cz", "Pz"]
    assert labels_in.params["event_id"] == event_id
    ep.start()
    try:
        events = make_events(idx, type="marker", description=desc)
        if when == "early":
            ev.send(events)
            wait_until(lambda: len(ep.engine.pending) == len(idx), timeout=10, what="markers received")
        for k in range(0, n, 50):
            sig.send(x[k : k + 50])
        if when == "late":
            wait_until(lambda: ep.engine.signal_end == n, timeout=10, what="signal received")
            for k in range(len(idx)):  # one marker per chunk, all after their signal
                ev.send(events[k : k + 1])
        data, labels = _recv_epochs(epochs_in, labels_in, len(idx))
        ref = _mne(x, idx, desc, event_id, -0.1, 0.6, (None, 0))
        np.testing.assert_allclose(data, ref.get_data(), atol=1e-6)
        assert labels["index"].tolist() == ref.events[:, 0].tolist()
        assert labels["code"].tolist() == (ref.events[:, 2] - 1).tolist()
        assert [d.decode() for d in labels["description"]] == desc
        # in process: the last max_epochs, oldest first, with their records
        np.testing.assert_allclose(ep.get_data(), ref.get_data()[-5:], atol=1e-6)
        np.testing.assert_allclose(ep.get_data(2), ref.get_data()[-2:], atol=1e-6)
        assert ep.events["index"].tolist() == ref.events[-5:, 0].tolist()
        assert len(ref) == len(idx) and ep.n_epochs == len(idx) and ep.error is None
    finally:
        ep.close()
        for s in (epochs_in, labels_in, sig, ev):
            s.close()


def test_epocher_reject_and_codes():
    x = _signal(3000)
    x[1040, 1] += 500.0  # inside the epoch of the marker at 1000
    sig, ev = _sources()
    ep = Epocher(name="ep")
    ep.configure(event_id={"left": 1, "right": "S  2"}, tmin=0.0, tmax=0.4, reject=200.0)
    ep.inputs["signals"].connect(sig)
    ep.inputs["events"].connect(ev)
    ep.initialize()  # no output configured: in-process only
    ep.start()
    try:
        ev.send(make_events([500, 1000, 1500, 2000], description=["S  1", "S  1", "S  2", "S  3"], code=[1, 1, 2, 3]))
        wait_until(lambda: len(ep.engine.pending) == 3, timeout=10, what="markers received")
        sig.send(x)
        wait_until(lambda: ep.n_epochs + ep.n_rejected == 3, timeout=10, what="3 epochs")
        assert ep.n_rejected == 1 and ep.n_ignored == 1
        assert ep.events["index"].tolist() == [500, 1500]
        assert ep.events["description"].tolist() == [b"left", b"right"]
        assert ep.get_data().dtype == np.float32 and ep.get_data().shape == (2, N_CH, 101)
        np.testing.assert_allclose(ep.get_data()[1], x[1500:1601].T, atol=1e-6)
    finally:
        ep.close()
        sig.close()
        ev.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(), "needs event_id"),
        (dict(event_id={"a": "a"}, tmin=0.5, tmax=0.1), "less than or equal"),
        (dict(event_id={"a": "a"}, baseline=(None, 0), tmin=0.0), "one-sample baseline"),
        (dict(event_id={"a": [1]}), "must be a str"),
        (dict(event_id={"a": "a"}, reject=-1.0), "reject"),
        (dict(event_id={"a": "a"}, tmin="x"), "tmin"),
    ],
)
def test_bad_configure_values(kwargs, match):
    ep = Epocher(name="bad")
    with pytest.raises((ValueError, TypeError), match=match):
        ep.configure(**kwargs)


def test_picks_checked_when_the_signal_connects():
    sig, ev = _sources()
    ep = Epocher(name="picky")
    ep.configure(event_id=["a"], picks=["Oz"])
    try:
        with pytest.raises(ValueError, match="no channel named 'Oz'"):
            ep.inputs["signals"].connect(sig)
    finally:
        ep.close()
        sig.close()
        ev.close()


# -- markers from a second LSL stream ---------------------------------------------------------------------


@pytest.mark.slow
def test_markers_of_another_lsl_stream_placed_by_timestamps():
    pylsl = pytest.importorskip("pylsl")
    import uuid

    from lslacq_lsl import LslInlet

    name = f"lslacq-bci-{uuid.uuid4().hex[:8]}"
    info = pylsl.StreamInfo(name + "-eeg", "EEG", N_CH, FS, "float32", name + "-eeg-sid")
    eeg_out = pylsl.StreamOutlet(info)
    mk_out = pylsl.StreamOutlet(pylsl.StreamInfo(name + "-mk", "Markers", 1, 0, "string", name + "-mk-sid"))
    eeg = LslInlet(name="eeg")
    eeg.configure(name=name + "-eeg", resolve_timeout=10)
    mk = LslInlet(name="mk")
    mk.configure(name=name + "-mk", resolve_timeout=10)
    for node in (eeg, mk):
        node.outputs["signals"].configure(protocol="inproc")
        node.outputs["timestamps"].configure(protocol="inproc")
    ep = Epocher(name="lsl-epocher")
    ep.configure(
        event_id=["target", "nontarget"],
        tmin=-0.1,
        tmax=0.5,
        baseline=(None, 0),
        dtype="float64",
        timestamps=True,
        buffer_duration=20.0,
    )
    ep.inputs["signals"].connect(eeg.outputs["signals"])
    ep.inputs["signal_timestamps"].connect(eeg.outputs["timestamps"])
    ep.inputs["events"].connect(mk.outputs["signals"])
    ep.inputs["event_timestamps"].connect(mk.outputs["timestamps"])
    nodes = (eeg, mk, ep)
    try:
        for node in nodes:
            node.initialize()
        for node in nodes:
            node.start()
        # the outlets as defaults: the finally block deletes the names (closing the outlets)
        wait_until(
            lambda e=eeg_out, m=mk_out: e.have_consumers() and m.have_consumers(), timeout=10, what="LSL consumers"
        )
        n = 2500
        x = _signal(n, seed=3)
        t0 = pylsl.local_clock() - 20.0
        ts = t0 + np.arange(n) / FS
        marks = np.array([100, 333, 600, 1207, 1800, 2300])
        # marker times a little off the samples: +-0.3 of a period, nearest is still the sample
        offsets = np.array([0.3, -0.3, 0.2, -0.2, 0.0, 0.3]) / FS
        desc = ["target", "nontarget", "target", "nontarget", "target", "nontarget"]
        # three markers before their signal, three after it
        for k in range(3):
            mk_out.push_sample([desc[k]], float(ts[marks[k]] + offsets[k]))
        wait_until(lambda: ep.engine.aligner.n_pending == 3, timeout=10, what="early markers received")
        for k in range(0, n, 25):
            eeg_out.push_chunk(x[k : k + 25], timestamp=list(ts[k : k + 25]))
        wait_until(lambda: ep.engine.signal_end == n, timeout=20, what="signal received")
        for k in range(3, 6):
            mk_out.push_sample([desc[k]], float(ts[marks[k]] + offsets[k]))
        wait_until(lambda: ep.n_epochs == 6, timeout=20, what="6 epochs")
        ref = _mne(x, marks, desc, ep.engine.event_id, -0.1, 0.5, (None, 0))
        assert ep.events["index"].tolist() == marks.tolist()
        assert [d.decode() for d in ep.events["description"]] == desc
        np.testing.assert_allclose(ep.get_data(), ref.get_data(), atol=1e-6)
        assert ep.error is None and eeg.error is None and mk.error is None
    finally:
        for node in reversed(nodes):
            node.close()
        del eeg_out, mk_out
