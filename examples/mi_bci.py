r"""A motor-imagery BCI, end to end: calibrate, fit, run online, send the predictions to LSL, print the accuracy.

The graph (both runs)::

    SimulatedEEG --signals--> SosFilter(8-30 Hz) --signals--> Epocher --epochs, labels--> Decoder
         \--events (cues 'left' / 'right')---------------------^                          |
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
so the example takes ~25 s; ``--speed 1`` for a real-time session). The graph,
the recording and the session runner are in ``examples/_bci_common.py``, shared
with ``examples/p300_bci.py``.

Run: ``python examples/mi_bci.py [--trials 40] [--online-trials 30] [--seed 0] [--speed 8] [--no-lsl]``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _bci_common import accuracy, fit, make_filter, record_calibration, run_online, save_model

SAMPLE_RATE = 250.0
INTERVAL = 2.5  # seconds between cues (one trial)
EVENT_ID = {"left": "left", "right": "right"}
TMIN, TMAX = 0.5, 2.0  # the imagery, after the cue
PICKS = ["FC5", "FC1", "FC2", "FC6", "T7", "C3", "Cz", "C4", "T8", "CP5", "CP1", "CP2", "CP6"]
BAND, ORDER = (8.0, 30.0), 4  # the mu and beta bands


def make_device(seed: int, speed: float):
    from lslacq.devices import SimulatedEEG

    dev = SimulatedEEG(name="eeg")
    # left hand: ERD over C4; right hand: over C3 (60 % of a 10 uV mu/beta rhythm lost from 0.25 s to 2 s)
    dev.configure(
        nb_channel=32,
        sample_rate=SAMPLE_RATE,
        chunksize=25,
        event_interval=INTERVAL,
        seed=seed,
        mi_classes={"left": "C4", "right": "C3"},
        mi_duration=2.0,
        speed=speed,
    )
    dev.outputs["signals"].configure(protocol="inproc")
    dev.outputs["events"].configure(protocol="inproc")
    dev.initialize()
    return dev


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
            Covariances(estimator="oas"), TangentSpace(metric="riemann"), LogisticRegression(max_iter=1000)
        )
    if kind == "csp":
        import mne
        from mne.decoding import CSP

        mne.set_log_level("WARNING")  # CSP logs its rank and covariance estimation at INFO
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        return "mne CSP(4) + LDA", make_pipeline(
            CSP(n_components=4, reg="ledoit_wolf", log=True), LinearDiscriminantAnalysis()
        )
    raise ValueError(f"mi_bci: model {kind!r} is unknown; use 'auto', 'riemann' or 'csp'")


def session_samples(n_trials: int) -> int:
    """Return the length in samples of ``n_trials`` cued trials: until the last trial's epoch is complete."""
    return int((n_trials * INTERVAL + TMAX + 0.2) * SAMPLE_RATE)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="calibration trials (default 40)")
    parser.add_argument("--online-trials", type=int, default=30, help="online trials (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration (online: seed + 1)")
    parser.add_argument("--speed", type=float, default=8.0, help="times faster than real time (default 8)")
    parser.add_argument(
        "--model",
        choices=("auto", "riemann", "csp"),
        default="auto",
        help="pyriemann tangent space, mne CSP + LDA, or auto (pyriemann when installed)",
    )
    parser.add_argument("--save-model", metavar="FILE", help="save the fitted model (joblib)")
    parser.add_argument("--no-lsl", action="store_true", help="do not publish the predictions to LSL")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        print(
            f"calibration: {args.trials} trials of left/right hand imagery (x{args.speed:g} real time) ...", flush=True
        )
        dev = make_device(args.seed, args.speed)
        recording = record_calibration(
            dev, make_filter(dev, BAND, ORDER, "mu-beta"), session_samples(args.trials), Path(tmp)
        )
        name, model = make_model(args.model)
        X, y = fit(recording, model, EVENT_ID, TMIN, TMAX, picks=PICKS)
    print(f"fitted {name} on {len(X)} epochs {X.shape[1:]} ({int(np.sum(y == 'left'))} left)")
    save_model(model, args.save_model)
    lsl_name = None if args.no_lsl else "lslacq-MI-predictions"
    print(
        f"online: {args.online_trials} trials{f', predictions to LSL stream {lsl_name}' if lsl_name else ''} ...",
        flush=True,
    )
    dev = make_device(args.seed + 1, args.speed)
    y_true, y_pred = run_online(
        dev,
        make_filter(dev, BAND, ORDER, "mu-beta"),
        model,
        session_samples(args.online_trials),
        EVENT_ID,
        TMIN,
        TMAX,
        picks=PICKS,
        lsl_name=lsl_name,
    )
    acc, _ = accuracy(y_true, y_pred)
    print(f"online trials: {len(y_true)} ({y_true.count('left')} left)")
    print(f"online accuracy: {acc:.3f} (chance 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
