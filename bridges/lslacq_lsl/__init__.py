"""lslacq_lsl: the Lab Streaming Layer bridge of lslacq.

* :class:`LslOutlet` (node): publishes a graph stream as an LSL outlet.
* :class:`LslInlet` (node): brings an LSL stream into a graph.
* :class:`StreamWatcher`: dareplane-utils compatible ring buffer over an LSL stream.
* :func:`resolve_stream`, :func:`list_streams`: stream discovery with timeouts.
* :func:`build_stream_info`, :func:`describe_stream`: metadata mapping.

Names are resolved lazily, so ``import lslacq_lsl`` is cheap; pylsl is loaded
when the first of them is used.
"""

from __future__ import annotations

from lslacq._lazy import lazy_exports

_LAZY = {
    "StreamWatcher": "lslacq_lsl.stream_watcher",
    "StreamWatcherNotConnected": "lslacq_lsl.stream_watcher",
    "get_streams_names": "lslacq_lsl.stream_watcher",
    "get_channel_names": "lslacq_lsl.stream_watcher",
    "resolve_stream": "lslacq_lsl.resolve",
    "resolve_streams": "lslacq_lsl.resolve",
    "list_streams": "lslacq_lsl.resolve",
    "build_predicate": "lslacq_lsl.resolve",
    "StreamDescription": "lslacq_lsl.metadata",
    "build_stream_info": "lslacq_lsl.metadata",
    "describe_stream": "lslacq_lsl.metadata",
    "channel_format_for_dtype": "lslacq_lsl.metadata",
    "dtype_for_channel_format": "lslacq_lsl.metadata",
    "stable_source_id": "lslacq_lsl.metadata",
    "LslOutlet": "lslacq_lsl.outlet",
    "LslInlet": "lslacq_lsl.inlet",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _LAZY, globals())
