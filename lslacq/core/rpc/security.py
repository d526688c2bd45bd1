"""CurveZMQ authentication for RPC servers bound to non-loopback interfaces.

An RPCServer lets any connected peer run code in its process. lslacq
therefore binds 127.0.0.1 by default and refuses to bind any other interface
without CurveZMQ keys:

- ``lslacq keygen DIR --name NAME`` writes ``NAME.key`` (public) and
  ``NAME.key_secret`` (secret) with :func:`zmq.auth.create_certificates`.
- A server gets its secret key and a directory (or list) of the public keys
  of the clients it accepts; every other client is refused and logged.
- A client gets its own secret key and the server's public key. Proxies to a
  Curve-protected server carry the server's public key, so they keep working
  when passed to a third process that has a key pair of its own.

Process-wide defaults (used when a server or client is given no keys) are
set with :func:`set_default_keys`; ProcessSpawner passes them to children.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import zmq
import zmq.auth
import zmq.utils.z85

from ..net import connectable_address

__all__ = [
    "bind_server_socket",
    "check_server_key",
    "is_loopback_address",
    "set_default_keys",
    "get_default_keys",
    "load_key_pair",
    "load_public_keys",
    "create_keys",
    "configure_client_socket",
    "configure_server_socket",
]

logger = logging.getLogger(__name__)

_defaults: dict = {"secret_key": None, "authorized_keys": None}
_defaults_lock = threading.Lock()


def is_loopback_address(address: str) -> bool:
    """Return True if a ZeroMQ address only reaches this machine.

    ``ipc://``, ``inproc://`` and tcp addresses on 127.0.0.0/8, ::1 or
    ``localhost`` are loopback; ``*``, ``0.0.0.0`` and real interfaces are not.
    """
    if address.startswith(("ipc://", "inproc://")):
        return True
    if not address.startswith("tcp://"):
        return False
    host = urlsplit(address.replace("*", "0", 1) if address.endswith(":*") else address).hostname or ""
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _to_bytes(key) -> bytes:
    return key.encode("ascii") if isinstance(key, str) else bytes(key)


def load_key_pair(secret) -> tuple[bytes, bytes]:
    """Return ``(public, secret)`` z85 keys from a ``.key_secret`` file or a z85 secret key."""
    if isinstance(secret, (str, os.PathLike)) and Path(secret).is_file():
        public, sec = zmq.auth.load_certificate(os.fspath(secret))
        if sec is None:
            raise ValueError(f"{secret} holds no secret key; pass the '.key_secret' file written by lslacq keygen")
        return public, sec
    sec = _to_bytes(secret)
    if len(sec) != 40:
        raise ValueError(f"{secret!r:.60} is neither a key file nor a 40-character z85 CurveZMQ secret key")
    return zmq.curve_public(sec), sec


def load_public_keys(keys) -> set[bytes]:
    """Return the z85 public keys from a directory of ``.key`` files, a file, a z85 key or a list of those."""
    if keys is None:
        return set()
    if isinstance(keys, (str, bytes, os.PathLike)):
        keys = [keys]
    result: set[bytes] = set()
    for item in keys:
        if isinstance(item, (str, os.PathLike)) and Path(item).is_dir():
            for path in sorted(Path(item).glob("*.key")):
                result.add(zmq.auth.load_certificate(os.fspath(path))[0])
        elif isinstance(item, (str, os.PathLike)) and Path(item).is_file():
            result.add(zmq.auth.load_certificate(os.fspath(item))[0])
        else:
            key = _to_bytes(item)
            if len(key) != 40:
                raise ValueError(f"{item!r:.60} is not a directory, key file or 40-character z85 public key")
            result.add(key)
    return result


def create_keys(directory, name: str = "lslacq") -> tuple[Path, Path]:
    """Write a new CurveZMQ key pair ``NAME.key`` / ``NAME.key_secret`` in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(os.fspath(directory), name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


def set_default_keys(secret_key=None, authorized_keys=None) -> None:
    """Set this process's CurveZMQ key pair and the public keys its servers accept.

    Parameters
    ----------
    secret_key : path or str, optional
        ``.key_secret`` file (or z85 secret key) identifying this process.
    authorized_keys : path or list, optional
        Directory of ``.key`` files (or list of keys) of trusted peers.
    """
    with _defaults_lock:
        _defaults["secret_key"] = secret_key
        _defaults["authorized_keys"] = authorized_keys


def get_default_keys() -> dict:
    """Return the process defaults set by :func:`set_default_keys`."""
    with _defaults_lock:
        return dict(_defaults)


# -- client side -----------------------------------------------------------
def check_server_key(server_key, address: str) -> bytes:
    """Return ``server_key`` as z85 bytes; raise ValueError naming the server if it is not a CurveZMQ public key.

    Accepted: the 40-character z85 public key ``lslacq host`` prints (str or
    bytes), or the path of a ``.key`` file written by ``lslacq keygen``.
    """
    if isinstance(server_key, (str, os.PathLike)) and str(server_key) and Path(server_key).is_file():
        try:
            public, _ = zmq.auth.load_certificate(os.fspath(server_key))
        except Exception as exc:
            raise ValueError(
                f"server key file {os.fspath(server_key)!r} for {address} is not a CurveZMQ key file "
                f"({exc}); pass the .key file written by `lslacq keygen`"
            ) from None
        return public
    try:
        key = _to_bytes(server_key)
    except (TypeError, ValueError, UnicodeError):
        key = None
    if key is None or len(key) != 40:
        raise ValueError(
            f"server_key={server_key!r:.60} for {address} is not a CurveZMQ public key: give the 40-character "
            'key printed by `lslacq host` ("CurveZMQ public key ..."), a .key file, or server_key=None for a '
            "server without CurveZMQ (loopback only)"
        )
    try:
        zmq.utils.z85.decode(key)
    except Exception:
        raise ValueError(
            f"server_key={server_key!r:.60} for {address} is not valid z85 (the alphabet of the key "
            "printed by `lslacq host`); copy the whole key"
        ) from None
    return key


def configure_client_socket(sock: zmq.Socket, address: str, server_key=None, secret_key=None) -> None:
    """Enable CurveZMQ on a client socket when the server has a public key."""
    if server_key is None:
        if not is_loopback_address(address):
            logger.debug("connecting to %s without a server key: it must be an unauthenticated server", address)
        return
    server_key = check_server_key(server_key, address)  # a wrong key is the first thing to say
    secret_key = secret_key if secret_key is not None else get_default_keys()["secret_key"]
    if secret_key is None:
        raise ValueError(
            f"server {address} requires CurveZMQ authentication but this process has no key pair; "
            "create one with `lslacq keygen` and pass it (secret_key=... or "
            "lslacq.core.rpc.security.set_default_keys(secret_key=...))"
        )
    public, secret = load_key_pair(secret_key)
    sock.curve_serverkey = server_key
    sock.curve_publickey = public
    sock.curve_secretkey = secret


# -- server side -----------------------------------------------------------
class _KeyChecker:
    def __init__(self, name: str, keys: set[bytes], kind: str = "RPC server"):
        self.name = name
        self.keys = keys
        self.kind = kind

    def callback(self, domain, key) -> bool:
        if key in self.keys:
            return True
        logger.warning(
            "%s %s refused a client with unknown CurveZMQ key %s "
            "(add its .key file to the authorized keys to allow it)",
            self.kind,
            self.name,
            key.decode(),
        )
        return False


class _SharedAuthenticator:
    """One ZAP handler thread per process, shared by every Curve server."""

    _lock = threading.Lock()
    _instance = None
    _users = 0

    @classmethod
    def acquire(cls):
        from zmq.auth.thread import ThreadAuthenticator

        with cls._lock:
            if cls._instance is None:
                auth = ThreadAuthenticator(zmq.Context.instance(), log=logging.getLogger("lslacq.zap"))
                auth.start()
                cls._instance = auth
            cls._users += 1
            return cls._instance

    @classmethod
    def release(cls):
        with cls._lock:
            cls._users -= 1
            if cls._users <= 0 and cls._instance is not None:
                cls._instance.stop()
                cls._instance = None
                cls._users = 0


class ServerAuth:
    """Curve settings of one server (public key, release on close)."""

    def __init__(self, public_key: str, domain: str, auth):
        self.public_key = public_key
        self.domain = domain
        self._auth = auth

    def release(self) -> None:
        if self._auth is not None:
            self._auth.credentials_providers.pop(self.domain, None)
            self._auth = None
            _SharedAuthenticator.release()


_domain_counter = [0]


def configure_server_socket(
    sock: zmq.Socket, address: str, secret_key=None, authorized_keys=None, name: str = "", kind: str = "RPC server"
) -> ServerAuth | None:
    """Enable CurveZMQ on a server socket before it binds; required for non-loopback addresses.

    Returns None for an unauthenticated loopback server. ``kind`` names what
    binds in messages and logs ("RPC server", "stream output").
    """
    defaults = get_default_keys()
    if secret_key is None and not is_loopback_address(address):
        secret_key = defaults["secret_key"]
    if secret_key is None:
        if not is_loopback_address(address):
            raise ValueError(
                f"refusing to bind an RPC server to {address}: anyone reaching it could run code in this "
                "process. Bind 127.0.0.1, or give CurveZMQ keys (curve_secret_key=..., authorized_keys=...; "
                "create them with `lslacq keygen`)."
            )
        return None
    if authorized_keys is None:
        authorized_keys = defaults["authorized_keys"]
    keys = load_public_keys(authorized_keys)
    if not keys:
        raise ValueError(
            f"{kind} {name or address} has a CurveZMQ key but no authorized client keys; pass "
            "authorized_keys=<directory of .key files> (see `lslacq keygen`)"
        )
    public, secret = load_key_pair(secret_key)
    auth = _SharedAuthenticator.acquire()
    _domain_counter[0] += 1
    domain = f"lslacq-{os.getpid()}-{_domain_counter[0]}"
    auth.configure_curve_callback(domain=domain, credentials_provider=_KeyChecker(name or address, keys, kind))
    sock.zap_domain = domain.encode()
    sock.curve_server = True
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    return ServerAuth(public.decode("ascii"), domain, auth)


def bind_server_socket(
    sock: zmq.Socket, address: str, curve_secret_key=None, authorized_keys=None, name: str = ""
) -> tuple:
    """Secure (CurveZMQ where required) and bind a server socket; close it if that fails.

    Parameters
    ----------
    sock : zmq.Socket
        The socket to bind (ROUTER for RPC servers, PULL for the log server).
    address : str
        Where to bind; anything other than loopback requires CurveZMQ keys
        (see this module).
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
    try:
        auth = configure_server_socket(sock, address, curve_secret_key, authorized_keys, name=name)
        sock.bind(address)
    except Exception:
        sock.close(linger=0)
        raise
    return auth, connectable_address(sock.getsockopt_string(zmq.LAST_ENDPOINT))
