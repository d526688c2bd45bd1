"""The DSP nodes' base (:class:`~lslacq.core.processing.ProcessingNode`) and their chunk helpers."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.node import Node
from ..core.processing import PASSTHROUGH_KEYS, ProcessingNode

__all__ = ["DspNode", "as_time_channel", "check_signal_input", "PASSTHROUGH_KEYS"]

#: the DSP nodes' name for the one processing base (kept for code written against it)
DspNode = ProcessingNode


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
