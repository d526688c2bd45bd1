"""Emotiv EPOC: report decryption and decoding, and a USB dongle emulator.

- :mod:`.protocol`: keys, AES decryption and decoding of the 32-byte reports (:class:`EmotivDecoder`), no I/O.
- :class:`EmotivBackend`: a dongle as a pyusb backend (the real pyusb code path without the hardware), for
  tests and demos (needs pyusb).

The graph node is :class:`lslacq.devices.Emotiv` (module :mod:`lslacq.devices.eeg_emotiv`, pyacq's name).
"""

from __future__ import annotations

from ..._lazy import lazy_exports

_LAZY = {
    "EmotivDecoder": ".protocol",
    "EmotivChunk": ".protocol",
    "EmotivKeyError": ".protocol",
    "make_key": ".protocol",
    "detect_key": ".protocol",
    "EmotivBackend": ".emulator",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, globals())
