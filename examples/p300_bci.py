"""A P300 BCI, end to end: calibrate, fit, run online, send the predictions to LSL, print the accuracy.

The graph (both runs)::

    SimulatedEEG --signals--> SosFilter(0.5-20 Hz) --signals--> Epocher --epochs, labels--> Decoder
         \\--events (markers 'target' / 'nontarget')--------------^                           |
                                                                   LslOutlet (string markers) <-- predictions

1. **Calibration**: a simulated oddball (``erp_classes``: targets evoke a P300,
   nontargets none; one target in three) runs for ``--calibration`` seconds; a
   RawRecorder records the filtered signal and the markers.
2. **Fit**: :func:`lslacq.bci.epochs_from_recording` cuts the epochs of that
   recording with the Epocher's own code (the same arrays the online Epocher
   makes), and a scikit-learn pipeline is fitted on them (window means + LDA
   with shrinkage; pyriemann's XdawnCovariances + TangentSpace + logistic
   regression when pyriemann is installed). ``--save-model`` keeps it for
   ``examples/graphs/p300_online.toml``.
3. **Online**: a new session (another seed) runs for ``--online`` seconds; the
   Decoder classifies every epoch as soon as its last sample arrives and the
   LslOutlet publishes each prediction as a string marker (stream
   ``lslacq-P300-predictions``, what a PsychoPy script reads with pylsl).
4. The online predictions are compared with the true classes: accuracy and
   balanced accuracy (chance: 0.5) are printed.

Run: ``python examples/p300_bci.py [--calibration 40] [--online 15] [--seed 0] [--no-lsl]``.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SAMPLE_RATE = 250.0
EVENT_ID = {"nontarget": "nontarget", "target": "target"}
TMIN, TMAX, BASELINE = -0.1, 0.6, (None, 0.0)


def make_device(seed: int, interval: float):
    from lslacq.devices import SimulatedEEG

    dev = SimulatedEEG(name="eeg")
    # an easy subject: a 20 uV P300 over 10 uV of background and alpha, decodable in single trials
    dev.configure(nb_channel=32, sample_rate=SAMPLE_RATE, event_interval=interval, seed=seed,
                  alpha_amplitude=10.0, background_amplitude=10.0, erp_classes={"target": 20.0, "nontarget": 0.0},
                  class_probabilities={"target": 1, "nontarget": 2})
    dev.outputs["signals"].configure(protocol="inproc")
    dev.outputs["events"].configure(protocol="inproc")
    dev.initialize()
    return dev


def make_filter(dev):
    from lslacq.dsp import SosFilter, design_sos

    filt = SosFilter(name="bandpass")
    filt.configure(coefficients=design_sos("bandpass", [0.5, 20.0], SAMPLE_RATE, order=2))
    filt.input.connect(dev.outputs["signals"])
    filt.output.configure(protocol="inproc")
    filt.initialize()
    return filt


def make_model():
    """The classifier: pyriemann's when installed, else window means + shrinkage LDA."""
    from sklearn.pipeline import make_pipeline

    try:
        from pyriemann.estimation import XdawnCovariances
        from pyriemann.tangentspace import TangentSpace
        from sklearn.linear_model import LogisticRegression

        return "pyriemann XdawnCovariances + TangentSpace + LogisticRegression", make_pipeline(
            XdawnCovariances(nfilter=2), TangentSpace(metric="riemann"), LogisticRegression(max_iter=1000))
    except ImportError:
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        from lslacq.bci import WindowMeans

        return "WindowMeans(7) + LDA (shrinkage)", make_pipeline(
            WindowMeans(7), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))


def calibrate(seconds: float, seed: int, interval: float, workdir: Path) -> Path:
    """Run the oddball for ``seconds`` and record the filtered signal and the markers; return the recording."""
    from lslacq.rec import RawRecorder

    dev = make_device(seed, interval)
    filt = make_filter(dev)
    rec = RawRecorder(name="rec")
    path = workdir / "calibration"
    rec.configure(streams={"eeg": filt.output, "markers": dev.outputs["events"]}, dirname=path)
    rec.initialize()
    nodes = (rec, filt, dev)  # readers first: nothing sent is missed
    for node in nodes:
        node.start()
    time.sleep(seconds)  # the experiment runs (this is the session's length, not a synchronisation)
    for node in reversed(nodes):
        node.stop()
    for node in nodes:
        node.close()
    return path


def fit(recording: Path):
    from lslacq.bci import epochs_from_recording

    X, y = epochs_from_recording(recording, "eeg", "markers", EVENT_ID, TMIN, TMAX, BASELINE)
    name, model = make_model()
    model.fit(X, y)
    return name, model, X, y


def run_online(model, seconds: float, seed: int, interval: float, lsl: bool):
    """Run a new session with the fitted model; return (true labels, predicted labels) per epoch."""
    from lslacq.bci import Decoder, Epocher

    dev = make_device(seed, interval)
    filt = make_filter(dev)
    ep = Epocher(name="epocher")
    ep.configure(event_id=EVENT_ID, tmin=TMIN, tmax=TMAX, baseline=BASELINE, max_epochs=10000)
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
    nodes = [dec, ep, filt, dev]
    if lsl:
        from lslacq_lsl import LslOutlet

        outlet = LslOutlet(name="feedback")
        outlet.configure(name="lslacq-P300-predictions", type="Markers")
        outlet.input.connect(dec.outputs["predictions"])
        outlet.initialize()
        nodes.insert(0, outlet)
    predicted: dict[int, str] = {}
    lock = threading.Lock()

    def on_prediction(records, scores):
        with lock:
            for r in records:
                predicted[int(r["index"])] = bytes(r["description"]).decode()

    dec.prediction.connect(on_prediction)
    for node in nodes:
        node.start()
    time.sleep(seconds)
    for node in reversed(nodes):
        node.stop()
    errors = [(n.name, n.error) for n in nodes if n.error is not None]
    truth = {int(e["index"]): bytes(e["description"]).decode() for e in ep.events}
    for node in nodes:
        node.close()
    if errors:
        raise RuntimeError(f"nodes failed: {errors}")
    with lock:
        common = sorted(set(truth) & set(predicted))
        return [truth[i] for i in common], [predicted[i] for i in common]


def scores(y_true, y_pred) -> tuple[float, float]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    accuracy = float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")
    recalls = [np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]
    return accuracy, float(np.mean(recalls)) if recalls else float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", type=float, default=40.0, help="seconds of calibration (default 40)")
    parser.add_argument("--online", type=float, default=15.0, help="seconds of online run (default 15)")
    parser.add_argument("--interval", type=float, default=0.4, help="seconds between stimuli (default 0.4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration (online: seed + 1)")
    parser.add_argument("--save-model", metavar="FILE", help="save the fitted model (joblib) for the graph file")
    parser.add_argument("--no-lsl", action="store_true", help="do not publish the predictions to LSL")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"calibration: {args.calibration:g} s of simulated oddball ...", flush=True)
        recording = calibrate(args.calibration, args.seed, args.interval, Path(tmp))
        name, model, X, y = fit(recording)
    print(f"fitted {name} on {len(X)} epochs {X.shape[1:]} ({int(np.sum(y == 'target'))} targets)")
    if args.save_model:
        import joblib

        joblib.dump(model, args.save_model)
        print(f"model saved to {args.save_model}")
    print(f"online: {args.online:g} s{'' if args.no_lsl else ', predictions to LSL stream lslacq-P300-predictions'}"
          " ...", flush=True)
    y_true, y_pred = run_online(model, args.online, args.seed + 1, args.interval, lsl=not args.no_lsl)
    accuracy, balanced = scores(y_true, y_pred)
    print(f"online epochs: {len(y_true)} ({y_true.count('target')} targets)")
    print(f"online accuracy: {accuracy:.3f}")
    print(f"online balanced accuracy: {balanced:.3f} (chance 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
