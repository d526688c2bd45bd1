r"""A P300 BCI, end to end: calibrate, fit, run online, send the predictions to LSL, print the accuracy.

The graph (both runs)::

    SimulatedEEG --signals--> SosFilter(0.5-20 Hz) --signals--> Epocher --epochs, labels--> Decoder
         \--events (markers 'target' / 'nontarget')--------------^                           |
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

``--speed 8`` runs the simulation 8 times faster than real time (the default,
so the example takes ~10 s; ``--speed 1`` for a real-time session). The graph,
the recording and the session runner are in ``examples/_bci_common.py``, shared
with ``examples/mi_bci.py``.

Run: ``python examples/p300_bci.py [--calibration 40] [--online 15] [--seed 0] [--speed 8] [--no-lsl]``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _bci_common import accuracy, fit, make_filter, record_calibration, run_online, save_model

SAMPLE_RATE = 250.0
EVENT_ID = {"nontarget": "nontarget", "target": "target"}
TMIN, TMAX, BASELINE = -0.1, 0.6, (None, 0.0)
BAND, ORDER = (0.5, 20.0), 2  # the band-pass before the epochs


def make_device(seed: int, interval: float, speed: float = 1.0):
    from lslacq.devices import SimulatedEEG

    dev = SimulatedEEG(name="eeg")
    # an easy subject: a 20 uV P300 over 10 uV of background and alpha, decodable in single trials
    dev.configure(
        nb_channel=32,
        sample_rate=SAMPLE_RATE,
        chunksize=25,
        event_interval=interval,
        seed=seed,
        alpha_amplitude=10.0,
        background_amplitude=10.0,
        erp_classes={"target": 20.0, "nontarget": 0.0},
        class_probabilities={"target": 1, "nontarget": 2},
        speed=speed,
    )
    dev.outputs["signals"].configure(protocol="inproc")
    dev.outputs["events"].configure(protocol="inproc")
    dev.initialize()
    return dev


def make_model():
    """Return the classifier: pyriemann's when installed, else window means + shrinkage LDA."""
    from sklearn.pipeline import make_pipeline

    try:
        from pyriemann.estimation import XdawnCovariances
        from pyriemann.tangentspace import TangentSpace
        from sklearn.linear_model import LogisticRegression

        return "pyriemann XdawnCovariances + TangentSpace + LogisticRegression", make_pipeline(
            XdawnCovariances(nfilter=2), TangentSpace(metric="riemann"), LogisticRegression(max_iter=1000)
        )
    except ImportError:
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        from lslacq.bci import WindowMeans

        return "WindowMeans(7) + LDA (shrinkage)", make_pipeline(
            WindowMeans(7), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", type=float, default=40.0, help="seconds of calibration (default 40)")
    parser.add_argument("--online", type=float, default=15.0, help="seconds of online run (default 15)")
    parser.add_argument("--interval", type=float, default=0.4, help="seconds between stimuli (default 0.4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration (online: seed + 1)")
    parser.add_argument("--speed", type=float, default=8.0, help="times faster than real time (default 8)")
    parser.add_argument("--save-model", metavar="FILE", help="save the fitted model (joblib) for the graph file")
    parser.add_argument("--no-lsl", action="store_true", help="do not publish the predictions to LSL")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"calibration: {args.calibration:g} s of simulated oddball (x{args.speed:g} real time) ...", flush=True)
        dev = make_device(args.seed, args.interval, args.speed)
        recording = record_calibration(
            dev, make_filter(dev, BAND, ORDER), int(args.calibration * SAMPLE_RATE), Path(tmp)
        )
        name, model = make_model()
        X, y = fit(recording, model, EVENT_ID, TMIN, TMAX, BASELINE)
    print(f"fitted {name} on {len(X)} epochs {X.shape[1:]} ({int(np.sum(y == 'target'))} targets)")
    save_model(model, args.save_model)
    lsl_name = None if args.no_lsl else "lslacq-P300-predictions"
    print(f"online: {args.online:g} s{f', predictions to LSL stream {lsl_name}' if lsl_name else ''} ...", flush=True)
    dev = make_device(args.seed + 1, args.interval, args.speed)
    y_true, y_pred = run_online(
        dev,
        make_filter(dev, BAND, ORDER),
        model,
        int(args.online * SAMPLE_RATE),
        EVENT_ID,
        TMIN,
        TMAX,
        BASELINE,
        lsl_name=lsl_name,
    )
    acc, balanced = accuracy(y_true, y_pred)
    print(f"online epochs: {len(y_true)} ({y_true.count('target')} targets)")
    print(f"online accuracy: {acc:.3f}")
    print(f"online balanced accuracy: {balanced:.3f} (chance 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
