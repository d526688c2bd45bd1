"""OpenCL engine for SOS filtering (``engine='opencl'`` of SosFilter and OverlapFiltfilt).

One work item per channel runs the cascade of sections sample by sample
(direct form II transposed, the recursion of ``scipy.signal.sosfilt``), in
double precision when the device supports it. Each channel may have its own
coefficients. It needs ``pyopencl`` and an OpenCL runtime; on a machine without
a GPU driver, PyPI's ``pocl-binary-distribution`` (a CPU runtime, pulled in by
``pip install "pyopencl[pocl]"`` or ``pip install lslacq[opencl]``) works.
"""

from __future__ import annotations

import threading

import numpy as np

from .sos import SosFilterEngine

__all__ = ["require_opencl", "OpenCLSosKernel", "OpenCLSosEngine", "opencl_available"]

INSTALL_HINT = "pip install 'pyopencl[pocl]' (or lslacq[opencl]), or use engine='numpy'"

_KERNEL = r"""
#ifdef USE_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
#else
typedef float real;
#endif

__kernel void sos_filter(__global const real *input, __global real *output, __global const real *coefs,
                         __global real *zi, const int n_samples, const int n_sections, const int direction,
                         const int coef_stride)
{
    int ch = get_global_id(0);
    __global const real *c = coefs + ch * coef_stride;
    __global real *z = zi + ch * n_sections * 2;
    __global const real *in = input + ch * n_samples;
    __global real *out = output + ch * n_samples;
    for (int k = 0; k < n_samples; k++) {
        int t = direction > 0 ? k : n_samples - 1 - k;
        real x = in[t];
        for (int s = 0; s < n_sections; s++) {
            real y = c[6 * s] * x + z[2 * s];
            z[2 * s] = c[6 * s + 1] * x - c[6 * s + 4] * y + z[2 * s + 1];
            z[2 * s + 1] = c[6 * s + 2] * x - c[6 * s + 5] * y;
            x = y;
        }
        out[t] = x;
    }
}
"""

_context_lock = threading.Lock()
_context = None


def require_opencl(owner: str = "engine='opencl'"):
    """Return the ``pyopencl`` module, or raise ImportError naming what is missing."""
    try:
        import pyopencl
    except ImportError:
        raise ImportError(
            f"{owner}: engine='opencl' needs the 'pyopencl' package, which is not installed; {INSTALL_HINT}"
        ) from None
    try:
        platforms = pyopencl.get_platforms()
    except Exception:
        platforms = []
    if not any(p.get_devices() for p in platforms):
        raise ImportError(
            f"{owner}: pyopencl is installed but no OpenCL platform/device was found; install a "
            f"runtime: the 'pocl-binary-distribution' package (CPU) via {INSTALL_HINT}"
        )
    return pyopencl


def opencl_available() -> bool:
    """Tell whether ``engine='opencl'`` can run here."""
    try:
        require_opencl()
    except ImportError:
        return False
    return True


def _get_context():
    global _context
    cl = require_opencl()
    with _context_lock:
        if _context is None:
            device = None
            for platform in cl.get_platforms():
                devices = platform.get_devices()
                if devices:
                    device = devices[0]
                    break
            _context = cl.Context([device])
        return _context


class OpenCLSosKernel:
    """Callable ``kernel(sos, x, zi) -> (y, zf)`` with ``scipy.signal.sosfilt(axis=0)`` semantics.

    ``sos`` may be ``(n_sections, 6)`` or ``(n_channels, n_sections, 6)``;
    ``x`` is ``(n_samples, n_channels)``; ``zi`` is ``(n_sections, 2, n_channels)``.
    Use ``reverse=True`` in :meth:`filter` for a backward pass.
    """

    def __init__(self):
        cl = require_opencl()
        self._cl = cl
        self.ctx = _get_context()
        self.queue = cl.CommandQueue(self.ctx)
        device = self.ctx.devices[0]
        self.double = "cl_khr_fp64" in device.extensions
        self.real = np.float64 if self.double else np.float32
        options = ["-DUSE_DOUBLE"] if self.double else []
        self.program = cl.Program(self.ctx, _KERNEL).build(options=options)
        self._kernel = cl.Kernel(self.program, "sos_filter")
        self._buffers: dict = {}

    def _buffer(self, key: str, nbytes: int):
        buf = self._buffers.get(key)
        if buf is None or buf.size < nbytes:
            buf = self._cl.Buffer(self.ctx, self._cl.mem_flags.READ_WRITE, size=max(nbytes, 8))
            self._buffers[key] = buf
        return buf

    def __call__(self, sos: np.ndarray, x: np.ndarray, zi: np.ndarray):
        """Filter forward: ``self.filter(sos, x, zi)``."""
        return self.filter(sos, x, zi)

    def filter(self, sos: np.ndarray, x: np.ndarray, zi: np.ndarray, reverse: bool = False):
        """Run the cascade of second-order sections over ``x`` on the OpenCL device.

        Parameters
        ----------
        sos : ndarray
            ``(n_sections, 6)``, or ``(n_channels, n_sections, 6)`` for a filter per channel.
        x : ndarray
            Input, ``(n_samples, n_channels)``.
        zi : ndarray
            Initial state, ``(n_sections, 2, n_channels)``.
        reverse : bool
            Filter from the last sample to the first (the backward pass of a filtfilt).

        Returns
        -------
        y : ndarray
            Output, float64, the shape of ``x``.
        zf : ndarray
            Final state, float64, the shape of ``zi``.
        """
        cl = self._cl
        n_samples, n_channels = x.shape
        n_sections = sos.shape[-2]
        coefs = np.ascontiguousarray(sos, dtype=self.real)
        stride = n_sections * 6 if sos.ndim == 3 else 0
        xin = np.ascontiguousarray(x.T, dtype=self.real)  # (channel, sample)
        z = np.ascontiguousarray(np.transpose(zi, (2, 0, 1)), dtype=self.real)  # (channel, section, 2)
        out = np.empty_like(xin)
        b_in = self._buffer("in", xin.nbytes)
        b_out = self._buffer("out", out.nbytes)
        b_coef = self._buffer("coef", coefs.nbytes)
        b_z = self._buffer("zi", z.nbytes)
        cl.enqueue_copy(self.queue, b_in, xin)
        cl.enqueue_copy(self.queue, b_coef, coefs)
        cl.enqueue_copy(self.queue, b_z, z)
        self._kernel.set_args(
            b_in,
            b_out,
            b_coef,
            b_z,
            np.int32(n_samples),
            np.int32(n_sections),
            np.int32(-1 if reverse else 1),
            np.int32(stride),
        )
        cl.enqueue_nd_range_kernel(self.queue, self._kernel, (n_channels,), None)
        cl.enqueue_copy(self.queue, out, b_out)
        cl.enqueue_copy(self.queue, z, b_z)
        self.queue.finish()
        return out.T.astype(np.float64, copy=False), np.transpose(z, (1, 2, 0)).astype(np.float64)


class OpenCLSosEngine(SosFilterEngine):
    """:class:`~lslacq.dsp.sos.SosFilterEngine` running its recursion in OpenCL."""

    def __init__(self, coefficients, n_channels: int, chunksize: int | None = None, dtype=np.float32):
        super().__init__(coefficients, n_channels, dtype=dtype, backend=OpenCLSosKernel())
        self.chunksize = chunksize
