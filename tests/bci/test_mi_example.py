"""examples/mi_bci.py runs seeded (calibrate, fit, online, x40 real time), decodes left/right imagery above chance."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "mi_bci.py"

pytest.importorskip("sklearn")
pytest.importorskip("mne.decoding")


@pytest.mark.slow
def test_mi_example_accuracy_above_chance():
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), "--seed", "0", "--trials", "40", "--online-trials", "30", "--speed", "40"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    n_cal = int(re.search(r"on (\d+) epochs \(13, 376\)", out).group(1))
    n_online = int(re.search(r"online trials: (\d+)", out).group(1))
    accuracy = float(re.search(r"online accuracy: ([0-9.]+)", out).group(1))
    assert n_cal >= 38 and n_online >= 28  # every trial cut (the session ends after the last epoch)
    assert accuracy >= 0.75, out  # chance is 0.5
