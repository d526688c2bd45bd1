"""examples/graphs/p300_online.toml runs with `lslacq run`.

Predictions arrive as LSL string markers (the simulated subject paced 5x faster than real time: a stimulus every 80 ms).
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import uuid

import numpy as np
import pytest
from helpers import wait_until

pytest.importorskip("sklearn")
pylsl = pytest.importorskip("pylsl")

GRAPH = pathlib.Path(__file__).resolve().parents[2] / "examples" / "graphs" / "p300_online.toml"


def _model(path):
    import joblib
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline

    from lslacq.bci import WindowMeans

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 32, 176))
    X[:20, :, 60:90] += 2.0
    y = np.repeat(["target", "nontarget"], 20)
    joblib.dump(make_pipeline(WindowMeans(7), LinearDiscriminantAnalysis()).fit(X, y), path)


@pytest.mark.slow
def test_graph_file_publishes_predictions(tmp_path):
    model = tmp_path / "model.joblib"
    _model(model)
    name = f"lslacq-p300-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lslacq.cli",
            "run",
            str(GRAPH),
            "--set",
            f"model={model}",
            "--set",
            f"feedback.name={name}",
            "--set",
            "eeg.speed=5",
            "--duration",
            "60",
            "--json",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    inlet = None
    try:
        found = pylsl.resolve_byprop("name", name, 1, 30.0)
        assert found, f"the graph's LSL stream {name} did not appear"
        inlet = pylsl.StreamInlet(found[0])
        inlet.open_stream(timeout=10.0)
        markers = []

        def pull():
            samples, _ = inlet.pull_chunk(timeout=0.1)
            markers.extend(s[0] for s in samples)
            return len(markers) >= 5

        wait_until(pull, timeout=30, what="5 prediction markers")
        assert set(markers) <= {"target", "nontarget"}
    finally:
        if inlet is not None:
            inlet.close_stream()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        stderr = proc.stderr.read()
        proc.stderr.close()
    assert "Traceback" not in stderr, stderr
