"""The first epoch of a live session costs what the later ones cost (issue 27's start-up stall).

The Epocher's signal history (n_channels x buffer_duration of samples: 92 MB at 384 ch x 2 s x 30 kHz) was
allocated by the first chunk, whose write then faulted in every page of it: 10-40 ms on an idle machine,
0.1-2 s for the first big allocation of a process on the busy 2-core VM, while the first epochs waited. It is
now allocated and faulted in at start (``EpochingEngine.prepare``), so the first chunk faults no page in;
measured as the minor page faults of the thread that processes the chunk (``RUSAGE_THREAD``, Linux), which
unlike a time does not depend on the load of the machine. The Decoder runs its model once at start
(warm-up), so the first epoch does not pay for the model's first call either.
"""

from __future__ import annotations

import resource
import threading

import numpy as np
import pytest
from helpers import wait_until

from lslacq.bci import Decoder, Epocher
from lslacq.bci.engine import EpochingEngine
from lslacq.core.stream import InputStream, OutputStream
from lslacq.core.stream.events import EVENT_DTYPE, make_events

pytestmark = pytest.mark.skipif(not hasattr(resource, "RUSAGE_THREAD"), reason="RUSAGE_THREAD is Linux-only")

N_CH, FS, CHUNK = 384, 30000.0, 300
HISTORY = 1.0  # s: 46 MB of float32 history, at least 23 huge pages or 384 small ones touched by a first write
FEW = 10  # page faults a chunk may cause on its own (none are expected)


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt


def _engine() -> EpochingEngine:
    return EpochingEngine(N_CH, FS, {"stim": "stim"}, -0.01, 0.05, buffer_size=int(HISTORY * FS))


def _chunk_faults(engine: EpochingEngine, end: int, x: np.ndarray) -> int:
    before = _faults()
    engine.feed(end, x)
    return _faults() - before


def test_prepare_faults_the_history_in_before_the_first_chunk():
    x = np.ones((CHUNK, N_CH), np.float32)  # touched: its own pages are not counted
    lazy = _engine()
    assert _chunk_faults(lazy, CHUNK, x) >= 2 * FEW  # the stall this guards against: the control
    del lazy
    eng = _engine()
    eng.prepare(np.float32)
    assert eng.signal_end is None  # allocated, no sample yet
    assert _chunk_faults(eng, CHUNK, x) < FEW
    assert _chunk_faults(eng, 2 * CHUNK, x) < FEW


def test_reset_keeps_the_prepared_history_and_cuts_the_same_epochs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6000, N_CH)).astype(np.float32)
    events = make_events(np.array([1000, 2500, 4000]), type="Stimulus", description="stim")

    def run(engine):
        engine.add_events(events)
        parts = [engine.feed(k + CHUNK, x[k : k + CHUNK]) for k in range(0, len(x), CHUNK)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    fresh_epochs, fresh_labels = run(_engine())
    eng = _engine()
    eng.prepare(np.float32)
    memory = eng._ring.data
    run(eng)
    eng.reset()
    assert eng.signal_end is None and eng.n_epochs == 0
    eng.prepare(np.float32)  # same dtype: nothing to do
    assert eng._ring.data is memory
    assert _chunk_faults(eng, 7 * CHUNK, x[:CHUNK]) < FEW  # a restart reuses the faulted-in memory
    eng.reset()
    epochs, labels = run(eng)
    assert eng._ring.data is memory
    np.testing.assert_array_equal(epochs, fresh_epochs)
    assert labels["index"].tolist() == fresh_labels["index"].tolist() == [1000, 2500, 4000]


class _FaultCountingEpocher(Epocher):
    """An Epocher that counts the page faults of its thread while it processes each signal chunk."""

    def _process(self, input_name, index, data):
        if input_name != "signals":
            return super()._process(input_name, index, data)
        before = _faults()
        super()._process(input_name, index, data)
        self.chunk_faults.append(_faults() - before)


@pytest.mark.slow  # a 46 MB history faulted in at start: up to a second or two on the busy CI machine
def test_started_epocher_processes_its_first_chunk_without_faulting_its_history_in():
    sig = OutputStream(name="sig")
    sig.configure(protocol="inproc", dtype="float32", shape=(-1, N_CH), sample_rate=FS)
    ev = OutputStream(name="ev")
    ev.configure(protocol="inproc", streamtype="event", dtype=EVENT_DTYPE.descr, shape=(-1,), sample_rate=FS)
    ep = _FaultCountingEpocher(name="epocher")
    ep.chunk_faults = []
    ep.configure(event_id={"stim": "stim"}, tmin=-0.01, tmax=0.05, baseline=(None, 0), buffer_duration=HISTORY)
    ep.inputs["signals"].connect(sig)
    ep.inputs["events"].connect(ev)
    ep.outputs["epochs"].configure(protocol="inproc")
    ep.outputs["labels"].configure(protocol="inproc")
    ep.initialize()
    epochs_in = InputStream()
    epochs_in.connect(ep.outputs["epochs"])
    x = np.ones((CHUNK, N_CH), np.float32)
    try:
        ep.start()
        ev.send(make_events(np.array([600]), type="Stimulus", description="stim"))
        wait_until(lambda: len(ep.engine.pending) == 1, timeout=10, what="the marker in the Epocher")
        for k in range(1, 11):  # 10 chunks, one at a time (no catch-up merging)
            sig.send(x, index=k * CHUNK)
            wait_until(lambda k=k: len(ep.chunk_faults) == k, timeout=10, what=f"chunk {k} processed")
        _, epoch = epochs_in.recv(timeout=10000)
        assert epoch.shape == (1, N_CH, 1801)
        assert ep.error is None
        # the chunks before the epoch starts (its own buffer is allocated at chunk 3, 50 ms before it is
        # complete): the first one faulted the history in (>= 23 faults), now neither faults anything in
        assert ep.chunk_faults[0] < FEW and ep.chunk_faults[1] < FEW, ep.chunk_faults
    finally:
        ep.stop()
        ep.close()
        epochs_in.close()
        sig.close()
        ev.close()


class _CountingModel:
    """A fitted classifier of (n, 4, 10) epochs that counts its calls (from any thread)."""

    classes_ = np.array(["a", "b"])
    epoch_shape_ = (4, 10)

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def predict(self, X):
        return self.classes_[(np.asarray(X).mean(axis=(1, 2)) > 0).astype(int)]

    def predict_proba(self, X):
        with self.lock:
            self.calls.append(np.asarray(X).shape)
        p = (np.asarray(X).mean(axis=(1, 2)) > 0).astype(float)
        return np.column_stack([1 - p, p])


def test_decoder_start_calls_the_model_once_before_any_epoch_and_sends_nothing():
    epochs = OutputStream(name="epochs")
    epochs.configure(protocol="inproc", dtype="float32", shape=(-1, 4, 10), sample_rate=FS)
    labels = OutputStream(name="labels")
    labels.configure(protocol="inproc", streamtype="event", dtype=EVENT_DTYPE.descr, shape=(-1,), sample_rate=FS)
    model = _CountingModel()
    dec = Decoder(name="decoder")
    dec.configure(model=model)
    dec.inputs["epochs"].connect(epochs)
    dec.inputs["labels"].connect(labels)
    dec.outputs["predictions"].configure(protocol="inproc")
    dec.initialize()
    preds_in = InputStream()
    preds_in.connect(dec.outputs["predictions"])
    try:
        dec.start()
        assert model.calls == [(1, 4, 10)]  # the warm-up, during start()
        assert dec.n_predicted == 0 and not preds_in.poll(50)  # its result is not sent
        lab = make_events(np.array([100]), type="Stimulus", description="a")
        labels.send(lab, index=1)
        epochs.send(np.ones((1, 4, 10), np.float32), index=1)
        _, pred = preds_in.recv(timeout=10000)
        assert pred["description"].tolist() == [b"b"] and pred["index"].tolist() == [100]
        assert model.calls == [(1, 4, 10), (1, 4, 10)] and dec.n_predicted == 1
    finally:
        dec.stop()
        dec.close()
        preds_in.close()
        epochs.close()
        labels.close()
