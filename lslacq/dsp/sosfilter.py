"""SosFilter node: causal IIR filtering of a multichannel stream (pyacq 5.5.2)."""

from __future__ import annotations

import importlib.util

import numpy as np

from ..core.processing import copy_metadata
from ..core.rechunk import Rechunker
from ._node import DspNode, as_time_channel, check_signal_input
from .params import Param
from .sos import SosFilterEngine, validate_sos

__all__ = ["SosFilter"]

ENGINES = ("numpy", "opencl")
#: pyacq's flag: pyopencl is installed (engine='opencl' also needs an OpenCL device)
HAVE_PYOPENCL = importlib.util.find_spec("pyopencl") is not None
#: other accepted engine names: pyacq's default engine is called 'scipy' (our 'numpy' engine uses scipy too)
ENGINE_ALIASES = {"scipy": "numpy"}


def output_dtype(input_dtype: np.dtype, requested=None) -> np.dtype:
    """Float inputs keep their dtype; integer inputs are filtered to float32 (or ``requested``)."""
    if requested is not None:
        dt = np.dtype(requested)
        if dt.kind != "f":
            raise ValueError(f"output dtype must be a float type, got {dt}")
        return dt
    return input_dtype if input_dtype.kind == "f" else np.dtype(np.float32)


class SosCoefficientsNode(DspNode):
    """Base of the nodes whose filter is a ``params['coefficients']`` SOS array."""

    @property
    def coefficients(self) -> np.ndarray:
        return self.params["coefficients"]

    def set_coefficients(self, coefficients) -> None:
        """Change the filter (while running too); pyacq's method name."""
        self.params["coefficients"] = coefficients

    def _check_param(self, name, value, values):
        if name == "coefficients" and value is not None and getattr(self, "nb_channel", None) is not None:
            validate_sos(value, self.nb_channel, name=f"{self.name}.params['coefficients']")
        return value

    def after_input_connect(self, inputname: str) -> None:
        """Take the channel count and dtype from the input; pass its metadata through."""
        params = self.input.params
        self.nb_channel, self._in_dtype = check_signal_input(self, "signals")
        spec = self.output.spec
        spec["shape"] = (-1, self.nb_channel)
        spec["dtype"] = output_dtype(self._in_dtype, getattr(self, "_requested_dtype", None)).str
        copy_metadata(params, spec)

    def check_input_specs(self) -> None:
        validate_sos(self.params["coefficients"], self.nb_channel, name=f"{self.name}: coefficients")

    def _configure_filter(self, coefficients, engine: str, dtype) -> None:
        """Check and keep what every SOS node configures: engine, coefficients, output dtype."""
        engine = ENGINE_ALIASES.get(engine, engine) if isinstance(engine, str) else engine
        if engine not in ENGINES:
            raise ValueError(
                f"{self.name}: engine={engine!r} is unknown; use one of {list(ENGINES) + list(ENGINE_ALIASES)}"
            )
        if engine == "opencl":
            from .opencl import require_opencl

            require_opencl(self.name)
        validate_sos(coefficients, name=f"{self.name}: coefficients")
        self.engine_name = engine
        self._requested_dtype = dtype
        self.params["coefficients"] = coefficients
        self.params_applied()

    def _take_input_scaling(self) -> None:
        """At initialize: the input's scale/offset and the output dtype."""
        params = self.input.params
        self._scale = params.get("scale")
        self._offset = params.get("offset")
        self._out_dtype = output_dtype(self._in_dtype, self._requested_dtype)


class SosFilter(SosCoefficientsNode):
    """Filter every channel of a signal stream with second-order sections (causal IIR).

    The per-channel filter state is carried from chunk to chunk, so the
    streamed output equals ``scipy.signal.sosfilt`` applied to the whole
    signal. Output sample ``i`` is the filtered input sample ``i`` (same
    absolute indexes, no delay beyond the filter's own phase).

    configure() parameters
    ----------------------
    coefficients : array_like
        ``(n_sections, 6)`` (same filter on all channels) or
        ``(n_channels, n_sections, 6)`` (one filter per channel), e.g. from
        :func:`lslacq.dsp.design_sos` or ``scipy.signal.iirfilter(...,
        output='sos')``.
    chunksize : int or None
        None: filter chunks as they arrive. An int: regroup the input into
        output chunks of exactly this many samples (required by
        ``engine='opencl'``).
    engine : {'numpy', 'scipy', 'opencl'}
        'numpy' (or 'scipy', pyacq's name for it) uses scipy; 'opencl' runs the filter in an OpenCL kernel
        (needs pyopencl and an OpenCL runtime: ``pip install lslacq[opencl]``).
    dtype : float dtype, optional
        Output dtype (default: the input dtype, or float32 for integer inputs).

    Online parameters
    -----------------
    ``params['coefficients']`` (or :meth:`set_coefficients`): new filter,
    validated at once and swapped between two chunks; the new filter starts
    from its steady state for the last sample, so there is no NaN and no step
    transient.

    Example
    -------
    >>> filt = SosFilter()
    >>> filt.configure(coefficients=design_sos("bandpass", [1, 40], sample_rate=1000.0))
    >>> filt.input.connect(device.output)
    >>> filt.output.configure(protocol="tcp", transfermode="plaindata")
    >>> filt.initialize()
    ... filt.start()
    >>> filt.params["coefficients"] = design_sos("lowpass", 30, 1000.0)
    """

    _input_specs = {"signals": dict(streamtype="analogsignal")}
    _output_specs = {"signals": dict(streamtype="analogsignal")}
    _batch_inputs = ("signals",)
    _param_decl = (
        Param(
            "coefficients",
            None,
            validator=lambda c: None if c is None else validate_sos(c),
            doc="SOS coefficients (validated on assignment)",
        ),
    )

    def _configure(self, coefficients=None, chunksize: int | None = None, engine: str = "numpy", dtype=None) -> None:
        if chunksize is not None and (not isinstance(chunksize, (int, np.integer)) or chunksize < 1):
            raise ValueError(f"{self.name}: chunksize must be None or a positive int, got {chunksize!r}")
        self._configure_filter(coefficients, engine, dtype)
        if self.engine_name == "opencl" and chunksize is None:
            raise ValueError(f"{self.name}: engine='opencl' needs a fixed chunksize, e.g. configure(chunksize=256)")
        self.chunksize = None if chunksize is None else int(chunksize)

    def _initialize(self) -> None:
        self._take_input_scaling()
        if np.dtype(self.output.params.np_dtype) != self._out_dtype:
            raise ValueError(
                f"{self.name}: output dtype {self.output.params.np_dtype} cannot hold the filtered "
                f"signal; leave dtype unset in output.configure() or use {self._out_dtype}"
            )
        self._engine = self._make_engine(self.params["coefficients"])
        self._chunker = Rechunker(self.chunksize, on_gap="restart", name=self.name) if self.chunksize else None

    def _make_engine(self, coefficients):
        if self.engine_name == "opencl":
            from .opencl import OpenCLSosEngine

            return OpenCLSosEngine(coefficients, self.nb_channel, self.chunksize, dtype=self._out_dtype)
        return SosFilterEngine(coefficients, self.nb_channel, dtype=self._out_dtype)

    #: catch-up merging also stops at this many bytes of input (``batch_max_samples`` counts samples): merged
    #: big chunks cost more than they save (a copy, bigger temporaries: 384 ch x 300-sample chunks filter 1.6x
    #: slower merged by 13) and hold the oldest samples back until the whole batch is done
    batch_max_bytes: int = 2**18

    def _start(self) -> None:
        self._engine.reset()
        if self._chunker is not None:
            self._chunker.reset()
        cap = type(self).batch_max_samples
        if cap:  # small chunks still merge (64 ch x 10 samples: up to 1024 samples)
            per_sample = self.nb_channel * self._in_dtype.itemsize
            self.batch_max_samples = max(1, min(cap, self.batch_max_bytes // per_sample))
        super()._start()

    @property
    def n_state_resets(self) -> int:
        """How often non-finite input forced a state reset (see SosFilterEngine)."""
        return self._engine.n_state_resets

    def _apply_params(self, params: dict) -> None:
        self._engine.set_coefficients(params["coefficients"])  # validated on assignment

    def _process(self, input_name: str, index: int, data: np.ndarray) -> None:
        x = as_time_channel(data)
        if self._scale is not None or self._offset is not None:
            x = x * (1.0 if self._scale is None else self._scale) + (0.0 if self._offset is None else self._offset)
        if self._chunker is None:
            self.output.send(self._engine.process(x), index=index)
            return
        for end, block in self._chunker.push(index, x):
            self.output.send(self._engine.process(block), index=end)
