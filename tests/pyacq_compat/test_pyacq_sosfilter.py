"""pyacq's ``pyacq/dsp/tests/test_sosfilter.py``, renamed to lslacq (see pyacq_filter_checks)."""

from __future__ import annotations

import pytest
from pyacq_filter_checks import (
    compare_online_offline,
    do_filtertest,
    opencl_available,
    sosfilt,
)

from lslacq.dsp.sosfilter import HAVE_PYOPENCL, SosFilter

needs_opencl = pytest.mark.skipif(
    not (HAVE_PYOPENCL and opencl_available()), reason="no pyopencl with an OpenCL device"
)


@pytest.mark.slow
def test_sosfilter():
    pytest.importorskip("pyqtgraph")
    do_filtertest(SosFilter, "numpy")


@pytest.mark.slow
@needs_opencl
def test_openclsosfilter():
    pytest.importorskip("pyqtgraph")
    do_filtertest(SosFilter, "opencl")


@pytest.mark.slow
def test_compare_sosfilter():
    compare_online_offline(SosFilter, "numpy", sosfilt)


@pytest.mark.slow
@needs_opencl
def test_compare_openclsosfilter():
    compare_online_offline(SosFilter, "opencl", sosfilt)
