"""dareplane compatibility for lslacq.

Drop-in replacements for dareplane-utils' module server, JSON log
forwarding and EventLoop, plus a module server that exposes an lslacq graph
to a dareplane control room. dareplane module code switches by changing its
imports::

    from lslacq_dareplane import DefaultServer, EventLoop, get_logger

Names are resolved lazily, so importing the package is cheap.
"""

from __future__ import annotations

from lslacq._lazy import lazy_exports

# public name -> module that defines it
_LAZY = {
    "DefaultServer": "lslacq_dareplane.server",
    "DefaultCallbackServer": "lslacq_dareplane.server",
    "BUILT_IN_PCOMMS": "lslacq_dareplane.protocol",
    "parse_command": "lslacq_dareplane.protocol",
    "CommandError": "lslacq_dareplane.protocol",
    "stop_thread": "lslacq_dareplane.stoppers",
    "stop_process": "lslacq_dareplane.stoppers",
    "get_logger": "lslacq_dareplane.log_forwarding",
    "JsonSocketHandler": "lslacq_dareplane.log_forwarding",
    "LogRecordSocketReceiver": "lslacq_dareplane.log_forwarding",
    "EventLoop": "lslacq_dareplane.event_loop",
    "GraphModule": "lslacq_dareplane.graph_module",
    "RecorderModule": "lslacq_dareplane.recorder_module",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, globals())
