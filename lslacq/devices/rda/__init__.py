"""BrainVision Recorder RDA (Remote Data Access): protocol, client and server emulator.

- :mod:`.protocol`: message framing, parsing (any TCP fragmentation) and building.
- :class:`Client`: the asynchronous buffered client (rdaclient API).
- :class:`RdaEmulator`: a Recorder-like RDA server for tests and demos
  (``lslacq rda-emulator``), which can also replay BrainVision recordings
  (:func:`read_brainvision`).

The graph node is :class:`lslacq.devices.BrainAmpSocket`.
"""

from __future__ import annotations

from ..._lazy import lazy_exports

_LAZY = {
    "Client": ".client",
    "RdaEmulator": ".emulator",
    "RdaParser": ".protocol",
    "RdaProtocolError": ".protocol",
    "StartMessage": ".protocol",
    "DataMessage": ".protocol",
    "StopMessage": ".protocol",
    "Marker": ".protocol",
    "MARKER_DTYPE": ".protocol",
    "fetch_start_message": ".client",
    "read_brainvision": ".brainvision",
    "BrainVisionRecording": ".brainvision",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, globals())
