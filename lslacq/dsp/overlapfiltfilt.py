"""OverlapFiltfilt node: zero-phase (forward-backward) filtering by overlapping windows (pyacq 5.5.2)."""

from __future__ import annotations

import numpy as np

from ._node import as_time_channel
from .overlap import OverlapFiltfiltEngine
from .params import Param
from .sos import validate_sos
from .sosfilter import HAVE_PYOPENCL, SosCoefficientsNode  # noqa: F401  (HAVE_PYOPENCL: pyacq's name here)

__all__ = ["OverlapFiltfilt"]


class OverlapFiltfilt(SosCoefficientsNode):
    """Forward-backward SOS filtering of a stream with a sliding, overlapping window.

    Because the signal is filtered piecewise, the result differs slightly from
    ``scipy.signal.sosfiltfilt`` on the whole signal: a small ``chunksize``
    affects low frequencies, a small ``overlapsize`` leaves transients at the
    window ends. Check the residual for your filter with
    :func:`lslacq.dsp.overlap_filtfilt_error`, or let
    :func:`lslacq.dsp.suggest_overlapsize` pick ``overlapsize`` for a target
    error (docs/dsp.md has a table).

    The input is regrouped into blocks of exactly ``chunksize`` samples. Two
    cases for ``overlapsize``:

    1. ``overlapsize < chunksize/2``: consecutive windows overlap only at
       their ends; the central part of each chunk comes from one window.
    2. ``overlapsize > chunksize/2``: windows fully overlap, there is no
       central part.

    In both cases, for each new block arriving at ``[-chunksize:]``, the chunk
    computed at ``[-(chunksize + overlapsize):-overlapsize]`` is released: the
    output is delayed by ``overlapsize`` samples and keeps the absolute indexes
    of the input (output sample ``i`` is the filtered input sample ``i``).

    configure() parameters
    ----------------------
    coefficients : array_like
        ``(n_sections, 6)``, or ``(n_channels, n_sections, 6)`` for a filter per channel.
    chunksize : int
        Window step and output chunk length (default 1024).
    overlapsize : int
        Extra samples at the end of each window, and the output delay (default 512).
    engine : {'numpy', 'scipy', 'opencl'}
        'numpy' (or 'scipy', pyacq's name for it) uses scipy; 'opencl' runs both passes in an OpenCL
        kernel (``pip install lslacq[opencl]``).
    dtype : float dtype, optional
        Output dtype (default: input dtype, float32 for integer input).

    Online parameters
    -----------------
    ``params['coefficients']`` (or :meth:`set_coefficients`).
    """

    _input_specs = {"signals": dict(streamtype="analogsignal")}
    _output_specs = {"signals": dict(streamtype="analogsignal")}
    _batch_inputs = ("signals",)
    _param_decl = (Param("coefficients", None, validator=lambda c: None if c is None else validate_sos(c)),)

    def _configure(
        self, chunksize: int = 1024, overlapsize: int = 512, coefficients=None, engine: str = "numpy", dtype=None
    ) -> None:
        for name, value, low in (("chunksize", chunksize, 1), ("overlapsize", overlapsize, 0)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise ValueError(f"{self.name}: {name} must be an int >= {low}, got {value!r}")
        self._configure_filter(coefficients, engine, dtype)
        self.chunksize, self.overlapsize = int(chunksize), int(overlapsize)

    def _initialize(self) -> None:
        self._take_input_scaling()
        backend = None
        if self.engine_name == "opencl":
            from .opencl import OpenCLSosKernel

            backend = OpenCLSosKernel()
        self._engine = OverlapFiltfiltEngine(
            self.params["coefficients"],
            self.chunksize,
            self.overlapsize,
            self.nb_channel,
            dtype=self._out_dtype,
            backend=backend,
        )

    def _start(self) -> None:
        self._engine.reset()
        super()._start()

    def _apply_params(self, params: dict) -> None:
        self._engine.set_coefficients(params["coefficients"])

    def _process(self, input_name: str, index: int, data: np.ndarray) -> None:
        x = as_time_channel(data)
        if self._scale is not None or self._offset is not None:
            x = x * (1.0 if self._scale is None else self._scale) + (0.0 if self._offset is None else self._offset)
        result = self._engine.process(index, x)
        if result is not None:
            end, out = result
            self.output.send(out, index=end)
