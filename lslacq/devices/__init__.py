"""Device nodes: one module per device; vendor libraries are imported inside each module.

Names are resolved lazily (``lslacq.devices.BrainAmpSocket`` imports only
its own module).
"""

from __future__ import annotations

import importlib

# public name -> module (relative to this package)
_LAZY = {
    "NumpyDeviceBuffer": ".numpy_device",
    "BrainAmpSocket": ".brainampsocket",
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
    return sorted(set(__all__) | set(globals()))
