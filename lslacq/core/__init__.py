"""lslacq's core: nodes, streams, tools, and (in ``lslacq.core.rpc``) remote control.

Mirrors ``pyacq.core`` so ``from lslacq.core import Node, register_node_type``
works in ported code. Names are resolved lazily.
"""

from __future__ import annotations

from .._lazy import lazy_exports

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
    "ThreadPollOutput": ".chunking",
    "ChunkResizer": ".chunking",
    "StreamConverter": ".tools",
    "ChannelSplitter": ".tools",
    "Signal": ".signal",
    # writing nodes: the worker primitive, the processing base, online parameters, the rechunker
    "Worker": ".workers",
    "ProcessingNode": ".processing",
    "Param": ".params",
    "Params": ".params",
    "Rechunker": ".rechunk",
    # process management (lslacq.core.manager / nodegroup / host)
    "create_manager": ".manager",
    "Manager": ".manager",
    "NodeGroup": ".nodegroup",
    "Host": ".host",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, globals(), submodules=("stream", "rpc", "tools"))
