"""Shared machinery of the DSP nodes: one poller thread per input, online params, failure reporting."""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from ..core.node import Node
from ..core.signal import Signal
from ..core.stream.merging import deliver_merged
from ..core.tools import ThreadPollInput
from .params import Params

logger = logging.getLogger(__name__)

# metadata a filter copies from its input to its output
PASSTHROUGH_KEYS = ("sample_rate", "units", "channel_names", "channel_units", "channel_types")


class DspNode(Node):
    """Base class: subclasses implement ``_process(input_name, index, data)``.

    While running, each input is read by its own :class:`ThreadPollInput`;
    ``_process`` runs in that thread. If it raises, the node stops processing,
    logs the error, stores it in :attr:`error` and emits :attr:`failed`
    (the owner's way to learn that a background thread died).

    ``params`` (a :class:`~lslacq.dsp.params.Params`) may be changed at any time,
    from any thread: ``node.params['threshold'] = 0.5``. Values are validated
    at once; the processing thread applies them before its next chunk.
    :meth:`set_params` does the same for several keys in one call (handy
    through an RPC proxy).
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
        self.failed = Signal()
        self.error: BaseException | None = None
        self._pollers: dict[str, ThreadPollInput] = {}
        self._dirty = threading.Event()

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
        """In the processing thread: the current params if they changed since last call."""
        if not self._dirty.is_set():
            return None
        self._dirty.clear()
        return self.params.snapshot()

    # -- threads ------------------------------------------------------------------------------
    def _poll_inputs(self) -> list[str]:
        return list(self.inputs)

    def _start(self) -> None:
        self.error = None
        self._pollers = {}
        for name in self._poll_inputs():
            poller = ThreadPollInput(self.inputs[name], timeout=100, return_data=True, name=f"{self.name}-{name}")
            poller.new_data.disconnect()
            poller.process_data = self._make_handler(name, poller)  # type: ignore[method-assign]
            poller.failed.connect(self._on_failure)
            self._pollers[name] = poller
        for poller in self._pollers.values():
            poller.start()

    def _make_handler(self, input_name: str, poller: ThreadPollInput):
        if input_name not in self._batch_inputs or not self.batch_max_samples:
            def handle(index: int, data: Any) -> None:
                self._process(input_name, int(index), data)
            return handle

        stream = self.inputs[input_name]

        def deliver(index: int, data: Any) -> None:
            self._process(input_name, index, data)

        def handle_batched(index: int, data: Any) -> None:
            # a node that keeps up sees one chunk at a time; one that fell behind catches up in big ones
            deliver_merged(stream, index, data, self.batch_max_samples, deliver)
        return handle_batched

    def _stop(self) -> None:
        for poller in self._pollers.values():
            poller.stop()
        for name, poller in self._pollers.items():
            if not poller.wait(10):
                logger.error("%s: input thread %r did not stop within 10 s", self.name, name)
        self._pollers = {}

    def _close(self) -> None:
        pass

    def _on_failure(self, exc: BaseException) -> None:
        self.error = exc
        logger.error("node %r stopped processing after an error: %r", self.name, exc)
        self.failed.emit(exc)

    def _process(self, input_name: str, index: int, data: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


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
