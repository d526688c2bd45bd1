"""ObjectProxy: a local stand-in for an object owned by a remote RPCServer."""

from __future__ import annotations

from threading import get_ident
from typing import Any

from .serializer import DEFERRED, TYPE_KEY

__all__ = ["ObjectProxy"]

_DEFAULT_OPTIONS = {
    "sync": "sync",
    "return_type": "auto",
    "auto_proxy": True,
    "timeout": 10.0,
    "defer_getattr": False,
    "no_proxy_types": None,
    "auto_delete": False,
}

# attribute names that are always looked up on the proxy itself
_LOCAL_ATTRS = frozenset(
    {
        "_rpc_addr",
        "_obj_id",
        "_ref_id",
        "_type_str",
        "_attributes",
        "_proxy_options",
        "_server_key",
        "_client_cache",
        "_attr_cache",
        "_path_cache",
        "_encoded_cache",
        "_packed_cache",
        "__dict__",
        "__class__",
    }
)


class ObjectProxy:
    """Proxy to an object stored by a remote :class:`RPCServer`.

    Attribute access, calls, item access and ``setattr`` are forwarded to the
    remote object. Calls accept the extra keyword arguments ``_sync``
    (``'sync'``, ``'async'`` or ``'off'``), ``_return_type`` (``'auto'``,
    ``'proxy'`` or ``'value'``) and ``_timeout`` (seconds).

    Parameters
    ----------
    rpc_addr : str
        Address of the server that owns the object.
    obj_id : int
        Id of the object in that server.
    ref_id : int or None
        Id of this reference (released by :meth:`_delete`).
    type_str : str
        ``repr`` of the remote object's type (for display).
    attributes : tuple of str
        Attribute path from the object to the proxied value.
    **kwds
        Proxy options (see :meth:`_set_proxy_options`).

    Notes
    -----
    ``repr``, ``str``, ``hash`` and ``==`` are local and never contact the
    server: two proxies are equal when they refer to the same remote object
    and attribute path. A proxy can be passed to a third process and keeps
    working there (it connects to the owning server directly).
    """

    def __init__(
        self,
        rpc_addr: str,
        obj_id: int,
        ref_id: int | None = None,
        type_str: str = "",
        attributes: tuple = (),
        server_key: str | None = None,
        **kwds,
    ):
        d = self.__dict__
        d["_rpc_addr"] = rpc_addr
        d["_obj_id"] = obj_id
        d["_ref_id"] = ref_id
        d["_type_str"] = type_str
        d["_attributes"] = tuple(attributes)
        d["_server_key"] = server_key
        d["_proxy_options"] = {}
        d["_client_cache"] = None
        d["_attr_cache"] = {}
        d["_path_cache"] = {}
        d["_encoded_cache"] = None
        if kwds:
            self._set_proxy_options(**kwds)

    # -- options -------------------------------------------------------------
    def _set_proxy_options(self, **kwds) -> None:
        """Change the behaviour of this proxy.

        Parameters
        ----------
        sync : {'sync', 'async', 'off'}, optional
            Default call mode: block for the result, return a :class:`Future`,
            or ask for no reply.
        return_type : {'auto', 'proxy', 'value'}, optional
            How results come back: by value when serializable (``'auto'``),
            always by proxy, or always by value.
        auto_proxy : bool, optional
            Send unserializable arguments by proxy (needs a local server).
        timeout : float, optional
            Seconds a synchronous call waits before raising TimeoutError.
        defer_getattr : bool, optional
            Return attribute proxies without asking the server first.
        no_proxy_types : list of type, optional
            pyacq's rule for what travels by value. Arguments of other types
            are sent by proxy (with ``auto_proxy``; needs an RPCServer in this
            thread), and with ``return_type='auto'`` results of other types
            come back by proxy. Unset (the default), basic types, arrays and
            proxies travel by value and other objects by proxy.
        auto_delete : bool, optional
            Release the remote reference when this proxy is collected.

        A value of None restores the default.
        """
        for key, value in kwds.items():
            if key not in _DEFAULT_OPTIONS:
                raise TypeError(f"unknown proxy option {key!r}; valid options: {sorted(_DEFAULT_OPTIONS)}")
            if key == "sync" and value not in (None, "sync", "async", "off"):
                raise ValueError(f"invalid sync mode {value!r}; use 'sync', 'async' or 'off'")
            if key == "return_type" and value not in (None, "auto", "proxy", "value"):
                raise ValueError(f"invalid return_type {value!r}; use 'auto', 'proxy' or 'value'")
            if key == "no_proxy_types" and value is not None:
                value = tuple(value)
                bad = [t for t in value if not isinstance(t, type)]
                if bad:
                    raise TypeError(f"no_proxy_types must be a list of types, got {bad!r}")
            if value is None:
                self._proxy_options.pop(key, None)
            else:
                self._proxy_options[key] = value
        self._attr_cache.clear()

    def _get_option(self, key: str):
        return self._proxy_options.get(key, _DEFAULT_OPTIONS[key])

    # -- plumbing ------------------------------------------------------------
    def _client(self):
        cache = self._client_cache
        if cache is not None and cache[0] == get_ident() and not cache[1]._closed:
            return cache[1]
        from .client import RPCClient

        client = RPCClient.get_client(self._rpc_addr, server_key=self._server_key)
        self.__dict__["_client_cache"] = (get_ident(), client)
        return client

    def _encoded(self) -> dict:
        enc = self._encoded_cache
        if enc is None:
            enc = {
                TYPE_KEY: "proxy",
                "rpc_addr": self._rpc_addr,
                "obj_id": self._obj_id,
                "ref_id": self._ref_id,
                "type_str": self._type_str,
                "attributes": list(self._attributes),
            }
            if self._server_key:
                enc["server_key"] = self._server_key
            self.__dict__["_encoded_cache"] = enc
        return enc

    def _derived(self, attributes: tuple) -> ObjectProxy:
        proxy = ObjectProxy(
            self._rpc_addr, self._obj_id, self._ref_id, self._type_str, attributes, server_key=self._server_key
        )
        proxy.__dict__["_proxy_options"] = dict(self._proxy_options)
        proxy.__dict__["_proxy_options"].pop("auto_delete", None)
        return proxy

    def _split_call_options(self, kwds: dict):
        sync = kwds.pop("_sync", None) or self._get_option("sync")
        return_type = kwds.pop("_return_type", None) or self._get_option("return_type")
        timeout = kwds.pop("_timeout", None)
        if timeout is None:
            timeout = self._get_option("timeout")
        return sync, return_type, timeout

    # -- remote operations ---------------------------------------------------
    def __call__(self, *args, **kwargs):
        """Call the remote object; see the class docstring for _sync/_return_type/_timeout."""
        if kwargs and ("_sync" in kwargs or "_return_type" in kwargs or "_timeout" in kwargs):
            sync, return_type, timeout = self._split_call_options(kwargs)
        else:
            opts = self._proxy_options
            if opts:
                sync, return_type, timeout = self._split_call_options(kwargs)
            else:
                sync, return_type, timeout = "sync", "auto", 10.0
        cache = self._client_cache
        if cache is not None and cache[0] == get_ident() and not cache[1]._closed:
            client = cache[1]
        else:
            client = self._client()
        opts = self._proxy_options
        if opts:
            no_proxy = opts.get("no_proxy_types")
            auto_proxy = opts.get("auto_proxy", True)
            if no_proxy is not None or not auto_proxy:
                if no_proxy is not None and auto_proxy:
                    args = tuple(_auto_proxy(a, no_proxy) for a in args)
                    kwargs = {k: _auto_proxy(v, no_proxy) for k, v in kwargs.items()}
                request = {"obj": self, "args": args, "kwargs": kwargs}
                if no_proxy is not None:
                    request["no_proxy_types"] = _type_names(no_proxy)
                # without auto_proxy, arguments must travel by value: fail here rather than proxy them
                opts_b = client._serializer.dumps(request, allow_proxy=auto_proxy)
                return client._send_opts("call_obj", opts_b, return_type, sync, timeout)
        return client._call_proxy(self, args, kwargs, return_type, sync, timeout)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            # dunder lookups by Python machinery (copy, pickle, numpy...) must not hit the network
            raise AttributeError(name)
        cached = self._attr_cache.get(name)
        if cached is not None:
            return cached
        path = self._attributes + (name,)
        if self._get_option("defer_getattr"):
            proxy = self._derived(path)
            self._attr_cache[name] = proxy
            return proxy
        client = self._client()
        target = self._path_cache.get(name)
        if target is None:
            target = self._path_cache[name] = self._derived(path)
        no_proxy = self._proxy_options.get("no_proxy_types") if self._proxy_options else None
        if no_proxy is None:
            result = client._get_attr_proxy(target, self._get_option("return_type"), self._get_option("timeout"))
        else:
            result = client.send(
                "get_obj",
                {"obj": target, "deferred": True, "no_proxy_types": _type_names(no_proxy)},
                self._get_option("return_type"),
                "sync",
                self._get_option("timeout"),
            )
        if result is DEFERRED:
            proxy = self._derived(path)
            self._attr_cache[name] = proxy
            return proxy
        if self._proxy_options and isinstance(result, ObjectProxy):
            # a proxy to an attribute (a method...) behaves like its parent: same options
            inherited = {k: v for k, v in self._proxy_options.items() if k != "auto_delete"}
            result.__dict__["_proxy_options"] = {**result._proxy_options, **inherited}
        return result

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LOCAL_ATTRS:
            self.__dict__[name] = value
            return
        self._attr_cache.pop(name, None)
        self._derived(self._attributes + ("__setattr__",))(name, value, _sync=self._get_option("sync"))

    def __delattr__(self, name: str) -> None:
        self._attr_cache.pop(name, None)
        self._derived(self._attributes + ("__delattr__",))(name)

    def __getitem__(self, key):
        return self._derived(self._attributes + ("__getitem__",))(key)

    def __setitem__(self, key, value) -> None:
        self._derived(self._attributes + ("__setitem__",))(key, value, _sync=self._get_option("sync"))

    def __delitem__(self, key) -> None:
        self._derived(self._attributes + ("__delitem__",))(key)

    def __contains__(self, item) -> bool:
        return self._derived(self._attributes + ("__contains__",))(item)

    def __len__(self) -> int:
        return self._derived(self._attributes + ("__len__",))()

    def __iter__(self):
        """Iterate over a snapshot: the remote object's items are fetched as one list."""
        try:
            return iter(self._get_value())
        except TypeError:  # not serializable as a whole: get a list of items (each by value or proxy)
            builtins = self._client()._import("builtins")
            return iter(builtins.list(self))

    def __bool__(self) -> bool:
        # a proxy is a reference, never "empty": use len(proxy) to ask the remote size
        return True

    def _get_value(self):
        """Return the proxied object by value (raises if it is not serializable)."""
        return self._client().send(
            "get_obj", {"obj": self}, return_type="value", sync="sync", timeout=self._get_option("timeout")
        )

    def _undefer(self, sync: str = "sync", return_type: str = "auto", **kwds):
        """Look up this proxy's deferred attributes now and return the result (pyacq).

        A proxy without deferred attributes is returned as is; otherwise the
        server resolves the attribute path and returns it by value or by
        proxy according to ``return_type`` ('auto', 'proxy' or 'value').
        """
        if not self._attributes:
            return self
        if return_type not in ("auto", "proxy", "value"):
            raise ValueError(f"return_type must be 'auto', 'proxy' or 'value', not {return_type!r}")
        kwds.setdefault("timeout", self._get_option("timeout"))
        return self._client().send("get_obj", {"obj": self}, return_type=return_type, sync=sync, **kwds)

    def _delete(self, sync: str = "sync", **kwds) -> None:
        """Ask the server to release the reference held by this proxy.

        The remote object is freed when no reference remains. This proxy (and
        its copies) cannot be used afterwards.
        """
        if self.__dict__.get("_deleted"):
            return None
        self.__dict__["_deleted"] = True
        self.__dict__["_proxy_options"]["auto_delete"] = False
        return self._client().send("delete", {"obj_id": self._obj_id, "ref_id": self._ref_id}, sync=sync, **kwds)

    def __del__(self):
        try:
            if self._proxy_options.get("auto_delete") and not self._attributes:
                from .client import RPCClient

                RPCClient._schedule_delete(self._rpc_addr, self._obj_id, self._ref_id)
        except Exception:
            pass

    # -- local identity ------------------------------------------------------
    def __repr__(self) -> str:
        path = "".join("." + a for a in self._attributes)
        return f"<ObjectProxy {self._rpc_addr}[{self._obj_id}]{path} {self._type_str}>"

    __str__ = __repr__

    def __hash__(self) -> int:
        return hash((self._rpc_addr, self._obj_id, self._attributes))

    def __eq__(self, other) -> bool:
        if not isinstance(other, ObjectProxy):
            return NotImplemented
        return (self._rpc_addr, self._obj_id, self._attributes) == (other._rpc_addr, other._obj_id, other._attributes)

    def __ne__(self, other) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __reduce__(self):
        return (
            _rebuild_proxy,
            (
                self._rpc_addr,
                self._obj_id,
                self._ref_id,
                self._type_str,
                self._attributes,
                self._server_key,
                dict(self._proxy_options),
            ),
        )

    def __dir__(self):
        return sorted(set(self.__dict__) | set(type(self).__dict__))


def _type_names(types) -> list[str]:
    """Qualified names of ``types`` (how no_proxy_types travels to the server)."""
    return [f"{t.__module__}.{t.__qualname__}" for t in types]


def _auto_proxy(obj, no_proxy_types: tuple):
    """Pyacq's auto_proxy of an argument: by value if its type is listed (or it is a proxy), else by proxy."""
    if isinstance(obj, (ObjectProxy,) + tuple(no_proxy_types)):
        return obj
    from .server import RPCServer

    server = RPCServer.get_server()
    if server is None:
        raise TypeError(
            f"cannot send {type(obj).__name__} argument {obj!r:.80} by proxy (its type is not in "
            "no_proxy_types): no RPCServer runs in this thread. Start one (RPCServer().run_lazy()) "
            "or add the type to no_proxy_types"
        )
    return server.get_proxy(obj)


def _rebuild_proxy(rpc_addr, obj_id, ref_id, type_str, attributes, server_key, options):
    proxy = ObjectProxy(rpc_addr, obj_id, ref_id, type_str, attributes, server_key=server_key)
    proxy.__dict__["_proxy_options"] = options
    return proxy


def _make_binary_op(name: str):
    def op(self, *args):
        return self._derived(self._attributes + (name,))(*args)

    op.__name__ = name
    op.__doc__ = f"Forward ``{name}`` to the remote object."
    return op


for _name in (
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__add__",
    "__sub__",
    "__mul__",
    "__truediv__",
    "__floordiv__",
    "__mod__",
    "__pow__",
    "__neg__",
    "__abs__",
    "__radd__",
    "__rsub__",
    "__rmul__",
    "__rtruediv__",
    "__and__",
    "__or__",
    "__xor__",
    "__invert__",
    "__lshift__",
    "__rshift__",
):
    setattr(ObjectProxy, _name, _make_binary_op(_name))
