"""Network helpers shared by every socket lslacq binds (RPC servers, the log server, streams).

The lowest layer of the core: it imports nothing from lslacq at module level,
so :mod:`lslacq.core.rpc` and :mod:`lslacq.core.stream` both build on it.
"""

from __future__ import annotations

import socket as _socket
from typing import Any

__all__ = ["connectable_address", "bind_server_socket", "host_ip"]

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
            return f"tcp://{host_ip()}:{bound[len(prefix):]}"
    return bound


def bind_server_socket(sock: Any, address: str, curve_secret_key=None, authorized_keys=None,
                       name: str = "") -> tuple:
    """Secure (CurveZMQ where required) and bind a server socket; close it if that fails.

    Parameters
    ----------
    sock : zmq.Socket
        The socket to bind (ROUTER for RPC servers, PULL for the log server).
    address : str
        Where to bind; anything other than loopback requires CurveZMQ keys
        (see :mod:`lslacq.core.rpc.security`).
    curve_secret_key, authorized_keys
        CurveZMQ keys (defaults: the user's key files, if any).
    name : str
        Who binds, for error messages.

    Returns
    -------
    tuple
        ``(auth, connectable_address)``; ``auth`` is None for an
        unauthenticated loopback server, else release it when the socket
        closes.
    """
    import zmq

    from .rpc import security  # deferred: rpc builds on this module

    try:
        auth = security.configure_server_socket(sock, address, curve_secret_key, authorized_keys, name=name)
        sock.bind(address)
    except Exception:
        sock.close(linger=0)
        raise
    return auth, connectable_address(sock.getsockopt(zmq.LAST_ENDPOINT).decode())
