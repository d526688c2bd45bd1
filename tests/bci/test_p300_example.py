"""examples/p300_bci.py runs seeded (calibrate, fit, online; x40 real time), decodes the simulated P300 above chance.

Its pyriemann branch (XdawnCovariances + TangentSpace + logistic regression) decodes it offline.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import numpy as np
import pytest
from bci_helpers import EXAMPLES, load_example

from lslacq.bci import EpochingEngine

EXAMPLE = EXAMPLES / "p300_bci.py"

pytest.importorskip("sklearn")


@pytest.mark.slow
def test_p300_example_accuracy_above_chance():
    # the default sessions (40 s of calibration, 15 s online: simulated time) paced 40x faster than real time
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), "--seed", "0", "--speed", "40", "--no-lsl"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    n_cal = int(re.search(r"on (\d+) epochs \(32, 176\)", out).group(1))
    n_online = int(re.search(r"online epochs: (\d+)", out).group(1))
    balanced = float(re.search(r"online balanced accuracy: ([0-9.]+)", out).group(1))
    assert n_cal >= 90 and n_online >= 30  # 40 s and 15 s at one stimulus every 0.4 s
    assert balanced >= 0.65, out  # chance is 0.5
    riemann = importlib.util.find_spec("pyriemann") is not None
    assert ("fitted pyriemann XdawnCovariances" in out) == riemann, out  # the branch the example took


@pytest.mark.slow  # ~2 s: pyriemann's import (1 s) and its fit
def test_p300_example_pyriemann_model_decodes_offline():
    pytest.importorskip("pyriemann")
    signal = pytest.importorskip("scipy.signal")
    example = load_example("p300_bci")

    def epochs(seconds, seed):
        dev = example.make_device(seed, 0.4)  # the example's simulated subject, generated without pacing
        sim = dev.simulator
        dev.close()
        parts = [sim.generate(50) for _ in range(int(seconds * 250) // 50)]
        data, events = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        sos = signal.butter(2, [0.5, 20.0], "bandpass", fs=250.0, output="sos")
        data = signal.sosfilt(sos, data, axis=0).astype(np.float32)
        eng = EpochingEngine(
            32, 250.0, example.EVENT_ID, example.TMIN, example.TMAX, example.BASELINE, buffer_size=len(data)
        )
        eng.add_events(events)
        X, labels = eng.feed(len(data), data)
        return X, np.array([d.decode() for d in labels["description"]])

    name, model = example.make_model()
    assert name.startswith("pyriemann XdawnCovariances")
    X, y = epochs(40, seed=0)
    Xt, yt = epochs(30, seed=1)
    pred = model.fit(X, y).predict(Xt)
    balanced = np.mean([np.mean(pred[yt == c] == c) for c in ("target", "nontarget")])
    assert balanced >= 0.75  # chance 0.5
