"""The LSL examples run as a user runs them and print what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pylsl")

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _run(script, *args, timeout=120):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_outlet_from_graph(unique_name):
    out = _run("lsl_outlet_from_graph.py", "--duration", "3", "--name", unique_name)
    assert f"publishing {unique_name!r}" in out
    last = out.strip().splitlines()[-1]
    assert "EEG samples pushed" in last and int(last.split(":")[1].split(",")[0]) > 500


@pytest.mark.slow
def test_inlet_into_graph():
    out = _run("lsl_inlet_into_graph.py", "--duration", "4")
    assert "reading 'example-inlet-source'" in out and "32 ch float32 250 Hz" in out
    reports = [line for line in out.splitlines() if "strongest alpha on" in line]
    assert len(reports) >= 2
    # the simulated alpha rhythm is posterior
    assert (
        sum(line.split(" on ")[1].split()[0] in {"O1", "Oz", "O2", "PO9", "PO10", "Pz"} for line in reports)
        >= len(reports) // 2
    )
    assert "gaps: 0" in out


@pytest.mark.slow
def test_stream_watcher_experiment(unique_name):
    out = _run(
        "stream_watcher_experiment.py",
        "--trials",
        "3",
        "--eeg-name",
        unique_name + "-EEG",
        "--markers-name",
        unique_name + "-M",
    )
    assert out.count("marker S  ") >= 3
    assert "trial 3: Pz 250-400 ms" in out and "mean P300 over 3 trials" in out
