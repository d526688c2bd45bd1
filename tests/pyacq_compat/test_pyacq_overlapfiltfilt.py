"""pyacq's ``pyacq/dsp/tests/test_overlapfiltfilt.py``, renamed to lslacq (see pyacq_filter_checks)."""

from __future__ import annotations

import pytest
from pyacq_filter_checks import do_filtertest, opencl_available

from lslacq.dsp.overlapfiltfilt import HAVE_PYOPENCL, OverlapFiltfilt

needs_opencl = pytest.mark.skipif(
    not (HAVE_PYOPENCL and opencl_available()), reason="no pyopencl with an OpenCL device"
)

# pyacq's compare tests check OverlapFiltfilt (zero-phase, forward-backward over
# overlapping chunks) against scipy.signal.sosfilt (one causal pass): they
# cannot hold, on pyacq either. tests/dsp/test_overlap_engine.py checks it
# against scipy.signal.sosfiltfilt instead.
_COMPARE_SKIP = (
    "pyacq's test compares a zero-phase filter with scipy.signal.sosfilt (causal), which cannot "
    "match on pyacq either; tests/dsp/test_overlap_engine.py checks OverlapFiltfilt against sosfiltfilt"
)


@pytest.mark.slow
def test_sosfilter():
    pytest.importorskip("pyqtgraph")
    do_filtertest(OverlapFiltfilt, "numpy")


@pytest.mark.slow
@needs_opencl
def test_openclsosfilter():
    pytest.importorskip("pyqtgraph")
    do_filtertest(OverlapFiltfilt, "opencl")


@pytest.mark.skip(reason=_COMPARE_SKIP)
def test_compare_sosfilter():
    pass


@pytest.mark.skip(reason=_COMPARE_SKIP)
def test_compare_openclsosfilter():
    pass
