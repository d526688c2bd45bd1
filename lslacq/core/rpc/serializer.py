"""Serializers that turn RPC messages into bytes and back.

Two serializers are provided, chosen per request by the client:

- ``msgpack`` (default): compact and fast, bytes and array data travel as raw
  binary.
- ``json``: readable and available everywhere; bytes and array data are
  base64-encoded.

Both handle ``int``, ``float``, ``str``, ``bool``, ``None``, ``dict`` and
``list`` natively. Other types are encoded as a dict carrying the key
``'___type_name___'`` (see :data:`TYPE_KEY`):

- ``ndarray``: ``{'___type_name___': 'ndarray', 'data', 'dtype', 'shape'}``
- ``bytes`` (json only, msgpack sends bytes natively)
- ``datetime``, ``date``: ISO strings
- ``exception``: any exception, by value (``type``, ``message``,
  ``traceback`` lines); it arrives as a :class:`~lslacq.errors.RemoteCallError`
  that also derives from the builtin type where it is a common one
- ``none``: accepted on input (older clients encode ``None`` this way)
- ``proxy``: an :class:`~lslacq.core.rpc.proxy.ObjectProxy` reference
  (``rpc_addr``, ``obj_id``, ``ref_id``, ``type_str``, ``attributes``)

Tuples become lists in transit (as in pyacq), numpy scalars become Python
scalars. Any other object is sent as a proxy when an :class:`RPCServer` runs in
the sending thread, otherwise a :class:`TypeError` says how to fix it.
"""

from __future__ import annotations

import base64
import datetime
import json
import traceback
from collections import abc
from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np

from ...errors import RemoteCallError, make_remote_error
from ..dtypes import dtype_to_params, normalize_dtype

__all__ = ["TYPE_KEY", "JsonSerializer", "MsgpackSerializer", "Serializer", "all_serializers", "get_serializer"]

TYPE_KEY = "___type_name___"

# keys an encoded object of each type must have (others are optional)
_REQUIRED_KEYS = {
    "proxy": ("rpc_addr", "obj_id"),
    "ndarray": ("data", "dtype", "shape"),
    "bytes": ("data",),
    "datetime": ("data",),
    "date": ("data",),
    "exception": ("type", "message"),
}

# sentinel returned for a get_obj request that asked for a "path" proxy
# (lslacq extension, see RPCServer.process_action)
DEFERRED = object()


_PROXY_CLASS: list = []


def _proxy_class() -> Any:
    if not _PROXY_CLASS:
        from .proxy import ObjectProxy

        _PROXY_CLASS.append(ObjectProxy)
    return _PROXY_CLASS[0]


def _encode_exception(exc: BaseException) -> dict:
    """Encode an exception by value: its type name, message and traceback lines (a proxy is of no use)."""
    if isinstance(exc, RemoteCallError):  # forwarded again: keep the original type and traceback
        return {
            TYPE_KEY: "exception",
            "type": exc.remote_type,
            "message": exc.remote_message,
            "traceback": exc.remote_traceback,
        }
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__) if exc.__traceback__ else []
    return {TYPE_KEY: "exception", "type": type(exc).__name__, "message": str(exc), "traceback": lines}


#: pyacq's flag: msgpack is a dependency of lslacq, always available.
HAVE_MSGPACK = True


class Serializer:
    """Base class of the RPC serializers.

    Parameters
    ----------
    server : RPCServer or None
        Server used to turn unserializable objects into proxies (encoding) and
        to unwrap proxies to its own objects (decoding). When None, the server
        running in the calling thread (if any) is used.
    client : RPCClient or None
        Client whose options new proxies inherit when decoded.

    Notes
    -----
    Subclasses implement :meth:`dumps` and :meth:`loads` and are registered
    in :data:`all_serializers` under their ``type`` name.
    """

    type: str = ""

    def __init__(self, server=None, client=None):
        self.server = server
        self.client = client

    # -- encoding ---------------------------------------------------------
    def _server(self):
        if self.server is not None:
            return self.server
        from .server import RPCServer

        return RPCServer.get_server()

    def encode(self, obj: Any) -> Any:
        """Convert ``obj`` (a type the format lacks) to a serializable object."""
        if isinstance(obj, _proxy_class()):
            return obj._encoded()
        if isinstance(obj, np.ndarray):
            return self._encode_ndarray(obj)
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, datetime.datetime):
            return {TYPE_KEY: "datetime", "data": obj.isoformat()}
        if isinstance(obj, datetime.date):
            return {TYPE_KEY: "date", "data": obj.isoformat()}
        if isinstance(obj, (set, frozenset, abc.KeysView, abc.ValuesView, abc.ItemsView)):
            return list(obj)
        if isinstance(obj, BaseException):
            return _encode_exception(obj)
        return self._encode_other(obj)

    def _encode_other(self, obj):
        if not self.allow_proxy:
            raise TypeError(
                f"cannot send {type(obj).__name__} object {obj!r:.80} by value; "
                "request it with _return_type='proxy' (or 'auto') instead"
            )
        server = self._server()
        if server is None:
            raise TypeError(
                f"cannot serialize {type(obj).__name__} object {obj!r:.80}: it is not a basic type and no "
                "RPCServer runs in this thread to pass it by proxy. Start one first "
                "(RPCServer().run_lazy()) or send a basic type."
            )
        return server.get_proxy(obj)._encoded()

    allow_proxy = True

    def _encode_ndarray(self, arr: np.ndarray) -> dict:
        if arr.dtype.hasobject:
            return self._encode_other(arr)
        # tobytes() copies in C order whatever the memory layout (ascontiguousarray would turn 0-d into 1-d)
        return {
            TYPE_KEY: "ndarray",
            "data": self._pack_bytes(arr.tobytes()),
            "dtype": dtype_to_params(arr.dtype),
            "shape": list(arr.shape),
        }

    def _pack_bytes(self, data: bytes):
        return data

    def _unpack_bytes(self, data) -> bytes:
        return data

    # -- decoding ---------------------------------------------------------
    def decode(self, dct: dict) -> Any:
        """Convert a dict produced by :meth:`encode` back to its type.

        A malformed one (a key missing, a value of the wrong type) raises
        ValueError naming its type and what is wrong.
        """
        if TYPE_KEY not in dct:
            return dct
        type_name = dct[TYPE_KEY]
        if not isinstance(type_name, str):
            raise ValueError(
                f"encoded object in RPC message has {TYPE_KEY!r} = {type_name!r:.60}; expected a type name"
            )
        missing = [key for key in _REQUIRED_KEYS.get(type_name, ()) if key not in dct]
        if missing:
            raise ValueError(
                f"encoded {type_name!r} in RPC message lacks {', '.join(map(repr, missing))} "
                f"(has {', '.join(map(repr, dct))[:200]})"
            )
        if type_name == "proxy":  # resolving it may raise the object's own errors (an attribute it lacks): theirs
            attributes = dct.get("attributes") or ()
            if not isinstance(dct["rpc_addr"], str) or not isinstance(attributes, (list, tuple)):
                raise ValueError(
                    f"encoded 'proxy' in RPC message has rpc_addr={dct['rpc_addr']!r:.60} and "
                    f"attributes={attributes!r:.60}; expected an address string and a list"
                )
            return self._decode_typed(type_name, dct)
        try:
            return self._decode_typed(type_name, dct)
        except (TypeError, IndexError, AttributeError) as exc:  # fields of the wrong type
            raise ValueError(
                f"malformed encoded {type_name!r} in RPC message: {type(exc).__name__}: {str(exc)[:200]}"
            ) from None

    def _decode_typed(self, type_name: str, dct: dict) -> Any:
        if type_name == "proxy":
            server = self.server
            if server is not None and dct["rpc_addr"] == server.address:
                return server._resolve(dct["obj_id"], dct.get("attributes") or ())
            return self._decode_proxy(dct)
        if type_name == "ndarray":
            data = self._unpack_bytes(dct["data"])
            dtype = normalize_dtype(dct["dtype"])
            try:
                return np.frombuffer(data, dtype=dtype).reshape(dct["shape"]).copy()
            except ValueError as exc:  # the bytes do not make that shape
                raise ValueError(
                    f"encoded 'ndarray' in RPC message: {len(data)} bytes of {dtype} do not make "
                    f"shape {dct['shape']!r:.60} ({exc})"
                ) from None
        if type_name == "bytes":
            return self._unpack_bytes(dct["data"])
        if type_name == "datetime":
            return datetime.datetime.fromisoformat(dct["data"])
        if type_name == "date":
            return datetime.date.fromisoformat(dct["data"])
        if type_name == "none":
            return None
        if type_name == "exception":
            return make_remote_error(str(dct["type"]), str(dct["message"]), dct.get("traceback") or ())
        if type_name == "deferred":
            return DEFERRED
        raise ValueError(f"unknown encoded type {type_name!r} in RPC message (key {TYPE_KEY!r})")

    def _decode_proxy(self, dct: dict):
        from .proxy import ObjectProxy

        server = self._server()
        rpc_addr = dct["rpc_addr"]
        if server is not None and rpc_addr == server.address:
            return server._unwrap_encoded(dct)
        proxy = ObjectProxy(
            rpc_addr,
            dct["obj_id"],
            dct.get("ref_id"),
            dct.get("type_str", ""),
            tuple(dct.get("attributes") or ()),
            server_key=dct.get("server_key"),
        )
        defaults = getattr(self.client, "_proxy_defaults", None)
        if defaults:  # RPCClient.set_proxy_options(): defaults of the proxies this client receives
            proxy.__dict__["_proxy_options"] = dict(defaults)
        return proxy

    # -- bytes ------------------------------------------------------------
    def dumps(self, obj: Any, allow_proxy: bool = True) -> bytes:
        """Serialize ``obj`` to bytes."""
        raise NotImplementedError

    def loads(self, msg: bytes) -> Any:
        """Deserialize bytes produced by :meth:`dumps` (of any peer)."""
        raise NotImplementedError


class MsgpackSerializer(Serializer):
    """msgpack serializer; binary data travels unencoded."""

    type = "msgpack"

    def __init__(self, server=None, client=None):
        super().__init__(server, client)
        self._packer = msgpack.Packer(default=self.encode, use_bin_type=True, autoreset=True)
        self._value_serializer: MsgpackSerializer | None = None

    def dumps(self, obj: Any, allow_proxy: bool = True) -> bytes:
        """Encode ``obj`` as msgpack (``allow_proxy=False``: by value only)."""
        if allow_proxy:
            return self._packer.pack(obj)
        if self._value_serializer is None:
            self._value_serializer = _ValueOnly(MsgpackSerializer)(self.server, self.client)
        return self._value_serializer.dumps(obj)

    def loads(self, msg: bytes) -> Any:
        """Decode a message; raise ValueError naming what is malformed."""
        try:
            return msgpack.unpackb(msg, object_hook=self.decode, raw=False, strict_map_key=False, use_list=True)
        except TypeError as exc:  # a map key msgpack decodes as a list (unhashable)
            raise ValueError(f"malformed msgpack RPC message ({len(msg)} bytes): {exc}") from None
        except ValueError as exc:  # msgpack's own errors; some (FormatError for a reserved byte) say nothing
            if str(exc):
                raise
            raise ValueError(
                f"malformed msgpack RPC message ({len(msg)} bytes, first bytes {bytes(msg[:16])!r}): "
                f"{type(exc).__name__}"
            ) from None


class JsonSerializer(Serializer):
    """JSON serializer; bytes and array data are base64-encoded."""

    type = "json"

    def __init__(self, server=None, client=None):
        super().__init__(server, client)
        self._value_serializer: JsonSerializer | None = None

    def encode(self, obj: Any) -> Any:
        """Convert ``obj`` to what JSON can carry (bytes as base64, then the common encodings)."""
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return {TYPE_KEY: "bytes", "data": self._pack_bytes(bytes(obj))}
        return super().encode(obj)

    def _pack_bytes(self, data: bytes):
        return base64.b64encode(data).decode("ascii")

    def _unpack_bytes(self, data) -> bytes:
        return base64.b64decode(data)

    def dumps(self, obj: Any, allow_proxy: bool = True) -> bytes:
        """Encode ``obj`` as JSON (``allow_proxy=False``: by value only)."""
        if not allow_proxy:
            if self._value_serializer is None:
                self._value_serializer = _ValueOnly(JsonSerializer)(self.server, self.client)
            return self._value_serializer.dumps(obj)
        return json.dumps(obj, default=self.encode, allow_nan=True).encode("utf-8")

    def loads(self, msg: bytes) -> Any:
        """Decode a JSON message; raise ValueError naming what is malformed."""
        text = bytes(msg).decode("utf-8") if isinstance(msg, (bytes, bytearray, memoryview)) else msg
        try:
            return json.loads(text, object_hook=self.decode)
        except RecursionError:
            raise ValueError(f"JSON RPC message ({len(text)} characters) nests deeper than the decoder goes") from None


_value_only_classes: dict[type, type] = {}


def _ValueOnly(base: type) -> type:
    """Return a subclass of serializer ``base`` that refuses to create proxies."""
    cls = _value_only_classes.get(base)
    if cls is None:
        cls = type(f"ValueOnly{base.__name__}", (base,), {"allow_proxy": False})
        _value_only_classes[base] = cls
    return cls


all_serializers: dict[str, Callable[..., Serializer]] = {
    "msgpack": MsgpackSerializer,
    "json": JsonSerializer,
}


def get_serializer(name: str, server=None, client=None) -> Serializer:
    """Return a new serializer instance by name ('msgpack' or 'json')."""
    try:
        cls = all_serializers[name]
    except KeyError:
        raise ValueError(f"unknown RPC serializer {name!r}; use one of {sorted(all_serializers)}") from None
    return cls(server=server, client=client)
