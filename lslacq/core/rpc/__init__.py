"""Remote procedure calls and process management (pyacq's ``pyacq.core.rpc``).

- :class:`RPCServer` answers requests on the objects of one thread;
  :class:`QtRPCServer` does it in a Qt event loop (Qt is imported only there).
- :class:`RPCClient` sends requests; :class:`ObjectProxy` makes a remote object
  look local; :class:`Future` is the pending result of an asynchronous call.
- :class:`ProcessSpawner` starts a Python process running an RPCServer.
- :mod:`.log` forwards log records, uncaught exceptions and stdout/stderr.
"""

from __future__ import annotations

from ..._lazy import lazy_exports
from ...errors import RemoteCallError
from .client import RPCClient
from .future import Future
from .proxy import ObjectProxy
from .serializer import JsonSerializer, MsgpackSerializer, Serializer
from .server import RPCServer

__all__ = [
    "RPCServer",
    "RPCClient",
    "ObjectProxy",
    "Future",
    "ProcessSpawner",
    "QtRPCServer",
    "Serializer",
    "MsgpackSerializer",
    "JsonSerializer",
    "RemoteCallError",
    "RemoteCallException",
]

#: pyacq's name for the error raised by failed remote calls
RemoteCallException = RemoteCallError

_LAZY = {
    "ProcessSpawner": "lslacq.core.rpc.spawner",
    "QtRPCServer": "lslacq.core.rpc.qt",
}


__getattr__, __dir__, _ = lazy_exports(__name__, _LAZY, globals())
