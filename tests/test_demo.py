"""The graph demo and the command line entry point."""

import subprocess
import sys

import pytest

from lslacq.cli.graph_demo import run_demo


@pytest.mark.slow
@pytest.mark.parametrize("transfermode", ["plaindata", "sharedmem"])
def test_two_process_demo_streams_without_loss(transfermode):
    lines = []
    stats = run_demo(
        duration=1.5, channels=8, rate=2000.0, chunksize=20, transfermode=transfermode, interval=0.5, out=lines.append
    )
    assert stats.samples >= 1000  # about 3000 expected; generous for a loaded machine
    assert stats.lost_samples == 0 and stats.index_errors == 0
    assert "device process" in lines[0] and "samples/s" in lines[-1]


@pytest.mark.slow
def test_cli_lists_the_demo_and_runs_it():
    help_text = subprocess.run(
        [sys.executable, "-m", "lslacq.cli", "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "demo" in help_text
    run = subprocess.run(
        [sys.executable, "-m", "lslacq.cli", "graph-demo", "--duration", "1", "--channels", "4"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 0, run.stderr
    assert "lost 0 samples" in run.stdout
