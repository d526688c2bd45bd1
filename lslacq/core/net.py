"""Network helpers shared by every socket lslacq binds (RPC servers, the log server, streams).

Binding with CurveZMQ is :func:`lslacq.core.rpc.security.bind_server_socket`.

The lowest layer of the core: it imports nothing from lslacq at module level,
so :mod:`lslacq.core.rpc` and :mod:`lslacq.core.stream` both build on it.
"""

from __future__ import annotations

import socket as _socket

__all__ = ["connectable_address", "host_ip"]

_WILDCARDS = ("tcp://0.0.0.0:", "tcp://*:", "tcp://[::]:")


def host_ip() -> str:
    """Return this host's address as other machines see it (``127.0.0.1`` if the name does not resolve)."""
    try:
        return _socket.gethostbyname(_socket.gethostname())
    except OSError:
        return "127.0.0.1"


def connectable_address(bound: str) -> str:
    """Turn the address a socket reports after binding into one peers can connect to.

    A wildcard bind (``tcp://0.0.0.0:PORT``, ``tcp://*:PORT``,
    ``tcp://[::]:PORT``) becomes ``tcp://<this host's address>:PORT``; other
    addresses are returned unchanged.

    Examples
    --------
    >>> connectable_address("tcp://127.0.0.1:5555")
    'tcp://127.0.0.1:5555'
    """
    for prefix in _WILDCARDS:
        if bound.startswith(prefix):
            return f"tcp://{host_ip()}:{bound[len(prefix) :]}"
    return bound
