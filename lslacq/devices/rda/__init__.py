"""BrainVision Recorder RDA (Remote Data Access): protocol, client and server emulator.

- :mod:`.protocol`: message framing, parsing (any TCP fragmentation) and building.
- :class:`Client`: the asynchronous buffered client (rdaclient API).
- :class:`RdaEmulator`: a Recorder-like RDA server for tests and demos
  (``lslacq rda-emulator``), which can also replay BrainVision recordings
  (:func:`read_brainvision`).

The graph node is :class:`lslacq.devices.BrainAmpSocket`.
"""

from __future__ import annotations

import importlib

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

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
