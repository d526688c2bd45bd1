"""``lslacq demo --view``: the demo's EEG and markers in a QOscilloscope, headless."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_view_runs_headless():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "lslacq.cli",
            "demo",
            "--view",
            "--duration",
            "2.5",
            "--no-verify",
            "--channels",
            "4",
            "--event-interval",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    summary = [line for line in run.stdout.splitlines() if "published" in line][-1]
    assert int(summary.split("published ")[1].split()[0]) > 500
    viewer = summary.split("viewer: ")[1].split(", ")
    assert int(viewer[0].split()[0]) > 500 and int(viewer[1].split()[0]) >= 2 and int(viewer[2].split()[0]) >= 5
    elapsed = float(summary.split(" in ")[1].split()[0])
    assert int(viewer[2].split()[0]) / elapsed > 40, summary  # lslacq view's 60 fps (it was 10)
    assert "failed" not in run.stderr
