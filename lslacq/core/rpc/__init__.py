"""Remote procedure calls and process management (pyacq's ``pyacq.core.rpc``).

- :class:`RPCServer` answers requests on the objects of one thread;
  :class:`QtRPCServer` does it in a Qt event loop (Qt is imported only there).
- :class:`RPCClient` sends requests; :class:`ObjectProxy` makes a remote object
  look local; :class:`Future` is the pending result of an asynchronous call.
- :class:`ProcessSpawner` starts a Python process running an RPCServer.
- :mod:`.log` forwards log records, uncaught exceptions and stdout/stderr.
"""

from __future__ import annotations

import importlib

from ...errors import RemoteCallError
from .client import RPCClient
from .future import Future
from .proxy import ObjectProxy
from .serializer import JsonSerializer, MsgpackSerializer, Serializer
from .server import RPCServer

__all__ = ["RPCServer", "RPCClient", "ObjectProxy", "Future", "ProcessSpawner", "QtRPCServer", "Serializer",
           "MsgpackSerializer", "JsonSerializer", "RemoteCallError", "RemoteCallException"]

#: pyacq's name for the error raised by failed remote calls
RemoteCallException = RemoteCallError

_LAZY = {
    "ProcessSpawner": "lslacq.core.rpc.spawner",
    "QtRPCServer": "lslacq.core.rpc.qt",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
