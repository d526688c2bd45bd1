"""The RPC objects that belong to the calling thread.

A thread has at most one :class:`~lslacq.core.rpc.server.RPCServer` (the one it runs) and at most one
:class:`~lslacq.core.rpc.client.RPCClient` per server address (zmq sockets must stay in their thread). The
server and the client modules both read this registry; neither owns it.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["current_server", "set_current_server", "clear_current_server", "thread_clients"]


class _ThreadServer(threading.local):
    server: Any = None


class _ThreadClients(threading.local):
    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}


_server = _ThreadServer()
_clients = _ThreadClients()


def current_server() -> Any:
    """Return the RPCServer registered in the calling thread, or None."""
    return _server.server


def set_current_server(server: Any) -> None:
    """Register ``server`` as the calling thread's server (the caller checks there was none)."""
    _server.server = server


def clear_current_server(server: Any) -> None:
    """Unregister ``server`` if it is the calling thread's server."""
    if _server.server is server:
        _server.server = None


def thread_clients() -> dict[str, Any]:
    """Return the calling thread's RPCClients, keyed by server address (the dict itself, to update)."""
    return _clients.clients
