"""Signal processing: IIR filters, zero-phase filtering, triggers, epoch stacking.

Nodes (pyacq 5.5): :class:`SosFilter`, :class:`OverlapFiltfilt`,
:class:`AnalogTrigger`, :class:`DigitalTrigger`, :class:`TriggerAccumulator`,
all built on :class:`DspNode` (the base class for writing your own).
Their processing engines work without nodes or threads on plain numpy chunks:
:class:`SosFilterEngine`, :class:`OverlapFiltfiltEngine`,
:class:`ThresholdDetector`, :class:`EpochStacker`. Event streams use
:data:`EVENT_DTYPE` (see :mod:`lslacq.core.stream.events`).

Names are imported lazily: ``import lslacq.dsp`` does not import scipy.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY = {
    # engines and helpers
    "design_sos": "lslacq.dsp.sos",
    "validate_sos": "lslacq.dsp.sos",
    "SosFilterEngine": "lslacq.dsp.sos",
    "OverlapFiltfiltEngine": "lslacq.dsp.overlap",
    "overlap_filtfilt_error": "lslacq.dsp.overlap",
    "suggest_overlapsize": "lslacq.dsp.overlap",
    "ThresholdDetector": "lslacq.dsp.detect",
    "extract_bit": "lslacq.dsp.detect",
    "EpochStacker": "lslacq.dsp.epochs",
    "EVENT_DTYPE": "lslacq.core.stream.events",
    "EVENT_STREAM_SPEC": "lslacq.core.stream.events",
    "make_events": "lslacq.core.stream.events",
    "as_event_indexes": "lslacq.core.stream.events",
    "event_labels": "lslacq.core.stream.events",
    "Param": "lslacq.dsp.params",
    "Params": "lslacq.dsp.params",
    # nodes
    "DspNode": "lslacq.dsp._node",
    "SosFilter": "lslacq.dsp.sosfilter",
    "OverlapFiltfilt": "lslacq.dsp.overlapfiltfilt",
    "AnalogTrigger": "lslacq.dsp.trigger",
    "DigitalTrigger": "lslacq.dsp.trigger",
    "TriggerAccumulator": "lslacq.dsp.triggeraccumulator",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, globals())
