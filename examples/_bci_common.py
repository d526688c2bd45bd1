r"""What examples/p300_bci.py and examples/mi_bci.py share: the graph, the calibration recording, the session runner.

Both examples run the same loop on a simulated subject (only the paradigm, the
band-pass, the epochs and the model differ)::

    SimulatedEEG --signals--> SosFilter --signals--> Epocher --epochs, labels--> Decoder
         \--events (markers named after the classes)--^                          |
                                                         LslOutlet (string markers) <-- predictions

* :func:`record_calibration`: SimulatedEEG -> SosFilter, a RawRecorder records
  the filtered signal and the markers (what :func:`lslacq.bci.epochs_from_recording`
  reads back);
* :func:`run_online`: SimulatedEEG -> SosFilter -> Epocher -> Decoder (->
  LslOutlet), returns the true and the predicted class of every epoch;
* :func:`run_for`: a session lasts until the device has sent a number of samples
  (simulated time: ``SimulatedEEG.configure(speed=8)`` runs it 8x faster).

Everything runs in this process (``inproc`` streams); with a real amplifier
replace the device (an ``LslInlet`` or ``BrainAmpSocket``), the rest is the same.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np


def make_filter(dev, band: tuple[float, float], order: int, name: str = "bandpass"):
    """Return a band-pass SosFilter on the device's signal (an inproc output)."""
    from lslacq.dsp import SosFilter, design_sos

    filt = SosFilter(name=name)
    filt.configure(coefficients=design_sos("bandpass", list(band), dev.sample_rate, order=order))
    filt.input.connect(dev.outputs["signals"])
    filt.output.configure(protocol="inproc")
    filt.initialize()
    return filt


def run_for(nodes, dev, n_samples: int) -> None:
    """Start ``nodes`` (readers first), wait until ``dev`` has sent ``n_samples`` samples, stop them."""
    for node in nodes:
        node.start()
    # the session lasts until its last sample is sent (simulated time: speed x faster than real time)
    deadline = time.monotonic() + 2 * n_samples / (dev.sample_rate * dev.speed) + 30
    while dev.n_sent < n_samples and time.monotonic() < deadline:
        time.sleep(0.05)  # the session runs (its length, not a synchronisation)
    for node in reversed(nodes):
        node.stop()


def record_calibration(dev, filt, n_samples: int, workdir: Path) -> Path:
    """Record ``n_samples`` of the filtered signal and the device's markers; return the recording's folder."""
    from lslacq.rec import RawRecorder

    rec = RawRecorder(name="rec")
    path = Path(workdir) / "calibration"
    rec.configure(streams={"eeg": filt.output, "markers": dev.outputs["events"]}, dirname=path)
    rec.initialize()
    nodes = (rec, filt, dev)
    run_for(nodes, dev, n_samples)
    for node in nodes:
        node.close()
    return path


def fit(recording: Path, model, event_id: dict, tmin: float, tmax: float, baseline=None, picks=None):
    """Cut the calibration's epochs with the Epocher's own code and fit ``model`` on them; return ``(X, y)``."""
    from lslacq.bci import epochs_from_recording

    X, y = epochs_from_recording(recording, "eeg", "markers", event_id, tmin, tmax, baseline, picks=picks)
    model.fit(X, y)
    return X, y


def run_online(
    dev,
    filt,
    model,
    n_samples: int,
    event_id: dict,
    tmin: float,
    tmax: float,
    baseline=None,
    picks=None,
    lsl_name: str | None = None,
) -> tuple[list[str], list[str]]:
    """Run the online loop for ``n_samples``; predictions to the LSL marker stream ``lsl_name`` (if given).

    Returns the true labels (the markers) and the predicted labels of every epoch, in trigger order.
    """
    from lslacq.bci import Decoder, Epocher

    ep = Epocher(name="epocher")
    ep.configure(event_id=event_id, tmin=tmin, tmax=tmax, baseline=baseline, picks=picks, max_epochs=10000)
    ep.inputs["signals"].connect(filt.output)
    ep.inputs["events"].connect(dev.outputs["events"])
    ep.outputs["epochs"].configure(protocol="inproc")
    ep.outputs["labels"].configure(protocol="inproc")
    ep.initialize()
    dec = Decoder(name="decoder")
    dec.configure(model=model)
    dec.inputs["epochs"].connect(ep.outputs["epochs"])
    dec.inputs["labels"].connect(ep.outputs["labels"])
    dec.outputs["predictions"].configure(protocol="inproc")
    dec.initialize()
    nodes = [dec, ep, filt, dev]  # readers first: nothing sent is missed
    if lsl_name:
        from lslacq_lsl import LslOutlet

        outlet = LslOutlet(name="feedback")
        outlet.configure(name=lsl_name, type="Markers")
        outlet.input.connect(dec.outputs["predictions"])
        outlet.initialize()
        nodes.insert(0, outlet)
    predicted: dict[int, str] = {}
    lock = threading.Lock()

    def on_prediction(records, scores):  # in the Decoder's thread
        with lock:
            for r in records:
                predicted[int(r["index"])] = bytes(r["description"]).decode()

    dec.prediction.connect(on_prediction)
    run_for(nodes, dev, n_samples)
    errors = [(n.name, n.error) for n in nodes if n.error is not None]
    truth = {int(e["index"]): bytes(e["description"]).decode() for e in ep.events}
    for node in nodes:
        node.close()
    if errors:
        raise RuntimeError(f"nodes failed: {errors}")
    with lock:
        common = sorted(set(truth) & set(predicted))
        return [truth[i] for i in common], [predicted[i] for i in common]


def save_model(model, path: str | None) -> None:
    """``--save-model FILE``: the fitted model as a joblib file (``Decoder.configure(model=FILE)``)."""
    if path:
        import joblib

        joblib.dump(model, path)
        print(f"model saved to {path}")


def accuracy(y_true, y_pred) -> tuple[float, float]:
    """``(accuracy, balanced accuracy)`` (the mean of the per-class recalls; chance 1 / n_classes)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if not len(y_true):
        return float("nan"), float("nan")
    recalls = [np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]
    return float(np.mean(y_true == y_pred)), float(np.mean(recalls))
