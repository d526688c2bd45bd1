"""The DSP nodes' base (:class:`~lslacq.core.processing.ProcessingNode`) and their chunk helpers."""

from __future__ import annotations

from ..core.processing import PASSTHROUGH_KEYS, ProcessingNode, as_time_channel, check_signal_input

__all__ = ["DspNode", "as_time_channel", "check_signal_input", "PASSTHROUGH_KEYS"]

#: the DSP nodes' name for the one processing base (kept for code written against it)
DspNode = ProcessingNode
