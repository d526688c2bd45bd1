"""Shared machinery of the DSP nodes: one poller thread per input, online params, failure reporting."""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from ..core.node import Node
from ..core.stream.merging import deliver_merged
from ..core.tools import ThreadPollInput, join_thread
from .params import Params

__all__ = ["DspNode", "as_time_channel", "check_signal_input", "PASSTHROUGH_KEYS"]

logger = logging.getLogger(__name__)

# metadata a filter copies from its input to its output
PASSTHROUGH_KEYS = ("sample_rate", "units", "channel_names", "channel_units", "channel_types")


class DspNode(Node):
    """Base class of the DSP nodes: write ``_process`` (and ``_apply_params``), the base runs the threads.

    While running, each input is read by its own
    :class:`~lslacq.core.tools.ThreadPollInput`, whose handler calls
    ``_process(input_name, index, data)`` for every chunk, in that thread.
    If ``_process`` raises, that input stops and the failure goes through
    the node contract (:attr:`~lslacq.core.node.Node.error`,
    :attr:`~lslacq.core.node.Node.failed`, logged once).

    ``params`` (a :class:`~lslacq.dsp.params.Params` declared by
    ``_param_decl``) may be changed at any time, from any thread:
    ``node.params['threshold'] = 0.5``. Values are validated at once (by the
    declaration and ``_check_param``); the processing thread applies them by
    calling ``_apply_params(snapshot)`` before its next ``_process``.
    :meth:`set_params` changes several keys in one call (handy through an
    RPC proxy).

    Subclasses implement:

    - ``_process(input_name, index, data)``: one chunk of input
      ``input_name`` ending at absolute sample ``index``;
    - ``_apply_params(params)`` (optional): every parameter, after a change;
    - the usual Node hooks (``_configure``, ``after_input_connect``,
      ``_initialize``...); call ``super()._start()``/``super()._stop()`` if
      ``_start``/``_stop`` are overridden.

    Class attributes: ``_param_decl`` (tuple of
    :class:`~lslacq.dsp.params.Param`), ``_batch_inputs`` (inputs whose
    waiting chunks are merged when the node falls behind) and
    ``batch_max_samples`` (largest merged chunk).
    """

    _param_decl: tuple = ()
    #: inputs whose waiting chunks are merged when the node falls behind (see ``batch_max_samples``)
    _batch_inputs: tuple = ()
    #: largest merged chunk, in samples (0 disables catch-up batching)
    batch_max_samples: int = 4096

    def __init__(self, name: str = "", parent: Any = None, **kwargs):
        super().__init__(name=name, parent=parent, **kwargs)
        self.params = Params(self._param_decl, owner=self.name, check=self._check_param)
        self.params.connect(self._on_param_change)
        self._pollers: dict[str, ThreadPollInput] = {}
        self._dirty = threading.Event()
        self._params_lock = threading.Lock()

    # -- params -------------------------------------------------------------------------
    def set_params(self, **kwargs) -> None:
        """Change several parameters at once (validated together)."""
        self.params.update(kwargs)

    def _configure_params(self, kwargs: dict) -> None:
        """Apply online parameters given to ``configure()``; unknown names are a TypeError."""
        unknown = sorted(set(kwargs) - set(self.params))
        if unknown:
            raise TypeError(f"{self.name}.configure() got unexpected arguments {unknown}; parameters: "
                            f"{sorted(self.params)}")
        self.params.update(kwargs)
        self._dirty.clear()

    def _check_param(self, name: str, value: Any, values: dict) -> Any:
        """Validate ``value`` against the node's current state (subclasses); return it."""
        return value

    def _on_param_change(self, name: str, value: Any) -> None:
        self._dirty.set()

    def _take_params(self) -> dict | None:
        """The current params if they changed since the last call, else None (any thread)."""
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
        return list(self.inputs)

    def _start(self) -> None:
        self._pollers = {}
        for name in self._poll_inputs():
            poller = ThreadPollInput(self.inputs[name], timeout=100, return_data=True, name=f"{self.name}-{name}",
                                     handler=self._make_handler(name))
            poller.failed.connect(self._on_failure)
            self._pollers[name] = poller
        for poller in self._pollers.values():
            poller.start()

    def _make_handler(self, input_name: str):
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

    def _stop(self) -> None:
        for poller in self._pollers.values():
            poller.stop()
        for name, poller in self._pollers.items():
            join_thread(poller._thread, 10, f"{self.name}: input thread {name!r}", logger)
        self._pollers = {}

    def _close(self) -> None:
        pass

    def _on_failure(self, exc: BaseException) -> None:
        self._report_error(exc, context="processing its input")

    def _process(self, input_name: str, index: int, data: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _process(input_name, index, data)")


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
    frame = params.frame_shape
    if len(frame) > 1:
        raise ValueError(f"{node.name}: input {input_name!r} has shape {tuple(params.shape)}; "
                         "a (time, channel) stream is required")
    return (frame[0] if frame else 1), params.np_dtype
