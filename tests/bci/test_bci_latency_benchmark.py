"""benchmarks/bci_latency.py still runs both of its loops (its mne-lsl path once broke unnoticed).

The ``--quick`` smoke run (5 epochs of 8 ch @ 1 kHz) as a subprocess prints the p50/p99 rows of both.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

BENCHMARK = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "bci_latency.py"


@pytest.mark.slow
def test_bci_latency_quick_prints_both_loops():
    pytest.importorskip("pylsl")
    pytest.importorskip("mne_lsl")
    pytest.importorskip("sklearn")
    proc = subprocess.run([sys.executable, str(BENCHMARK), "--quick"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"bci_latency.py --quick failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.startswith("loop"))
    assert header.split()[1:] == ["epochs", "p50", "ms", "p90", "ms", "p99", "ms", "max", "ms"]
    assert "## 8 ch @ 1 kHz" in proc.stdout
    number = r"(\d+\.\d+)"
    for label in (r"lslacq \(5 NodeGroups, tcp\)", r"mne-lsl StreamLSL \+ EpochsStream"):
        rows = [re.match(rf"{label}\s+5/5\s+{number}\s+{number}\s+{number}\s+{number}\s", line) for line in lines]
        rows = [m for m in rows if m]
        assert len(rows) == 1, f"no row '{label}  5/5  p50 p90 p99 max' in:\n{proc.stdout}"
        p50, p90, p99, top = (float(v) for v in rows[0].groups())
        assert 0 < p50 <= p90 <= p99 <= top < 10000.0, rows[0].group(0)
