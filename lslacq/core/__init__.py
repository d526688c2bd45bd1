"""lslacq's core: nodes, streams, tools, and (in ``lslacq.core.rpc``) remote control.

Mirrors ``pyacq.core`` so ``from lslacq.core import Node, register_node_type``
works in ported code. Names are resolved lazily.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Node": ".node",
    "register_node_type": ".registry",
    "list_node_types": ".registry",
    "get_node_type": ".registry",
    "StreamSpec": ".stream",
    "InputStream": ".stream",
    "OutputStream": ".stream",
    "RingBuffer": ".stream",
    "SharedMem": ".stream",
    "ThreadPollInput": ".tools",
    "StreamConverter": ".tools",
    "ChannelSplitter": ".tools",
    "Signal": ".signal",
    # process management (lslacq.core.manager / nodegroup / host)
    "create_manager": ".manager",
    "Manager": ".manager",
    "NodeGroup": ".nodegroup",
    "Host": ".host",
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
