"""CurveZMQ for stream data: the key policy of the RPC servers, applied to outputs bound off loopback.

An output whose process has CurveZMQ keys (``lslacq host --key
--authorized-keys``, ``create_manager(secret_key=..., authorized_keys=...)``,
:func:`lslacq.core.rpc.security.set_default_keys`; spawned nodegroups inherit
them) and that binds a tcp address other than loopback accepts only readers
that complete a CurveZMQ handshake with an authorized key: anyone else gets
nothing. Its public key travels in the stream parameters (``server_key``), so
an :class:`~lslacq.core.stream.InputStream` given those parameters
authenticates with the keys of its own process. Loopback tcp, ipc and inproc
streams never use CurveZMQ (only this machine reaches them).

An output off loopback in a process without keys stays open to anyone who
reaches it, as before, and says so in a warning.
"""

from __future__ import annotations

import logging

import zmq

from ..rpc import security

__all__ = ["secure_output", "secure_input", "is_protected", "HANDSHAKE_FAILED"]

logger = logging.getLogger(__name__)

HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)

_HOW_TO_GET_KEYS = (
    "`lslacq host --key K.key_secret --authorized-keys DIR` for its nodegroups, "
    "create_manager(secret_key=..., authorized_keys=...) or "
    "lslacq.core.rpc.security.set_default_keys(secret_key=..., authorized_keys=...) in a script; "
    "create keys with `lslacq keygen`"
)


def is_protected(address: str) -> bool:
    """Whether an output bound at ``address`` in this process would require CurveZMQ readers."""
    return not security.is_loopback_address(address) and security.get_default_keys()["secret_key"] is not None


def secure_output(sock: zmq.Socket, address: str, label: str) -> security.ServerAuth | None:
    """Make ``sock`` (an output's ROUTER, not bound yet) a CurveZMQ server if the policy asks for it.

    Returns the server's auth (release it when the socket closes) or None.

    Raises
    ------
    ValueError
        The process has a key but no authorized keys, or a key that cannot be read.
    """
    if security.is_loopback_address(address):
        return None
    if security.get_default_keys()["secret_key"] is None:
        logger.warning(
            "%s binds %s without CurveZMQ: any process that reaches this address can read the "
            "stream. To accept only readers with an authorized key, give this process CurveZMQ keys (%s)",
            label,
            address,
            _HOW_TO_GET_KEYS,
        )
        return None
    return security.configure_server_socket(sock, address, name=label, kind="stream output")


def secure_input(sock: zmq.Socket, url: str, server_key, label: str, stream: str, secret_key=None) -> None:
    """Make ``sock`` (a reader's DEALER, not connected yet) a CurveZMQ client of an output with ``server_key``.

    Raises
    ------
    ValueError
        Naming the reader, the stream and what to configure: no key pair in
        this process, an unreadable key, a malformed server key.
    """
    if secret_key is None:
        secret_key = security.get_default_keys()["secret_key"]
    if secret_key is None:
        raise ValueError(
            f"{label}: output {stream!r} at {url} accepts only readers with an authorized CurveZMQ "
            "key, and this process has no key pair. Give it the key of your lab (the one in the "
            "output's authorized keys): connect(..., secret_key='keys/lab.key_secret'), or "
            f"{_HOW_TO_GET_KEYS}"
        )
    try:
        security.configure_client_socket(sock, url, server_key, secret_key)
    except ValueError as exc:
        raise ValueError(f"{label}: cannot authenticate to output {stream!r} at {url}: {exc}") from None


def public_key_of(secret_key=None) -> str:
    """Return the z85 public key of ``secret_key`` (default: this process's), for messages; '' if there is none."""
    if secret_key is None:
        secret_key = security.get_default_keys()["secret_key"]
    if secret_key is None:
        return ""
    try:
        return security.load_key_pair(secret_key)[0].decode("ascii")
    except (ValueError, OSError):
        return ""
