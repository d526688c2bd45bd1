"""The recording examples run as real scripts."""

import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"

pytest.importorskip("mne")


def _run(script, *args) -> str:
    run = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.mark.slow
def test_record_graph_example_records_everything_and_exports_to_mne():
    out = _run("record_graph.py", "--duration", "1.2")
    sent, events = map(int, re.search(r"recorded (\d+) samples and (\d+) events", out).groups())
    assert sent >= 500 and events >= 2
    assert f"eeg: complete: {sent} samples" in out  # every sample the device sent is in the file
    assert f"markers: complete: {events} samples" in out
    assert f"{events} annotations" in out and "saved eeg_raw.fif" in out


@pytest.mark.slow
def test_replay_into_filter_example_sees_the_annotated_alpha_bursts():
    out = _run("replay_into_filter.py", "--speed", "8")
    assert "annotation 'alpha' at t = 1.00 s" in out and "annotation 'alpha' at t = 2.50 s" in out
    assert "replay finished: 8 windows" in out
    powers = [float(p) for p in re.findall(r"alpha power\s+([\d.]+)", out)]
    assert max(powers[:2]) < 20 and min(powers[3], powers[6]) > 100  # bursts at 1-2 s and 2.5-3.5 s
