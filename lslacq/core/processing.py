"""ProcessingNode: the one base of every node that transforms its inputs (filters, detectors, converters).

Write ``_process(input_name, index, data)`` and, when the node has online
parameters, declare them in ``_param_decl``; the base reads each connected
input in its own worker thread, applies parameter changes between two
chunks, and routes failures to the node's failure contract.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .inputpoller import ThreadPollInput
from .node import Node
from .params import Param, Params
from .stream.merging import deliver_merged

__all__ = [
    "ProcessingNode",
    "PASSTHROUGH_KEYS",
    "FORWARD_KEYS",
    "copy_metadata",
    "as_time_channel",
    "check_signal_input",
]

#: stream metadata a transform copies from its input to its outputs (it sets shape and dtype itself)
PASSTHROUGH_KEYS = ("sample_rate", "units", "channel_names", "channel_units", "channel_types")
#: everything a node that forwards the samples unchanged copies (a converter, a splitter, a rechunker)
FORWARD_KEYS = ("streamtype", "dtype", "shape", "scale", "offset", *PASSTHROUGH_KEYS)


def copy_metadata(source: Any, target: Any, keys: tuple[str, ...] = PASSTHROUGH_KEYS) -> None:
    """Copy the ``keys`` that ``source`` (an input's params) sets, not None or empty, to ``target`` (a spec)."""
    for key in keys:
        value = source.get(key)
        if value is not None and not (isinstance(value, str) and value == ""):
            target[key] = value


class ProcessingNode(Node):
    """Base class of the transforms: write ``_process``; the base runs the threads and applies the params.

    While running, each connected input is read by its own
    :class:`~lslacq.core.tools.ThreadPollInput` (a worker owned by the node,
    :meth:`~lslacq.core.node.Node.add_worker`), whose handler calls
    ``_process(input_name, index, data)`` for every chunk, in that thread.
    If ``_process`` raises, that input stops and the failure goes through
    the node contract (:attr:`~lslacq.core.node.Node.error`,
    :attr:`~lslacq.core.node.Node.failed`, logged once). Inputs marked
    ``'optional': True`` in ``_input_specs`` may stay unconnected.

    ``params`` (a :class:`~lslacq.core.params.Params` declared by
    ``_param_decl``) may be changed at any time, from any thread:
    ``node.params['gain'] = 2.0``. Values are validated at once (by the
    declaration and ``_check_param``); before its next ``_process`` the
    processing thread calls ``_apply_params(snapshot)`` if anything changed
    (a node that reads ``self.params[...]`` in ``_process`` needs no
    ``_apply_params``). :meth:`set_params` changes several keys in one call
    (handy through an RPC proxy); ``configure(**online_params)`` is
    :meth:`_configure_params`.

    Subclasses implement:

    - ``_process(input_name, index, data)``: one chunk of input
      ``input_name`` ending at absolute sample ``index``;
    - ``_apply_params(params)`` (optional): every parameter, after a change;
    - the usual Node hooks (``_configure``, ``after_input_connect``,
      ``_initialize``...); a subclass overriding ``_start`` calls
      ``super()._start()``.

    Class attributes: ``_param_decl`` (tuple of
    :class:`~lslacq.core.params.Param`), ``_batch_inputs`` (inputs whose
    waiting chunks are merged when the node falls behind) and
    ``batch_max_samples`` (largest merged chunk).
    """

    _param_decl: tuple[Param, ...] = ()
    #: inputs whose waiting chunks are merged when the node falls behind (see ``batch_max_samples``)
    _batch_inputs: tuple[str, ...] = ()
    #: largest merged chunk, in samples (0 disables catch-up batching)
    batch_max_samples: int = 4096
    #: poll period of the input threads, ms (how fast stop() is noticed)
    poll_timeout_ms: int = 100

    @classmethod
    def param_declarations(cls) -> dict[tuple[str, ...], Param]:
        """Return the :class:`~lslacq.core.params.Param` of each ``params`` key of this node type, by key path.

        What ``node.params`` holds and a graph file's ``params`` table is checked against (``lslacq check``);
        the same method as the viewers' (``WidgetNode.param_declarations``).
        """
        return {(param.name,): param for param in cls._param_decl}

    def __init__(self, name: str = "", parent: Any = None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        self.params = Params(self._param_decl, owner=self.name, check=self._check_param)
        self.params.connect(self._on_param_change)
        self._dirty = threading.Event()
        self._params_lock = threading.Lock()

    # -- defaults a plain transform needs no code for ----------------------------------------
    def _configure(self, *args: Any, **params: Any) -> None:
        """Default: ``configure(**online_params)`` sets declared params (unknown names: TypeError)."""
        self._configure_params(params)

    _configure.params_only = True  # type: ignore[attr-defined]  # configargs: the accepted names are _param_decl's

    def after_input_connect(self, inputname: str) -> None:
        """Give the output the input's dtype, shape and metadata (one input and one output of the same name).

        Override it when the transform changes them.
        """
        if len(self.inputs) == 1 and len(self.outputs) == 1 and inputname in self.outputs:
            copy_metadata(
                self.inputs[inputname].params, self.outputs[inputname].spec, ("dtype", "shape", *PASSTHROUGH_KEYS)
            )

    # -- params -------------------------------------------------------------------------
    def set_params(self, **kwargs) -> None:
        """Change several parameters at once (validated together)."""
        self.params.update(kwargs)

    def _configure_params(self, kwargs: dict) -> None:
        """Apply online parameters given to ``configure()``; unknown names are a TypeError."""
        unknown = sorted(set(kwargs) - set(self.params))
        if unknown:
            raise TypeError(
                f"{self.name}.configure() got unexpected arguments {unknown}; parameters: {sorted(self.params)}"
            )
        self.params.update(kwargs)
        self.params_applied()

    def params_applied(self) -> None:
        """Tell the base the current params are already in effect (set at configure, applied by hand)."""
        self._dirty.clear()

    def _check_param(self, name: str, value: Any, values: dict) -> Any:
        """Validate ``value`` against the node's current state (subclasses); return it."""
        return value

    def _on_param_change(self, name: str, value: Any) -> None:
        self._dirty.set()

    def _take_params(self) -> dict | None:
        """Return the current params if they changed since the last call, else None (any thread)."""
        if not self._dirty.is_set():
            return None
        self._dirty.clear()
        return self.params.snapshot()

    def _apply_params(self, params: dict) -> None:
        """Apply changed parameters (all of them, as a dict) in the processing thread; override it."""

    def _process_chunk(self, input_name: str, index: int, data: Any) -> None:
        if self._dirty.is_set():
            with self._params_lock:  # one input thread applies a change, the others wait for it
                changed = self._take_params()
                if changed is not None:
                    self._apply_params(changed)
        self._process(input_name, index, data)

    # -- threads ------------------------------------------------------------------------------
    def _poll_inputs(self) -> list[str]:
        """Return the inputs read by a thread of their own (default: every connected input)."""
        return [name for name, inp in self.inputs.items() if inp.connected]

    def _start(self) -> None:
        for name in self._poll_inputs():
            self.add_worker(
                ThreadPollInput(
                    self.inputs[name],
                    timeout=self.poll_timeout_ms,
                    return_data=True,
                    name=f"{self.name}-{name}",
                    handler=self._make_handler(name),
                )
            )

    def _make_handler(self, input_name: str) -> Callable[[int, Any], None]:
        process = self._process_chunk
        if input_name not in self._batch_inputs or not self.batch_max_samples:

            def handle(index: int, data: Any) -> None:
                process(input_name, int(index), data)

            return handle

        stream = self.inputs[input_name]

        def deliver(index: int, data: Any) -> None:
            process(input_name, index, data)

        def handle_batched(index: int, data: Any) -> None:
            # a node that keeps up sees one chunk at a time; one that fell behind catches up in big ones
            deliver_merged(stream, index, data, self.batch_max_samples, deliver)

        return handle_batched

    def _process(self, input_name: str, index: int, data: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _process(input_name, index, data)")


# -- helpers of (time, channel) transforms (the DSP and BCI nodes) ---------------------------------
def as_time_channel(data: np.ndarray) -> np.ndarray:
    """View a chunk as ``(n_samples, n_channels)`` (1-D streams become one channel)."""
    arr = np.asarray(data)
    if arr.ndim == 1:
        return arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"expected a (time, channel) chunk, got shape {arr.shape}")
    return arr


def check_signal_input(node: Node, input_name: str = "signals") -> tuple[int, Any]:
    """Return ``(n_channels, dtype)`` of a connected (time, channel) input, or raise ValueError."""
    params = node.inputs[input_name].params
    if params is None:
        raise ValueError(f"{node.name}: input {input_name!r} is not connected; connect it before initialize()")
    frame = params.frame_shape
    if len(frame) > 1:
        raise ValueError(
            f"{node.name}: input {input_name!r} has shape {tuple(params.shape)}; a (time, channel) stream is required"
        )
    return (frame[0] if frame else 1), params.np_dtype
