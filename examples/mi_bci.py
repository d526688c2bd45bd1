"""A motor-imagery BCI, end to end: calibrate, fit, run online, send the predictions to LSL, print the accuracy.

The graph (both runs)::

    SimulatedEEG --signals--> SosFilter(8-30 Hz) --signals--> Epocher --epochs, labels--> Decoder
         \\--events (cues 'left' / 'right')---------------------^                          |
                                                                 LslOutlet (string markers) <-- predictions

1. **Calibration**: a simulated subject imagines moving the left or the right
   hand after each cue (``mi_classes``: the mu/beta rhythm over C4 resp. C3,
   the hemisphere opposite the hand, desynchronises during the imagery); a
   RawRecorder records the filtered signal and the cues for ``--trials``
   trials.
2. **Fit**: :func:`lslacq.bci.epochs_from_recording` cuts the epochs (0.5 to
   2.0 s after each cue, the sensorimotor channels) with the Epocher's own
   code, and a model of the band power's spatial pattern is fitted: pyriemann's
   ``Covariances`` + ``TangentSpace`` + logistic regression when pyriemann is
   installed, else MNE's ``CSP`` + LDA (``--model csp`` / ``--model riemann``
   to choose). ``--save-model`` keeps it for a graph file.
3. **Online**: a new session (another seed) of ``--online-trials`` trials; the
   Decoder classifies every trial as soon as its epoch is complete and the
   LslOutlet publishes each prediction as a string marker (stream
   ``lslacq-MI-predictions``, what a feedback display reads with pylsl).
4. The online predictions are compared with the cues: accuracy (chance 0.5).

``--speed 8`` runs the simulation 8 times faster than real time (the default,
so the example takes ~25 s; ``--speed 1`` for a real-time session).

Run: ``python examples/mi_bci.py [--trials 40] [--online-trials 30] [--seed 0] [--speed 8] [--no-lsl]``.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SAMPLE_RATE = 250.0
INTERVAL = 2.5  # seconds between cues (one trial)
EVENT_ID = {"left": "left", "right": "right"}
TMIN, TMAX = 0.5, 2.0  # the imagery, after the cue
PICKS = ["FC5", "FC1", "FC2", "FC6", "T7", "C3", "Cz", "C4", "T8", "CP5", "CP1", "CP2", "CP6"]


def make_device(seed: int, speed: float):
    from lslacq.devices import SimulatedEEG

    dev = SimulatedEEG(name="eeg")
    # left hand: ERD over C4; right hand: over C3 (60 % of a 10 uV mu/beta rhythm lost from 0.25 s to 2 s)
    dev.configure(nb_channel=32, sample_rate=SAMPLE_RATE, chunksize=25, event_interval=INTERVAL, seed=seed,
                  mi_classes={"left": "C4", "right": "C3"}, mi_duration=2.0, speed=speed)
    dev.outputs["signals"].configure(protocol="inproc")
    dev.outputs["events"].configure(protocol="inproc")
    dev.initialize()
    return dev


def make_filter(dev):
    from lslacq.dsp import SosFilter, design_sos

    filt = SosFilter(name="mu-beta")
    filt.configure(coefficients=design_sos("bandpass", [8.0, 30.0], SAMPLE_RATE, order=4))
    filt.input.connect(dev.outputs["signals"])
    filt.output.configure(protocol="inproc")
    filt.initialize()
    return filt


def make_model(kind: str = "auto"):
    """``(name, unfitted pipeline)``: ``'riemann'`` (pyriemann), ``'csp'`` (mne), ``'auto'``: pyriemann if installed."""
    from sklearn.pipeline import make_pipeline

    if kind == "auto":
        try:
            import pyriemann  # noqa: F401

            kind = "riemann"
        except ImportError:
            kind = "csp"
    if kind == "riemann":
        from pyriemann.estimation import Covariances
        from pyriemann.tangentspace import TangentSpace
        from sklearn.linear_model import LogisticRegression

        return "pyriemann Covariances + TangentSpace + LogisticRegression", make_pipeline(
            Covariances(estimator="oas"), TangentSpace(metric="riemann"), LogisticRegression(max_iter=1000))
    if kind == "csp":
        import mne
        from mne.decoding import CSP

        mne.set_log_level("WARNING")  # CSP logs its rank and covariance estimation at INFO
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        return "mne CSP(4) + LDA", make_pipeline(CSP(n_components=4, reg="ledoit_wolf", log=True),
                                                 LinearDiscriminantAnalysis())
    raise ValueError(f"mi_bci: model {kind!r} is unknown; use 'auto', 'riemann' or 'csp'")


def _run(nodes, dev, n_trials: int) -> None:
    for node in nodes:
        node.start()
    # the session lasts until the last trial's epoch is complete (simulated time)
    end = (n_trials * INTERVAL + TMAX + 0.2) * SAMPLE_RATE
    deadline = time.monotonic() + 2 * end / SAMPLE_RATE / dev.speed + 30
    while dev.n_sent < end and time.monotonic() < deadline:
        time.sleep(0.05)  # the session runs (its length, not a synchronisation)
    for node in reversed(nodes):
        node.stop()


def calibrate(n_trials: int, seed: int, speed: float, workdir: Path) -> Path:
    """Run ``n_trials`` cued trials, record the filtered signal and the cues; return the recording."""
    from lslacq.rec import RawRecorder

    dev = make_device(seed, speed)
    filt = make_filter(dev)
    rec = RawRecorder(name="rec")
    path = workdir / "calibration"
    rec.configure(streams={"eeg": filt.output, "markers": dev.outputs["events"]}, dirname=path)
    rec.initialize()
    nodes = (rec, filt, dev)  # readers first: nothing sent is missed
    _run(nodes, dev, n_trials)
    for node in nodes:
        node.close()
    return path


def fit(recording: Path, kind: str = "auto"):
    from lslacq.bci import epochs_from_recording

    X, y = epochs_from_recording(recording, "eeg", "markers", EVENT_ID, TMIN, TMAX, picks=PICKS)
    name, model = make_model(kind)
    model.fit(X, y)
    return name, model, X, y


def run_online(model, n_trials: int, seed: int, speed: float, lsl: bool):
    """Run a new session with the fitted model; return (cued labels, predicted labels) per trial."""
    from lslacq.bci import Decoder, Epocher

    dev = make_device(seed, speed)
    filt = make_filter(dev)
    ep = Epocher(name="epocher")
    ep.configure(event_id=EVENT_ID, tmin=TMIN, tmax=TMAX, picks=PICKS, max_epochs=10000)
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
        outlet.configure(name="lslacq-MI-predictions", type="Markers")
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
    _run(nodes, dev, n_trials)
    errors = [(n.name, n.error) for n in nodes if n.error is not None]
    truth = {int(e["index"]): bytes(e["description"]).decode() for e in ep.events}
    for node in nodes:
        node.close()
    if errors:
        raise RuntimeError(f"nodes failed: {errors}")
    with lock:
        common = sorted(set(truth) & set(predicted))
        return [truth[i] for i in common], [predicted[i] for i in common]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="calibration trials (default 40)")
    parser.add_argument("--online-trials", type=int, default=30, help="online trials (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration (online: seed + 1)")
    parser.add_argument("--speed", type=float, default=8.0, help="times faster than real time (default 8)")
    parser.add_argument("--model", choices=("auto", "riemann", "csp"), default="auto",
                        help="pyriemann tangent space, mne CSP + LDA, or auto (pyriemann when installed)")
    parser.add_argument("--save-model", metavar="FILE", help="save the fitted model (joblib)")
    parser.add_argument("--no-lsl", action="store_true", help="do not publish the predictions to LSL")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"calibration: {args.trials} trials of left/right hand imagery (x{args.speed:g} real time) ...",
              flush=True)
        recording = calibrate(args.trials, args.seed, args.speed, Path(tmp))
        name, model, X, y = fit(recording, args.model)
    print(f"fitted {name} on {len(X)} epochs {X.shape[1:]} ({int(np.sum(y == 'left'))} left)")
    if args.save_model:
        import joblib

        joblib.dump(model, args.save_model)
        print(f"model saved to {args.save_model}")
    where = "" if args.no_lsl else ", predictions to LSL stream lslacq-MI-predictions"
    print(f"online: {args.online_trials} trials{where} ...", flush=True)
    y_true, y_pred = run_online(model, args.online_trials, args.seed + 1, args.speed, lsl=not args.no_lsl)
    accuracy = float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if y_true else float("nan")
    print(f"online trials: {len(y_true)} ({y_true.count('left')} left)")
    print(f"online accuracy: {accuracy:.3f} (chance 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
