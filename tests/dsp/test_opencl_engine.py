"""engine='opencl': same results as the numpy engine (skipped without pyopencl + a runtime)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from lslacq.dsp import OverlapFiltfiltEngine, SosFilter, design_sos
from lslacq.dsp.opencl import opencl_available, require_opencl

needs_opencl = pytest.mark.skipif(not opencl_available(), reason="pyopencl with an OpenCL runtime is not installed")
SR = 1000.0


@needs_opencl
def test_opencl_sos_engine_equals_scipy_across_chunks():
    from lslacq.dsp.opencl import OpenCLSosEngine

    rng = np.random.default_rng(0)
    sig = rng.standard_normal((4000, 5))
    sos = design_sos("bandpass", [3, 60], SR, order=4)
    engine = OpenCLSosEngine(sos, 5, chunksize=256, dtype=np.float64)
    out = np.concatenate([engine.process(c) for c in np.array_split(sig, 17)])
    tol = 1e-9 if engine.backend.double else 1e-4
    np.testing.assert_allclose(out, scipy.signal.sosfilt(sos, sig, axis=0), atol=tol)


@needs_opencl
def test_opencl_per_channel_coefficients_and_coefficient_change():
    from lslacq.dsp.opencl import OpenCLSosEngine

    sig = np.random.default_rng(1).standard_normal((2000, 3))
    coefs = np.stack([design_sos("lowpass", f, SR, order=4) for f in (10, 50, 200)])
    engine = OpenCLSosEngine(coefs, 3, chunksize=100, dtype=np.float64)
    out = np.concatenate([engine.process(c) for c in np.array_split(sig, 20)])
    for ch in range(3):
        np.testing.assert_allclose(out[:, ch], scipy.signal.sosfilt(coefs[ch], sig[:, ch]), atol=1e-6)
    engine.set_coefficients(design_sos("highpass", 5, SR, order=2))
    assert np.all(np.isfinite(engine.process(sig[:100])))


@needs_opencl
def test_opencl_overlap_filtfilt_equals_numpy_engine():
    from lslacq.dsp.opencl import OpenCLSosKernel

    sig = np.random.default_rng(2).standard_normal((5000, 2))
    sos = design_sos("bandpass", [2, 30], SR, order=2)
    ref = OverlapFiltfiltEngine(sos, 500, 300, 2, dtype=np.float64).process(5000, sig)
    got = OverlapFiltfiltEngine(sos, 500, 300, 2, dtype=np.float64, backend=OpenCLSosKernel()).process(5000, sig)
    assert ref[0] == got[0]
    np.testing.assert_allclose(got[1], ref[1], atol=1e-6)


@needs_opencl
def test_opencl_engine_needs_fixed_chunksize():
    filt = SosFilter()
    with pytest.raises(ValueError, match="fixed chunksize"):
        filt.configure(coefficients=design_sos("lowpass", 30, SR), engine="opencl")
    filt.close()


def test_missing_pyopencl_gives_an_error_naming_the_package(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "pyopencl" or name.startswith("pyopencl."):
            raise ImportError("No module named 'pyopencl'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"needs the 'pyopencl' package.*pip install 'pyopencl\[pocl\]'"):
        require_opencl("filt")
    filt = SosFilter(name="filt")
    with pytest.raises(ImportError, match="filt: engine='opencl' needs the 'pyopencl' package"):
        filt.configure(coefficients=design_sos("lowpass", 30, SR), engine="opencl", chunksize=64)
    filt.close()
