"""pyacq's module path for :class:`SharedMem` (``pyacq.core.stream.sharedarray.SharedMem``, manual 5.1.3)."""

from .sharedmem import SharedMem

__all__ = ["SharedMem"]
