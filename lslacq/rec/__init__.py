"""Recording and replay: RawRecorder, XdfRecorder, AviRecorder, the reader and MNE export, file and XDF replay.

Names are resolved lazily: ``lslacq.rec.XdfReplay`` imports pyxdf only when used,
and MNE is imported only by the export and by replays of MNE-readable files.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY = {
    "RawRecorder": ".rawrecorder",
    "DiskFullError": ".rawrecorder",
    "read_recording": ".reader",
    "Recording": ".reader",
    "RecordedStream": ".reader",
    "AviRecorder": ".avirecorder",
    "FileReplay": ".replay",
    "XdfReplay": ".xdf_replay",
    "XdfRecorder": ".xdfrecorder",
    "XdfWriter": ".xdf_writer",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, globals())
