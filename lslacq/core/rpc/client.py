"""RPCClient: the connection of one thread to one RPCServer."""

from __future__ import annotations

import collections
import logging
import threading
import time
import weakref
from collections.abc import Callable

import msgpack
import zmq
from zmq.utils.monitor import recv_monitor_message

from ...errors import RemoteCallError, make_remote_error
from .._zmqfast import recv_one, send_request
from . import security
from .future import Future
from .serializer import get_serializer
from .server import RPCServer
from .threads import current_server, thread_clients

__all__ = ["RPCClient", "ServerClosedError", "ServerGoneError"]

logger = logging.getLogger(__name__)


_all_clients: weakref.WeakSet[RPCClient] = weakref.WeakSet()
_pending_deletes: dict[str, collections.deque] = collections.defaultdict(collections.deque)

_NOBLOCK = int(zmq.NOBLOCK)
_ENCODED = {
    name: name.encode()
    for name in (
        "call_obj",
        "get_obj",
        "get_item",
        "set_item",
        "delete",
        "import",
        "ping",
        "close",
        "auto",
        "proxy",
        "value",
    )
}
_MP_CALL_HEAD = b"\x83" + msgpack.packb("obj")
_MP_ARGS_KEY = msgpack.packb("args")
_MP_GETATTR_HEAD = b"\x82" + msgpack.packb("obj")
_MP_DEFERRED_TRUE = msgpack.packb("deferred") + msgpack.packb(True)
_MP_KWARGS_KEY = msgpack.packb("kwargs")
_HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
_CHECK_MS = 500  # how often a waiting client checks its deadline and the server process's liveness
_IDLE_POLL_S = 1.0  # a call after this long without one first reads the connection events (drops)
# ZMTP heartbeats: a connection whose peer sent nothing (not even a PONG) for HEARTBEAT_TIMEOUT is dropped, so
# a server behind a network partition (no RST, no FIN: TCP alone would wait for minutes) is known to be gone
# within a few seconds and calls fail fast with ServerGoneError instead of waiting for their whole timeout.
HEARTBEAT_IVL_MS = 1000
HEARTBEAT_TIMEOUT_MS = 3000
# each TCP connect attempt gives up after this long, so a reconnection after a partition is not delayed by the
# kernel's SYN back-off (1, 3, 7, 15 s...)
CONNECT_TIMEOUT_MS = 2000


class ServerGoneError(RemoteCallError, TimeoutError):
    """A call to a server that died or became unreachable.

    A :class:`TimeoutError`, as pyacq raises for a server that does not
    answer, and a :class:`~lslacq.errors.RemoteCallError`; raised as soon as
    the client knows (the connection dropped, or the server's process
    exited), not after the call's whole timeout.
    """

    def __init__(self, reason: str):
        super().__init__("TimeoutError", reason, ())
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class ServerClosedError(RemoteCallError):
    """A call to a server that closed (it said goodbye to its clients).

    A :class:`~lslacq.errors.RemoteCallError` of type ``ConnectionError``:
    the server's process ended its server on purpose (it was closed, or its
    own parent process died), so the call will never be answered.
    """

    def __init__(self, reason: str):
        super().__init__("ConnectionError", reason, ())
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def _server_gone_error(reason: str) -> ServerGoneError:
    return ServerGoneError(reason)


class RPCClient:
    """Connection to an :class:`RPCServer`.

    A client belongs to the thread that created it; calling it from another
    thread transparently uses that thread's own client for the same address
    (see :meth:`get_client`).

    Parameters
    ----------
    address : str
        Address of the server (``server.address``).
    reentrant : bool
        While waiting for a reply, let the server of this thread (if any)
        process incoming requests; this prevents deadlocks when A calls B
        which calls back A. Default True.
    serializer : {'msgpack', 'json'}
        Encoding of requests and replies.
    server_key : str, optional
        The server's CurveZMQ public key (required for Curve-protected servers).
    secret_key : path or str, optional
        This client's CurveZMQ secret key (default: the process key pair).
    """

    def __init__(
        self,
        address: str,
        reentrant: bool = True,
        serializer: str = "msgpack",
        server_key: str | None = None,
        secret_key=None,
    ):
        if isinstance(address, bytes):
            address = address.decode()
        self.address = address
        self._thread = threading.get_ident()
        self._reentrant = reentrant
        self._serializer = get_serializer(serializer, client=self)
        self._ser_name = serializer.encode("ascii")
        self._closed = False
        self._disconnected = False  # the server said goodbye (close_server) or its process exited
        self._link_down = False  # the connection dropped and has not come back (the server probably died)
        self._last_monitor_poll = time.monotonic()
        self._gone_reason: str | None = None  # closed because its server's process ended (ProcessSpawner)
        self._futures: dict[int, Future] = {}
        self._next_req_id = 0
        self._liveness: Callable[[], str | None] | None = None
        self._poller: zmq.Poller | None = None
        self._poller_server: RPCServer | None = None
        self._server_key = server_key
        self._secret_key = secret_key
        self._proxy_defaults: dict = {}
        sock: zmq.Socket = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.setsockopt(zmq.RCVTIMEO, _CHECK_MS)
        sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        sock.setsockopt(zmq.CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS)
        self._rcvtimeo = _CHECK_MS
        try:
            security.configure_client_socket(sock, address, server_key, secret_key)
            sock.connect(address)
        except Exception:
            sock.close(linger=0)
            raise
        self._socket = sock
        try:
            self._monitor: zmq.Socket | None = sock.get_monitor_socket(
                zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | _HANDSHAKE_FAILED
            )
        except zmq.ZMQError:  # pragma: no cover - libzmq without monitoring
            self._monitor = None
        thread_clients().setdefault(address, self)
        _all_clients.add(self)
        self._pending = _pending_deletes[address]

    def __repr__(self) -> str:
        return f"<RPCClient to {self.address}{' (closed)' if self._closed else ''}>"

    # -- registry ----------------------------------------------------------
    @staticmethod
    def get_client(address: str, server_key: str | None = None, secret_key=None) -> RPCClient:
        """Return this thread's client for ``address``, creating it if needed.

        ``server_key``/``secret_key`` are used when a new client is created for
        a CurveZMQ-protected server (see :class:`RPCClient`).
        """
        if isinstance(address, bytes):
            address = address.decode()
        client = thread_clients().get(address)
        # disconnected() first reads what already arrived: a goodbye from an earlier server whose
        # port the new one reuses must not leave us with a client that fails on its first call.
        # A client whose link is only down (a partition, a dead server) is kept: it reconnects by
        # itself when the server is back, and meanwhile its calls fail at once (a new client would
        # know nothing and wait for each call's whole timeout)
        if client is None or client._closed or (client.disconnected() and client._disconnected):
            # a server that said goodbye may be back at the same address: start afresh
            thread_clients().pop(address, None)
            if client is not None and not client._closed:
                client.close()
            client = RPCClient(address, server_key=server_key, secret_key=secret_key)
        return client

    @staticmethod
    def close_client(address: str) -> None:
        """Close the calling thread's client for ``address`` if it has one (e.g. after its server closed)."""
        client = thread_clients().pop(address, None)
        if client is not None:
            client.close()

    @staticmethod
    def close_thread_clients() -> None:
        """Close every client of the calling thread (call it before a worker thread ends)."""
        for client in list(thread_clients().values()):
            client.close()
        thread_clients().clear()

    @staticmethod
    def _schedule_delete(address: str, obj_id: int, ref_id) -> None:
        _pending_deletes[address].append((obj_id, ref_id))

    def _for_this_thread(self) -> RPCClient:
        if threading.get_ident() == self._thread:
            return self
        return RPCClient.get_client(self.address, self._server_key, self._secret_key)

    # -- requests ----------------------------------------------------------
    def send(
        self,
        action: str,
        opts: dict | None = None,
        return_type: str = "auto",
        sync: str = "sync",
        timeout: float | None = 10.0,
    ):
        """Send a request to the server.

        Parameters
        ----------
        action : str
            One of ``call_obj``, ``get_obj``, ``get_item``, ``set_item``,
            ``delete``, ``import``, ``ping``, ``close``.
        opts : dict, optional
            Options of the action (see the wire protocol in :mod:`.server`).
        return_type : {'auto', 'proxy', 'value'}
            How the result comes back.
        sync : {'sync', 'async', 'off'}
            Block for the result, return a :class:`Future`, or ask for no reply.
        timeout : float or None
            Seconds to wait in 'sync' mode before raising TimeoutError.

        Returns
        -------
        object or Future or None
        """
        if threading.get_ident() != self._thread:
            return self._for_this_thread().send(action, opts, return_type, sync, timeout)
        return self._send_opts(
            action, None if opts is None else self._serializer.dumps(opts), return_type, sync, timeout
        )

    def _call_proxy(self, proxy, args: tuple, kwargs: dict, return_type: str, sync: str, timeout):
        """call_obj on ``proxy`` with the proxy's msgpack encoding packed once and reused."""
        if threading.get_ident() != self._thread:
            return self._for_this_thread()._call_proxy(proxy, args, kwargs, return_type, sync, timeout)
        if self._ser_name != b"msgpack":
            return self._send_opts(
                "call_obj",
                self._serializer.dumps({"obj": proxy, "args": args, "kwargs": kwargs}),
                return_type,
                sync,
                timeout,
            )
        pack = self._serializer._packer.pack  # type: ignore[attr-defined]  # the msgpack serializer (checked above)
        packed = proxy.__dict__.get("_packed_cache")
        if packed is None:
            packed = pack(proxy._encoded())
            proxy.__dict__["_packed_cache"] = packed
        opts_b = _MP_CALL_HEAD + packed + _MP_ARGS_KEY + pack(args) + _MP_KWARGS_KEY + pack(kwargs)
        return self._send_opts("call_obj", opts_b, return_type, sync, timeout)

    def _get_attr_proxy(self, target, return_type: str, timeout):
        """get_obj of attribute path proxy ``target`` (lslacq's 'deferred' extension), pre-packed."""
        if threading.get_ident() != self._thread:
            return self._for_this_thread()._get_attr_proxy(target, return_type, timeout)
        if self._ser_name != b"msgpack":
            return self.send("get_obj", {"obj": target, "deferred": True}, return_type, "sync", timeout)
        packed = target.__dict__.get("_packed_cache")
        if packed is None:
            packed = self._serializer._packer.pack(target._encoded())  # type: ignore[attr-defined]
            target.__dict__["_packed_cache"] = packed
        return self._send_opts("get_obj", _MP_GETATTR_HEAD + packed + _MP_DEFERRED_TRUE, return_type, "sync", timeout)

    def _send_opts(self, action: str, opts_b: bytes | None, return_type: str, sync: str, timeout):
        if self._closed:
            if self._gone_reason:  # pyacq: a call to a dead server is a TimeoutError
                raise _server_gone_error(self._gone_reason)
            raise RuntimeError(f"{self!r} is closed; use RPCClient.get_client({self.address!r}) for a new one")
        if self._disconnected:
            raise ServerClosedError(f"RPC server {self.address} has closed")
        if sync != "off" and not self._link_down:
            now = time.monotonic()
            if now - self._last_monitor_poll > _IDLE_POLL_S:
                # an idle client has not read its connection events: a drop (a partition, a server that
                # closed meanwhile) makes this call fail at once instead of waiting for its timeout
                self._last_monitor_poll = now
                self._poll_monitor()
        if self._link_down and sync != "off":
            self._poll_monitor()
            if self._link_down:
                self.process()  # a goodbye read with the drop (close_server) says more than the drop
                if self._disconnected:
                    raise ServerClosedError(f"RPC server {self.address} has closed")
                raise _server_gone_error(
                    f"RPC server {self.address} is unreachable: the connection dropped and has not come back "
                    "(its process died, or the network between us is down)"
                )
        if self._pending:
            self._flush_deletes()
        if sync == "off":
            req_id = -1
        elif sync == "sync" or sync == "async":
            req_id = self._next_req_id
            self._next_req_id += 1
        else:
            raise ValueError(f"invalid sync mode {sync!r}; use 'sync', 'async' or 'off'")
        send_request(
            self._socket,
            b"%d" % req_id,
            _ENCODED.get(action) or action.encode(),
            _ENCODED.get(return_type) or return_type.encode(),
            self._ser_name,
            opts_b or b"",
        )
        if req_id < 0:
            return None
        if (
            sync == "sync"
            and not self._futures
            and (not self._reentrant or current_server() is None)
            and (timeout is None or timeout >= _CHECK_MS / 1000)
        ):
            # fast path: nothing else is pending and no local server needs servicing
            return self._wait_sync(req_id, action, timeout)
        future = Future(self, req_id, action)
        self._futures[req_id] = future
        if sync == "async":
            return future
        self.process_until_future(future, timeout)
        return future.result(0)

    def _wait_sync(self, req_id: int, action: str, timeout: float | None):
        sock = self._socket
        loads = self._serializer.loads
        started = time.monotonic()
        while True:
            try:
                data = recv_one(sock)
            except zmq.Again:  # slow reply: continue on the general path (deadline, liveness checks)
                future = Future(self, req_id, action)
                self._futures[req_id] = future
                self.process_until_future(
                    future, None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
                )
                return future.result(0)
            try:
                msg = loads(data)
                if msg["action"] == "return" and msg["req_id"] == req_id:
                    error = msg["error"]
                    if error is None:
                        return msg["rval"]
                    raise _error_from_reply(error)
            except RemoteCallError:
                raise
            except Exception:
                logger.warning(
                    "RPC client %s: cannot decode a reply (%d bytes)", self.address, len(data), exc_info=True
                )
                continue
            self._dispatch(msg)
            if self._disconnected:
                raise ServerClosedError(f"RPC server {self.address} has closed")

    def call_obj(self, obj, args=None, kwargs=None, **kwds):
        """Call the remote callable ``obj`` (a proxy) with ``args`` and ``kwargs``."""
        opts = {"obj": obj, "args": args or (), "kwargs": kwargs or {}}
        return self.send("call_obj", opts, **kwds)

    def get_obj(self, obj, **kwds):
        """Return the object referenced by proxy ``obj`` (by value or proxy)."""
        return self.send("get_obj", {"obj": obj}, **kwds)

    def transfer(self, obj, **kwds):
        """Send ``obj`` to the server and return a proxy to the remote copy."""
        kwds.setdefault("return_type", "proxy")
        return self.send("get_obj", {"obj": obj}, **kwds)

    def delete(self, obj, ref_id=None, **kwds):
        """Release a proxy's reference to its remote object.

        ``obj`` is the ObjectProxy (as in pyacq) or an object id, with
        ``ref_id``. The server frees the object when no reference remains;
        the proxy cannot be used afterwards.
        """
        from .proxy import ObjectProxy

        if isinstance(obj, ObjectProxy):
            return obj._delete(**kwds)
        return self.send("delete", {"obj_id": obj, "ref_id": ref_id}, **kwds)

    def _import(self, module: str, **kwds):
        """Import ``module`` in the remote process and return a proxy to it."""
        return self.send("import", {"module": module}, **kwds)

    def __getitem__(self, name: str):
        return self.send("get_item", {"name": name})

    def __setitem__(self, name: str, obj) -> None:
        self.send("set_item", {"name": name, "obj": obj})

    def ping(self, sync: str = "sync", **kwds):
        """Ask the server for 'pong'."""
        return self.send("ping", sync=sync, **kwds)

    def close_server(self, sync: str = "sync", timeout: float = 5.0, **kwds):
        """Ask the server to close; returns True once it acknowledged.

        Every client the server knows is told that it disconnected. Returns
        True at once if the server has already disconnected from this client.
        """
        if self.disconnected():
            return True
        return self.send("close", sync=sync, timeout=timeout, **kwds)

    def ensure_connection(self, timeout: float = 1.0) -> None:
        """Ping the server until it answers; raise TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                if self.ping(timeout=max(0.05, min(0.5, remaining))) == "pong":
                    return
            except TimeoutError:
                if remaining <= 0:
                    raise TimeoutError(f"RPC server {self.address} did not answer a ping within {timeout} s") from None

    def measure_clock_diff(self, n: int = 10) -> float:
        """Estimate remote ``time.time()`` minus local ``time.time()`` (seconds)."""
        rtime = self._import("time").time
        best: tuple[float, float] = (float("inf"), 0.0)
        for _ in range(n):
            t0 = time.time()
            remote = rtime()
            t1 = time.time()
            if (t1 - t0) < best[0]:
                best = (t1 - t0, remote - (t0 + t1) / 2.0)
        return best[1]

    def set_proxy_options(self, **kwds) -> None:
        """Set default options (see ``ObjectProxy._set_proxy_options``) of the proxies this client receives.

        For example ``client.set_proxy_options(sync='async')``. Proxies already
        received keep their options. None removes a default.
        """
        from .proxy import ObjectProxy

        ObjectProxy("", 0)._set_proxy_options(**kwds)  # validates names and values
        for key, value in kwds.items():
            if value is None:
                self._proxy_defaults.pop(key, None)
            else:
                self._proxy_defaults[key] = value

    @property
    def serializer(self):
        """The serializer of this client's requests (``serializer.type`` is 'msgpack' or 'json'), as in pyacq."""
        return self._serializer

    @property
    def default_proxy_options(self) -> dict:
        """Pyacq's dict of proxy option defaults for proxies this client receives.

        The same dict :meth:`set_proxy_options` fills (which validates names
        and values); ``client.default_proxy_options['defer_getattr'] = True``
        works as in pyacq.
        """
        return self._proxy_defaults

    def disconnected(self) -> bool:
        """Return True if the server has disconnected from this client.

        True once the server closed (it tells every client it knows, see
        :meth:`close_server`), or while the connection to it is down (its
        process died, or the machine is unreachable). Called from the client's
        thread, it first reads what the server sent and the connection
        events, so no request is needed to notice.
        """
        if not (self._disconnected or self._closed) and threading.get_ident() == self._thread:
            self.process()
            self._poll_monitor()
            if not self._disconnected and self._liveness is not None:
                problem = self._liveness()
                if problem:
                    self._disconnected = True
                    self._fail_all(problem, gone=True)
        return self._disconnected or self._link_down

    def close(self) -> None:
        """Close this client's socket (pending futures fail)."""
        if self._closed:
            return
        self._closed = True
        self._fail_all("RPC client closed")
        if threading.get_ident() == self._thread:
            self._close_sockets()
        if thread_clients().get(self.address) is self:
            del thread_clients()[self.address]

    def __enter__(self) -> RPCClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _close_sockets(self) -> None:
        if self._monitor is not None:
            try:
                self._socket.disable_monitor()
            except zmq.ZMQError:
                pass
            self._monitor.close(linger=0)
            self._monitor = None
        self._socket.close(linger=0)

    def __del__(self):
        try:
            if not self._closed:
                self._closed = True
                self._close_sockets()
        except Exception:
            pass

    # -- replies -----------------------------------------------------------
    def process(self) -> None:
        """Read every reply already received (non-blocking)."""
        if threading.get_ident() != self._thread or self._closed:
            return
        sock = self._socket
        while True:
            try:
                data = recv_one(sock, _NOBLOCK)
            except zmq.Again:
                return
            self._process_reply(data)

    def process_until_future(self, future: Future, timeout: float | None = None) -> None:
        """Process replies (and, if reentrant, this thread's server requests) until ``future`` is done.

        Raises TimeoutError after ``timeout`` seconds.
        """
        if future._state:
            return
        server = RPCServer.get_server() if self._reentrant else None
        if server is not None and not server._closed:
            return self._wait_reentrant(future, timeout, server)
        sock = self._socket
        deadline = None if timeout is None else time.monotonic() + timeout
        next_check = time.monotonic() + _CHECK_MS / 1000
        process_reply = self._process_reply
        while not future._state:
            if deadline is not None:
                wait_ms = max(1, min(_CHECK_MS, int((deadline - time.monotonic()) * 1000) + 1))
                if wait_ms != self._rcvtimeo:
                    sock.setsockopt(zmq.RCVTIMEO, wait_ms)
                    self._rcvtimeo = wait_ms
            try:
                data = recv_one(sock)
            except zmq.Again:
                next_check = self._check_wait(future, deadline, next_check, 0)
                continue
            process_reply(data)
        if self._rcvtimeo != _CHECK_MS:
            sock.setsockopt(zmq.RCVTIMEO, _CHECK_MS)
            self._rcvtimeo = _CHECK_MS

    def _wait_reentrant(self, future: Future, timeout: float | None, server: RPCServer) -> None:
        sock = self._socket
        deadline = None if timeout is None else time.monotonic() + timeout
        next_check = time.monotonic() + _CHECK_MS / 1000
        poller = self._poller
        if poller is None or self._poller_server is not server:
            poller = zmq.Poller()
            poller.register(sock, zmq.POLLIN)
            poller.register(server._socket, zmq.POLLIN)
            self._poller, self._poller_server = poller, server
        ssock = server._socket
        while not future._state:
            wait = _CHECK_MS if deadline is None else min(_CHECK_MS, int((deadline - time.monotonic()) * 1000) + 1)
            events = dict(poller.poll(max(wait, 0)))
            if sock in events:
                self.process()
            if ssock in events:
                server._process_available()
                if server._closed:
                    self._poller = None
                    return self.process_until_future(
                        future, None if deadline is None else max(0.0, deadline - time.monotonic())
                    )
            if not events or time.monotonic() >= next_check:
                # also while this thread's server is busy: the deadline and a dropped link are seen in time
                next_check = self._check_wait(future, deadline, next_check, 0)

    def _check_wait(self, future: Future, deadline, next_check: float, every: float = 0) -> float:
        now = time.monotonic()
        if future._state:
            return next_check
        self._check_connection()
        if future._state:
            return next_check
        if deadline is not None and now >= deadline:
            self._futures.pop(future.call_id, None)
            future._set_exception(
                TimeoutError(
                    f"no reply from RPC server {self.address} to {future.action!r} request "
                    f"[{future.call_id}] within the timeout (pass _timeout=... for slow calls)"
                )
            )
            return next_check
        if now >= next_check:
            if self._liveness is not None:
                problem = self._liveness()
                if problem:
                    self._disconnected = True
                    self._fail_all(problem, gone=True)
            return now + _CHECK_MS / 1000
        return next_check

    def _poll_monitor(self) -> str | None:
        """Read the connection events; update the link state; return a handshake failure, if any."""
        monitor = self._monitor
        if monitor is None or threading.get_ident() != self._thread:
            return None
        refused = None
        while True:
            try:
                event = recv_monitor_message(monitor, zmq.NOBLOCK)["event"]
            except zmq.Again:
                break
            except zmq.ZMQError:
                return None
            if event == zmq.EVENT_DISCONNECTED:
                self._link_down = True
            elif event == zmq.EVENT_CONNECTED or event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._link_down = False  # (re)connected: an earlier drop concerned settled requests
                refused = None
            elif event & _HANDSHAKE_FAILED:
                refused = (
                    f"RPC server {self.address} refused the CurveZMQ handshake; is this client's public "
                    "key in the server's authorized keys, and is the server key right?"
                )
        return refused

    def _check_connection(self) -> None:
        """Fail the requests in flight when the connection to the server dropped or was refused.

        ZeroMQ reconnects by itself, but a server that lost its connection
        (its process died) will never answer the requests it had received:
        they fail with a TimeoutError that says so, without waiting for their
        whole timeout.
        """
        refused = self._poll_monitor()
        if refused and self._futures:
            logger.warning("RPC client: %s", refused)
            self._fail_all(refused)
            return
        if not (self._link_down and self._futures):
            return
        problem = (
            f"lost the connection to RPC server {self.address} while waiting for a reply "
            "(the server's process died, or the network between us is down)"
        )
        if self._liveness is not None:  # a spawned process: report its exit code if it died
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                exit_problem = self._liveness()
                if exit_problem:
                    problem = exit_problem
                    self._disconnected = True
                    break
                time.sleep(0.02)
        logger.warning("RPC client: %s", problem)
        self._fail_all(problem, gone=True)

    def _process_reply(self, data: bytes) -> None:
        try:
            msg = self._serializer.loads(data)
            msg["action"]
        except Exception:
            logger.warning("RPC client %s: cannot decode a reply (%d bytes)", self.address, len(data), exc_info=True)
            return
        self._dispatch(msg)

    def process_msg(self, msg: dict) -> None:
        """Handle one decoded message from the server (assign a result or error to its Future)."""
        self._dispatch(msg)

    def _dispatch(self, msg: dict) -> None:
        action = msg.get("action")
        if action == "return":
            future = self._futures.pop(msg["req_id"], None)
            if future is None:
                logger.debug("RPC client %s: late reply to request %s ignored", self.address, msg["req_id"])
                return
            error = msg["error"]
            if error is None:
                future._set_result(msg["rval"])
            else:
                future._set_exception(_error_from_reply(error))
        elif action == "disconnect":
            self._disconnected = True
            self._fail_all(f"RPC server {self.address} has closed", closed=True)
        else:
            logger.warning("RPC client %s: unknown reply action %r", self.address, action)

    def _fail_all(self, reason: str, gone: bool = False, closed: bool = False) -> None:
        """Fail every pending request.

        ``gone``: the server died (a TimeoutError, as in pyacq); ``closed``: it said goodbye
        (:class:`ServerClosedError`).
        """
        futures, self._futures = self._futures, {}
        for future in futures.values():
            if not future._state:
                future._set_exception(
                    _server_gone_error(reason)
                    if gone
                    else ServerClosedError(reason)
                    if closed
                    else RemoteCallError("ConnectionError", reason, ())
                )

    def _flush_deletes(self) -> None:
        pending = self._pending
        while pending:
            obj_id, ref_id = pending.popleft()
            try:
                self.send("delete", {"obj_id": obj_id, "ref_id": ref_id}, sync="off")
            except Exception:  # pragma: no cover
                logger.debug("RPC client %s: cannot release object %s", self.address, obj_id, exc_info=True)


def _error_from_reply(error) -> RemoteCallError:
    try:
        remote_type, lines = error[0], list(error[1])
    except Exception:
        return RemoteCallError("Error", repr(error), ())
    message = lines[-1].strip() if lines else remote_type
    prefix = f"{remote_type}: "
    if message.startswith(prefix):
        message = message[len(prefix) :]
    return make_remote_error(str(remote_type), message, lines)
