"""The core examples run as real scripts (the pyacq manual's examples, ported)."""

import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("noise_generator.py", ["--duration", "0.5"], "received up to sample 500"),
        ("stream_monitor.py", ["--duration", "1.2"], "Data received: 50 (50, 7) float64"),
    ],
)
def test_example_runs(script, args, expect):
    run = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert expect in run.stdout
