"""RPCServer: answers remote requests on the objects of one thread.

Wire protocol (compatible with pyacq's raw client, manual example 6.9)
-----------------------------------------------------------------------
A client DEALER socket sends one multipart request::

    [req_id, action, return_type, serializer, opts]

- ``req_id``: ASCII integer; ``-1`` asks for no reply.
- ``action``: ``call_obj``, ``get_obj``, ``get_item``, ``set_item``,
  ``delete``, ``import``, ``ping`` or ``close``.
- ``return_type``: ``auto``, ``proxy`` or ``value``.
- ``serializer``: ``msgpack`` or ``json``; the reply uses the same one.
- ``opts``: the serialized options dict (empty frame for none).

The server's ROUTER socket answers with one frame, the serialized dict
``{'action': 'return', 'req_id': ..., 'rval': ..., 'error': None | (type, traceback_lines)}``.
When the server closes it sends ``{'action': 'disconnect', ...}`` to every
client it has seen.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket as _socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np
import zmq

from .._zmqfast import recv_frames, send_reply
from . import threads
from .proxy import ObjectProxy
from .security import bind_server_socket
from .serializer import TYPE_KEY, get_serializer

__all__ = ["RPCServer", "RPCTimer"]

logger = logging.getLogger(__name__)

ACTIONS = ("call_obj", "get_obj", "get_item", "set_item", "delete", "import", "ping", "close")

# types returned by value when return_type == 'auto'
_VALUE_TYPES = (
    type(None),
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    list,
    tuple,
    dict,
    np.ndarray,
    np.generic,
    ObjectProxy,
)
_FAST_VALUE_TYPES = frozenset({type(None), bool, int, float, str, bytes, list, tuple, dict})

_NOBLOCK = int(zmq.NOBLOCK)
_ACTION_NAMES = {name.encode(): name for name in ACTIONS + ("auto", "proxy", "value")}
_MP_REPLY_HEAD = b"\x84" + msgpack.packb("action") + msgpack.packb("return") + msgpack.packb("req_id")
_MP_RVAL_KEY = msgpack.packb("rval")
_MP_ERROR_NONE = msgpack.packb("error") + msgpack.packb(None)
_DEFERRED_REPLY = {TYPE_KEY: "deferred"}


def _type_listed(obj, names) -> bool:
    """Return True if the type of ``obj`` or one of its bases is named in ``names`` ('module.qualname')."""
    wanted = set(names)
    return any(f"{c.__module__}.{c.__qualname__}" in wanted for c in type(obj).__mro__)


class RPCTimer:
    """A repeating callback run by an RPCServer's event loop (see RPCServer.start_timer)."""

    def __init__(self, server: RPCServer, callback: Callable, interval: float, kwds: dict):
        if interval <= 0:
            raise ValueError(f"timer interval must be > 0 seconds, got {interval!r}")
        self.server = server
        self.callback = callback
        self.interval = float(interval)
        self.kwds = kwds
        self.next_time = time.monotonic() + self.interval
        self.active = True

    def stop(self) -> None:
        """Stop the timer (thread-safe)."""
        self.active = False

    def _fire(self, now: float) -> None:
        self.next_time = max(self.next_time + self.interval, now)
        try:
            self.callback(**self.kwds)
        except Exception:
            logger.exception("RPC server %s: timer callback %r failed", self.server.address, self.callback)


class _LogLimiter:
    """Log bad input, but at most `burst` records every `period` seconds."""

    def __init__(self, burst: int = 20, period: float = 10.0):
        self.burst, self.period = burst, period
        self.window_start = 0.0
        self.count = 0
        self.suppressed = 0

    def warning(self, msg: str, *args) -> None:
        now = time.monotonic()
        if now - self.window_start > self.period:
            if self.suppressed:
                logger.warning("RPC server: %d more bad messages were not logged", self.suppressed)
            self.window_start, self.count, self.suppressed = now, 0, 0
        self.count += 1
        if self.count <= self.burst:
            logger.warning(msg, *args)
        else:
            self.suppressed += 1


class RPCServer:
    """Remote procedure call server for invoking requests on proxied objects.

    At most one server runs per thread. Run it with :meth:`run_forever`
    (dedicated event loop), :meth:`run_lazy` (requests are processed while
    clients of this thread wait for replies, which makes reentrant calls
    safe), or use :class:`QtRPCServer` in a Qt GUI thread.

    Parameters
    ----------
    address : str
        ZeroMQ address to bind (default ``'tcp://127.0.0.1:*'``, a free port on
        loopback). Binding any non-loopback interface requires CurveZMQ keys.
    name : str, optional
        Name used in log records.
    curve_secret_key : str or bytes or path, optional
        This server's CurveZMQ secret key (z85 text or a ``.key_secret`` file
        written by ``lslacq keygen``). Defaults to the process keys set with
        :func:`lslacq.core.rpc.security.set_default_keys`.
    authorized_keys : str or path or list, optional
        Directory of ``.key`` public key files (or a list of z85 keys) of the
        clients allowed to connect.
    max_message_size : int, optional
        Largest accepted message in bytes; larger ones disconnect the peer.

    Notes
    -----
    Anyone who can reach the server can run arbitrary code in its process:
    keep the default loopback address, or use CurveZMQ keys.

    Examples
    --------
    >>> server = RPCServer()
    >>> server["object_name"] = MyClass()
    >>> # elsewhere: RPCClient(server.address)['object_name'].method()
    """

    def __init__(
        self,
        address: str = "tcp://127.0.0.1:*",
        *,
        name: str | None = None,
        curve_secret_key=None,
        authorized_keys=None,
        max_message_size: int | None = None,
    ):
        self._name = name or f"{_socket.gethostname()}:{os.getpid()}.{threading.get_ident():x}"
        ctx: zmq.Context = zmq.Context.instance()
        sock = ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 1000)
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        if max_message_size is not None:
            sock.setsockopt(zmq.MAXMSGSIZE, int(max_message_size))
        self._auth, self.address = bind_server_socket(sock, address, curve_secret_key, authorized_keys, self._name)
        self._socket = sock
        self.public_key: str | None = self._auth.public_key if self._auth else None
        self._closed = False
        self._closing = False
        self._serializers: dict[Any, Any] = {}
        self._namespace: dict[str, Any] = {"self": self}
        self._objects: dict[int, Any] = {}
        self._obj_ids: dict[int, int] = {}  # id(obj) -> obj_id
        self._refs: dict[int, int] = {}  # obj_id -> number of proxies handed out and not deleted
        self._next_obj_id = 0
        self._next_ref_id = 0
        self._clients: dict[bytes, bytes] = {}  # identity -> serializer name
        self._timers: list[RPCTimer] = []
        self._thread: int | None = None
        self._in_loop = False
        self._depth = 0
        self._bad = _LogLimiter()
        self.no_proxy_types = list(_VALUE_TYPES)
        self._msgpack = self._get_serializer(b"msgpack")
        # subclasses that override process_action see every action (no inlined call_obj)
        self._fast_call = type(self).process_action is RPCServer.process_action
        logger.debug("RPC server %s created at %s", self._name, self.address)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name} at {self.address}{' (closed)' if self._closed else ''}>"

    # -- per-thread registry -----------------------------------------------
    @staticmethod
    def get_server() -> RPCServer | None:
        """Return the server registered in the calling thread, or None."""
        return threads.current_server()

    @staticmethod
    def register_server(srv: RPCServer) -> None:
        """Register ``srv`` as the (only) server of the calling thread."""
        current = threads.current_server()
        if current is not None and current is not srv:
            raise RuntimeError(
                f"an RPCServer ({current.address}) is already registered in thread "
                f"{threading.current_thread().name!r}; there can be only one server per thread"
            )
        threads.set_current_server(srv)
        srv._thread = threading.get_ident()

    @staticmethod
    def unregister_server(srv: RPCServer) -> None:
        """Unregister ``srv`` from the calling thread."""
        threads.clear_current_server(srv)

    @staticmethod
    def local_client():
        """Return the RPCClient of this thread connected to this thread's server."""
        from .client import RPCClient

        srv = RPCServer.get_server()
        if srv is None:
            raise RuntimeError("no RPCServer is registered in this thread (call run_lazy() or run_forever())")
        return RPCClient.get_client(srv.address, server_key=srv.public_key)

    # -- published objects and proxies -------------------------------------
    def __getitem__(self, key: str):
        return self._namespace[key]

    def __setitem__(self, key: str, value) -> None:
        """Publish ``value`` under ``key`` for clients (``client[key]``)."""
        self._namespace[key] = value

    def get_proxy(self, obj, **kwds) -> ObjectProxy:
        """Return an ObjectProxy referring to local ``obj`` (sendable to any process)."""
        if isinstance(obj, ObjectProxy):
            return obj
        obj_id = self._obj_ids.get(id(obj))
        if obj_id is None or self._objects.get(obj_id) is not obj:
            obj_id = self._next_obj_id
            self._next_obj_id += 1
            self._objects[obj_id] = obj
            self._obj_ids[id(obj)] = obj_id
            self._refs[obj_id] = 0
        ref_id = self._next_ref_id
        self._next_ref_id += 1
        # a count, not a set of ref ids: an object returned by proxy a million times costs one int
        self._refs[obj_id] += 1
        type_str = repr(type(obj))
        return ObjectProxy(self.address, obj_id, ref_id, type_str, (), server_key=self.public_key, **kwds)

    def unwrap_proxy(self, proxy: ObjectProxy):
        """Return the local object that ``proxy`` (owned by this server) refers to."""
        return self._resolve(proxy._obj_id, proxy._attributes)

    def _unwrap_encoded(self, dct: dict):
        return self._resolve(dct["obj_id"], dct.get("attributes") or ())

    def _resolve(self, obj_id, attributes):
        try:
            obj = self._objects[obj_id]
        except (KeyError, TypeError):
            raise KeyError(
                f"RPC server {self.address} has no object with id {obj_id!r}: it was deleted (proxy._delete()) "
                "or belongs to another server"
            ) from None
        for attr in attributes:
            obj = getattr(obj, attr)
        return obj

    def _release(self, obj_id: int, ref_id) -> None:
        refs = self._refs.get(obj_id)
        if refs is None:
            raise KeyError(f"RPC server {self.address}: cannot delete unknown object id {obj_id!r}")
        self._refs[obj_id] = refs = refs - 1
        if refs <= 0:
            obj = self._objects.pop(obj_id)
            self._refs.pop(obj_id)
            if self._obj_ids.get(id(obj)) == obj_id:
                del self._obj_ids[id(obj)]

    # -- timers ----------------------------------------------------------
    def start_timer(self, callback: Callable, interval: float, **kwds) -> RPCTimer:
        """Call ``callback(**kwds)`` every ``interval`` seconds from the server loop.

        The callback runs in the server's thread (from :meth:`run_forever`, the
        Qt event loop for QtRPCServer, or while a lazy server's thread waits
        for replies). Returns an :class:`RPCTimer` with a ``stop()`` method.
        """
        timer = RPCTimer(self, callback, interval, kwds)
        self._timers.append(timer)
        return timer

    def _run_timers(self) -> float:
        """Fire due timers; return seconds until the next one (or 0.1)."""
        if not self._timers:
            return 0.1
        now = time.monotonic()
        wait = 0.1
        for timer in list(self._timers):
            if not timer.active:
                self._timers.remove(timer)
                continue
            if timer.next_time <= now:
                timer._fire(now)
            wait = min(wait, max(0.0, timer.next_time - time.monotonic()))
        return wait

    # -- event loop ------------------------------------------------------
    def running(self) -> bool:
        """Return True until the server is closed."""
        return not self._closed

    def run_forever(self) -> None:
        """Read and process requests until the server is closed."""
        RPCServer.register_server(self)
        logger.info("RPC server %s listening at %s", self._name, self.address)
        sock = self._socket
        process = self._handle  # in the loop, close() is deferred by _in_loop (no depth counting needed)
        self._in_loop = True
        rcvtimeo = 100
        sock.setsockopt(zmq.RCVTIMEO, rcvtimeo)
        try:
            while not self._closing:
                if self._timers:
                    wait = min(100, int(self._run_timers() * 1000) + 1)
                    if wait != rcvtimeo:
                        rcvtimeo = wait
                        sock.setsockopt(zmq.RCVTIMEO, rcvtimeo)
                try:
                    frames = recv_frames(sock)
                except zmq.Again:
                    continue
                process(frames)
        finally:
            self._in_loop = False
            self._finish_close()

    def run_lazy(self) -> None:
        """Register this server with the calling thread without running a loop.

        Clients of this thread then process incoming requests while they wait
        for their own replies, which avoids deadlocks on reentrant calls; call
        :meth:`_read_and_process_one` to process requests manually.
        """
        RPCServer.register_server(self)

    def _read_and_process_one(self, timeout: float | None = None) -> bool:
        """Wait for one request (up to ``timeout`` s) and process it; return True if one was processed."""
        if self._closed:
            raise RuntimeError(f"RPC server {self.address} is closed")
        if timeout is not None and not self._socket.poll(int(timeout * 1000)):
            return False
        self._process_one(recv_frames(self._socket, _NOBLOCK))
        self._close_if_requested()
        return True

    def _process_available(self) -> None:
        """Process every request already queued (non-blocking)."""
        sock = self._socket
        while not self._closing:
            try:
                frames = recv_frames(sock, _NOBLOCK)
            except zmq.Again:
                break
            self._process_one(frames)
        if self._timers:
            self._run_timers()
        self._close_if_requested()

    def _close_if_requested(self) -> None:
        if self._closing and not self._closed and not self._in_loop and self._depth == 0:
            self._finish_close()

    # -- request handling ------------------------------------------------
    def _get_serializer(self, name: bytes):
        ser = self._serializers.get(name)
        if ser is None:
            ser = get_serializer(name.decode("ascii"), server=self)
            self._serializers[name] = ser
        return ser

    def _process_one(self, frames: list) -> None:
        """Decode one request, run it and send the reply (never raises)."""
        self._depth += 1
        try:
            self._handle(frames)
        finally:
            self._depth -= 1

    def _handle(self, frames: list) -> None:
        if len(frames) != 6:
            self._bad_request(
                frames[0],
                frames,
                f"expected 5 frames [req_id, action, return_type, serializer, opts], got {len(frames) - 1}",
            )
            return
        caller, req_id_b, action_b, rtype_b, ser_b, opts_b = frames
        try:
            req_id = int(req_id_b)
        except ValueError:
            self._bad_request(caller, frames, f"req_id frame {req_id_b[:40]!r} is not an integer")
            return
        ser = self._serializers.get(ser_b)
        if ser is None:
            try:
                ser = self._get_serializer(ser_b)
            except (ValueError, UnicodeDecodeError):
                self._bad_request(
                    caller, frames, f"unknown serializer {ser_b[:40]!r}; use b'msgpack' or b'json'", req_id=req_id
                )
                return
            self._clients[caller] = ser_b
        elif caller not in self._clients:
            self._clients[caller] = ser_b
        action = _ACTION_NAMES.get(action_b) or "?"
        try:
            if action == "?":
                action = action_b.decode("ascii")
            return_type = _ACTION_NAMES.get(rtype_b) or rtype_b.decode("ascii")
            try:
                opts = ser.loads(opts_b) if opts_b else {}
            except Exception as exc:
                self._bad.warning(
                    "RPC server %s: cannot decode %s opts of %r request from %r (%d bytes): %s",
                    self.address,
                    ser_b,
                    action,
                    caller,
                    len(opts_b),
                    exc,
                )
                raise
            if type(opts) is not dict:
                if opts is None:
                    opts = {}
                else:
                    raise TypeError(f"RPC opts must be a dict, got {type(opts).__name__}")
            if action == "call_obj" and self._fast_call:
                args = opts.get("args") or ()
                kwargs = opts.get("kwargs")
                result = opts["obj"](*args, **kwargs) if kwargs else opts["obj"](*args)
            else:
                result = self.process_action(action, opts, return_type, caller)
            if req_id < 0:
                return
            if return_type == "auto":
                no_proxy = opts.get("no_proxy_types")
                if no_proxy is not None:  # the caller's pyacq-style rule
                    if not _type_listed(result, no_proxy):
                        result = self.get_proxy(result)
                elif type(result) not in _FAST_VALUE_TYPES and not self._by_value(result):
                    result = _DEFERRED_REPLY if opts.get("deferred") else self.get_proxy(result)
                if ser is self._msgpack:
                    data = self._msgpack_reply(req_id, result)
                else:
                    data = ser.dumps({"action": "return", "req_id": req_id, "rval": result, "error": None})
            elif return_type == "proxy":
                data = ser.dumps({"action": "return", "req_id": req_id, "rval": self.get_proxy(result), "error": None})
            elif return_type == "value":
                data = ser.dumps(
                    {"action": "return", "req_id": req_id, "rval": result, "error": None}, allow_proxy=False
                )
            else:
                raise ValueError(f"invalid return_type {return_type!r}; use 'auto', 'proxy' or 'value'")
        except Exception as exc:
            if isinstance(exc, (KeyError, ValueError, TypeError, UnicodeDecodeError)) and action not in ACTIONS:
                self._bad.warning("RPC server %s: bad request from %r: %s", self.address, caller, exc)
            if req_id < 0:
                logger.warning("RPC server %s: %s request (no reply asked) failed", self.address, action, exc_info=True)
                return
            self._send_error(caller, ser, req_id, action, exc)
            return
        try:
            send_reply(self._socket, caller, data, _NOBLOCK)
        except zmq.ZMQError as exc:
            self._lost_client(caller, exc)

    def _msgpack_reply(self, req_id: int, rval) -> bytes:
        """Pack {'action': 'return', 'req_id', 'rval', 'error': None} (constant parts pre-packed)."""
        pack = self._msgpack._packer.pack
        return _MP_REPLY_HEAD + pack(req_id) + _MP_RVAL_KEY + pack(rval) + _MP_ERROR_NONE

    def _by_value(self, obj) -> bool:
        """Return True if ``obj`` is returned by value under return_type='auto' (exact types only)."""
        return type(obj) in self.no_proxy_types or isinstance(obj, (np.generic, ObjectProxy, BaseException))

    def _send(self, caller: bytes, data: bytes) -> None:
        try:
            send_reply(self._socket, caller, data, _NOBLOCK)
        except zmq.ZMQError as exc:
            self._lost_client(caller, exc)

    def _lost_client(self, caller: bytes, exc: Exception) -> None:
        logger.info(
            "RPC server %s: cannot reply to client %r (%s); it has probably disconnected", self.address, caller, exc
        )
        self._clients.pop(caller, None)

    def _send_error(self, caller: bytes, ser, req_id: int, action: str, exc: BaseException) -> None:
        lines = [f"Error while processing request {action!r} [{req_id}] from {caller!r} on {self.address}:\n"]
        lines += traceback.format_exception(type(exc), exc, exc.__traceback__)
        error = (type(exc).__name__, lines)
        try:
            data = ser.dumps({"action": "return", "req_id": req_id, "rval": None, "error": error})
        except Exception:  # pragma: no cover - error text is always serializable
            logger.exception("RPC server %s: cannot serialize error reply", self.address)
            return
        self._send(caller, data)

    def _bad_request(self, caller: bytes, frames: list, reason: str, req_id: int | None = None) -> None:
        self._bad.warning("RPC server %s: dropped malformed request from %r: %s", self.address, caller, reason)
        if req_id is None and len(frames) >= 2:
            try:
                req_id = int(frames[1])
            except ValueError:
                return
        if req_id is None or req_id < 0:
            return
        ser = self._get_serializer(b"json")
        if len(frames) >= 5 and frames[4] in (b"msgpack", b"json"):
            ser = self._get_serializer(frames[4])
        data = ser.dumps(
            {
                "action": "return",
                "req_id": req_id,
                "rval": None,
                "error": ("ValueError", [f"malformed RPC request: {reason}\n"]),
            }
        )
        self._send(caller, data)

    def process_action(self, action: str, opts: dict, return_type: str, caller: bytes):
        """Invoke a single action and return its result."""
        if action == "call_obj":
            func = opts["obj"]
            args = opts.get("args") or ()
            kwargs = opts.get("kwargs")
            if kwargs:
                return func(*args, **kwargs)
            return func(*args)
        if action == "get_obj":
            return opts["obj"]
        if action == "get_item":
            name = opts["name"]
            try:
                return self._namespace[name]
            except KeyError:
                raise KeyError(
                    f"RPC server {self.address} publishes no object named {name!r}; "
                    f"published: {sorted(self._namespace)}"
                ) from None
        if action == "set_item":
            self._namespace[opts["name"]] = opts["obj"]
            return None
        if action == "delete":
            self._release(opts["obj_id"], opts.get("ref_id"))
            return None
        if action == "import":
            module = importlib.import_module(opts["module"])
            fromlist = opts.get("fromlist")
            if fromlist:
                return [getattr(module, n) for n in fromlist]
            return module
        if action == "ping":
            return "pong"
        if action == "close":
            self.close()
            return True
        raise ValueError(f"unknown RPC action {action!r}; valid actions: {', '.join(ACTIONS)}")

    # -- closing ---------------------------------------------------------
    def close(self) -> None:
        """Ask the server to close (thread-safe).

        A running :meth:`run_forever` loop finishes the current request and
        returns; a lazy server closes immediately when called from its thread.
        """
        if self._closed:
            return
        self._closing = True
        if self._thread is None or self._thread == threading.get_ident():
            self._close_if_requested()

    def _finish_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._closing = True
        for timer in self._timers:
            timer.stop()
        for caller, ser_b in list(self._clients.items()):
            try:
                ser = self._get_serializer(ser_b)
                data = ser.dumps({"action": "disconnect", "req_id": None, "rval": None, "error": None})
                send_reply(self._socket, caller, data, _NOBLOCK)
            except zmq.ZMQError:
                pass
        self._socket.close(linger=200)
        if self._auth is not None:
            self._auth.release()
        threads.clear_current_server(self)
        self._objects.clear()
        self._obj_ids.clear()
        self._refs.clear()
        logger.debug("RPC server %s at %s closed", self._name, self.address)

    def __enter__(self) -> RPCServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
