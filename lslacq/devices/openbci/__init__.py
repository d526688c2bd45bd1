"""OpenBCI Cyton and Cyton + Daisy: protocol and board emulator.

- :mod:`.protocol`: the 33-byte packet format, pure vectorised decoding (:class:`CytonDecoder`), no I/O.
- :class:`CytonEmulator`: a board behind its dongle on a pseudo-terminal, for tests and demos
  (``lslacq emulate openbci``).

The graph node is :class:`lslacq.devices.OpenBCI` (module :mod:`lslacq.devices.eeg_openbci`, pyacq's name).
"""

from __future__ import annotations

from ..._lazy import lazy_exports

_LAZY = {
    "CytonDecoder": ".protocol",
    "CytonChunk": ".protocol",
    "encode_packet": ".protocol",
    "microvolts_per_count": ".protocol",
    "parse_channel_reply": ".protocol",
    "CytonEmulator": ".emulator",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, globals())
