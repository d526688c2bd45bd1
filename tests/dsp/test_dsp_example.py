"""examples/dsp_triggered_average.py runs and finds the simulated evoked response."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "dsp_triggered_average.py"


@pytest.mark.slow
def test_triggered_average_example_recovers_the_evoked_peak():
    spec = importlib.util.spec_from_file_location("dsp_triggered_average", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.run(duration=3.0, verbose=False)
    assert result["errors"] == [None, None, None]
    assert result["total_trig"] >= 3
    peak_time = result["t"][int(np.argmax(result["average"]))]
    # simulated at 120 ms; the causal band-pass adds its group delay (~15 ms)
    assert 0.11 <= peak_time <= 0.16
    baseline = result["average"][result["t"] < 0].std()
    assert result["average"].max() > 5 * baseline
