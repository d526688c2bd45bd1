"""examples/p300_bci.py runs seeded (calibrate, fit, online) and decodes the simulated P300 above chance."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "p300_bci.py"

pytest.importorskip("sklearn")


@pytest.mark.slow
def test_p300_example_accuracy_above_chance():
    run = subprocess.run([sys.executable, str(EXAMPLE), "--seed", "0", "--no-lsl"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    n_cal = int(re.search(r"on (\d+) epochs \(32, 176\)", out).group(1))
    n_online = int(re.search(r"online epochs: (\d+)", out).group(1))
    balanced = float(re.search(r"online balanced accuracy: ([0-9.]+)", out).group(1))
    assert n_cal >= 90 and n_online >= 30  # 40 s and 15 s at one stimulus every 0.4 s
    assert balanced >= 0.65, out  # chance is 0.5
