"""engine='opencl': same results as the numpy engine (skipped without pyopencl + a runtime)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from lslacq.dsp import OverlapFiltfiltEngine, SosFilter, design_sos
from lslacq.dsp.opencl import opencl_available, require_opencl

needs_opencl = pytest.mark.skipif(not opencl_available(), reason="pyopencl with an OpenCL runtime is not installed")
SR = 1000.0


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@needs_opencl
@pytest.mark.parametrize("node_type", ["SosFilter", "OverlapFiltfilt"])
def test_opencl_nodes_in_a_graph_match_numpy(node_type):
    from lslacq.core.stream import InputStream, OutputStream
    from lslacq.dsp import OverlapFiltfilt

    n, nch = 3000, 3
    sig = np.random.default_rng(3).standard_normal((n, nch)).astype("float32")
    sos = design_sos("bandpass", [5, 60], SR, order=2)
    src = OutputStream(name="src")
    src.configure(protocol="inproc", dtype="float32", shape=(-1, nch), sample_rate=SR)
    node = SosFilter() if node_type == "SosFilter" else OverlapFiltfilt()
    sink = InputStream(name="sink")
    try:
        if node_type == "SosFilter":
            node.configure(coefficients=sos, engine="opencl", chunksize=100)
            expected = scipy.signal.sosfilt(sos, sig.astype(float), axis=0)
        else:
            node.configure(coefficients=sos, engine="opencl", chunksize=500, overlapsize=500)
            _, expected = OverlapFiltfiltEngine(sos, 500, 500, nch, dtype=np.float64).process(n, sig)
        node.input.connect(src)
        node.output.configure(protocol="inproc")
        node.initialize()
        sink.connect(node.output)
        node.start()
        for i in range(0, n, 250):
            src.send(sig[i : i + 250], index=i + 250)
        parts, got = [], 0
        while got < len(expected):
            index, data = sink.recv(timeout=20_000)
            parts.append(np.array(data))
            got += len(data)
        out = np.concatenate(parts)
        np.testing.assert_allclose(out, expected.astype("float32"), atol=1e-4)
    finally:
        if node.running():
            node.stop()
        node.close()
        sink.close()
        src.close()
