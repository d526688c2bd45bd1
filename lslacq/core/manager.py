"""Manager: the central point of control of a distributed graph, and create_manager()."""

from __future__ import annotations

import atexit
import logging
import threading
import time
from typing import Any

from .host import Host
from .rpc import ObjectProxy, RPCClient
from .rpc import log as rpclog
from .rpc.server import RPCServer
from .rpc.spawner import ProcessSpawner

__all__ = ["Manager", "create_manager"]

logger = logging.getLogger(__name__)


class Manager:
    """Connect to hosts, create NodeGroups on them and supervise them.

    Create it with :func:`create_manager` (in a new process by default).

    Parameters
    ----------
    log_addr : str, optional
        Log server address handed to every nodegroup process.
    log_level : int, optional
        Root log level of nodegroup processes.
    log_key : str, optional
        CurveZMQ public key of the log server (when it is not on loopback).
    """

    def __init__(self, log_addr: str | None = None, log_level: int | None = None, log_key: str | None = None):
        self.log_addr = log_addr
        self.log_level = log_level
        self.log_key = log_key
        self._lock = threading.RLock()
        self.hosts: dict[str, Any] = {}
        self._nodegroups: dict[str, dict] = {}
        self._counter = 0
        self._default_nodegroup = None
        self._closed = False
        self._own_server: RPCServer | None = None
        self._server_thread: threading.Thread | None = None
        self._self_proxy = None
        self._on_close: list = []  # callbacks run at the end of close() (create_manager's log server...)
        if RPCServer.get_server() is None:
            # 'local' mode: remote hosts must be able to call us back (death reports, liveness pings) even
            # while this thread is busy, so the manager gets its own server thread
            self._own_server = RPCServer(name="manager")
            self._self_proxy = self._own_server.get_proxy(self)
            self._server_thread = threading.Thread(
                target=self._own_server.run_forever, name="lslacq-manager-rpc", daemon=True
            )
            self._server_thread.start()
        self.default_host = Host("default", poll_procs=True)

    def __repr__(self) -> str:
        return f"<Manager with {len(self.hosts)} host(s), {len(self._nodegroups)} nodegroup(s)>"

    # -- hosts -------------------------------------------------------------
    def get_host(self, addr: str, server_key: str | None = None, timeout: float = 5.0):
        """Connect to the Host server at ``addr`` (``lslacq host ADDR``) and return a proxy to its Host.

        Parameters
        ----------
        addr : str
            The host server's address, e.g. ``'tcp://10.0.0.53:8000'``.
        server_key : str, optional
            The host server's CurveZMQ public key (for non-loopback hosts):
            the key ``lslacq host`` prints.
        timeout : float
            Seconds to wait for the host to answer.

        Raises
        ------
        TimeoutError
            No host answers at ``addr`` (the message names it and how to start one).
        ConnectionError
            The host refused this manager's CurveZMQ handshake (wrong server
            key, or this manager's key is not in the host's authorized keys).
        ValueError
            ``server_key`` is not a CurveZMQ public key.
        """
        with self._lock:
            known = self.hosts.get(addr)
        if known is not None:
            if server_key is not None and known._server_key is not None and server_key != known._server_key:
                raise ValueError(
                    f"manager: host {addr} is already connected with server key {known._server_key}, "
                    f"not {server_key}: pass the public key that `lslacq host` printed there"
                )
            return known
        if server_key is not None:
            from .rpc import security

            security.check_server_key(server_key, addr)
        client = RPCClient.get_client(addr, server_key=server_key)
        try:
            client.ensure_connection(timeout=timeout)
            host = client["host"]
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            RPCClient.close_client(addr)  # the next attempt starts afresh
            raise _host_error(addr, server_key, timeout, exc) from None
        with self._lock:
            self.hosts[addr] = host
        logger.info("manager: connected to host %s", addr)
        return host

    add_host = get_host

    def list_hosts(self) -> list:
        """Return the Hosts the manager is connected to (the default host first)."""
        with self._lock:
            return [self.default_host] + list(self.hosts.values())

    # -- nodegroups --------------------------------------------------------
    def create_nodegroup(self, name: str | None = None, host: Any = None, qt: bool = False, **kwds):
        """Create a NodeGroup in a new process and return a proxy to it.

        Parameters
        ----------
        name : str, optional
            Unique name (default ``nodegroupN``), used in log records.
        host : None, str or Host proxy
            Where to spawn the process: the manager's default host (None), the
            address of a host server, or a proxy returned by :meth:`get_host`.
        qt : bool
            Start a QApplication in the new process (default False: nodes run
            without Qt; set True for viewer nodes).
        **kwds
            Passed to ``Host.create_nodegroup`` / ProcessSpawner.
        """
        if self._closed:
            raise RuntimeError("the manager is closed")
        if host is None and name is not None and not isinstance(name, str):
            # the manual's chapter 3.3 spelling: manager.create_nodegroup(host)
            name, host = None, name
        with self._lock:
            if name is None:
                while f"nodegroup{self._counter}" in self._nodegroups:
                    self._counter += 1
                name = f"nodegroup{self._counter}"
            if name in self._nodegroups and self._nodegroups[name]["state"] in ("running", "starting"):
                raise ValueError(f"a nodegroup named {name!r} already exists; pick another name")
            previous = self._nodegroups.get(name)
            self._nodegroups[name] = {
                "name": name,
                "host": None,
                "nodegroup": None,
                "state": "starting",
                "exit_code": None,
                "host_obj": None,
            }
        try:
            nodegroup, host_obj, host_name = self._spawn_nodegroup(name, host, qt, kwds)
        except BaseException:
            with self._lock:
                if previous is None:
                    self._nodegroups.pop(name, None)
                else:
                    self._nodegroups[name] = previous
            raise
        with self._lock:
            self._nodegroups[name] = {
                "name": name,
                "host": host_name,
                "nodegroup": nodegroup,
                "state": "running",
                "exit_code": None,
                "host_obj": host_obj,
            }
        return nodegroup

    def _spawn_nodegroup(self, name: str, host, qt: bool, kwds: dict):
        if host is None:
            host_obj, host_name = self.default_host, "default"
        elif isinstance(host, str):
            host_obj, host_name = self.get_host(host), host
        else:
            host_obj = host
            host_name = host._rpc_addr if isinstance(host, ObjectProxy) else getattr(host, "name", repr(host))
        kwds.setdefault("log_addr", self.log_addr)
        kwds.setdefault("log_level", self.log_level)
        if self.log_key:
            kwds.setdefault("log_key", self.log_key)
        # in 'local' mode the manager is reached through its own server thread (see __init__)
        manager_ref = self._self_proxy if self._self_proxy is not None else self
        if isinstance(host_obj, ObjectProxy):
            nodegroup = host_obj.create_nodegroup(name, manager=manager_ref, qt=qt, _timeout=60, **kwds)
        else:
            nodegroup = host_obj.create_nodegroup(name, manager=manager_ref, qt=qt, **kwds)
        return nodegroup, host_obj, host_name

    def list_nodegroups(self, details: bool = False) -> list:
        """Return proxies to the running nodegroups.

        With ``details=True`` return one dict per nodegroup ever created:
        ``{'name', 'host', 'state' ('starting' | 'running' | 'dead' | 'closed'), 'exit_code', 'nodegroup'}``.
        """
        with self._lock:
            if details:
                return [{k: v for k, v in info.items() if k != "host_obj"} for info in self._nodegroups.values()]
            return [info["nodegroup"] for info in self._nodegroups.values() if info["state"] == "running"]

    def health(self, timeout: float = 5.0) -> dict:
        """Return ``{nodegroup name: health}`` for every nodegroup ever created.

        Running nodegroups are asked in parallel (:meth:`NodeGroup.health`:
        pid, uptime, CPU %, memory, threads, node states); others report their
        state and exit code. Entries of nodegroups that were running have
        ``host`` (the host's address, or ``'default'``). A nodegroup whose connection is down (its machine is
        unreachable: a network partition, a cable out) is reported at once as
        ``'unreachable'`` once the RPC heartbeat noticed (within about 3 s);
        one that does not answer within ``timeout`` as ``'unresponsive'``. A
        nodegroup is ``'running'`` again as soon as it answers again. A
        nodegroup whose server closed without this manager closing it (its
        host process was killed: the nodegroup ends with its parent) is
        ``'dead'`` from then on, reported once by an ERROR record. One that
        is unreachable while its host answers and no longer has it was closed
        by the host (this manager was out of reach for longer than the host's
        ``orphan_timeout``): ``'closed'`` from then on, reported once too.
        """
        from .rpc.client import ServerClosedError, ServerGoneError

        with self._lock:
            infos = list(self._nodegroups.values())
        pending = {}
        result = {}
        hosts = {info["name"]: info["host"] for info in infos}
        for info in infos:
            if info["state"] != "running":
                result[info["name"]] = {"state": info["state"], "exit_code": info["exit_code"]}
                continue
            try:
                pending[info["name"]] = _method(info["nodegroup"], "health")(_sync="async")
            except ServerGoneError as exc:
                result[info["name"]] = {"state": "unreachable", "error": str(exc)}
            except ServerClosedError as exc:
                result[info["name"]] = self._nodegroup_closed(info["name"], exc)
            except Exception as exc:
                result[info["name"]] = {"state": "unresponsive", "error": str(exc)}
        deadline = time.monotonic() + timeout
        for name, future in pending.items():
            try:
                health = future.result(max(0.0, deadline - time.monotonic()))
                health["state"] = "running"
                result[name] = health
            except ServerGoneError as exc:
                result[name] = {"state": "unreachable", "error": str(exc)}
            except ServerClosedError as exc:
                result[name] = self._nodegroup_closed(name, exc)
            except Exception as exc:
                if not future.done():
                    future.cancel()  # its reply, if it ever comes, is dropped
                result[name] = {"state": "unresponsive", "error": str(exc)}
        self._check_orphaned(result, infos, deadline)
        for name, entry in result.items():
            if entry["state"] in ("running", "unreachable", "unresponsive"):
                entry.setdefault("host", hosts.get(name))
        return result

    def _check_orphaned(self, result: dict, infos: list, deadline: float) -> None:
        """Unreachable nodegroups whose host answers but no longer has them: the host closed them as orphans."""
        asks: dict[str, tuple] = {}
        for info in infos:
            host = info.get("host_obj")
            if result.get(info["name"], {}).get("state") not in ("unreachable", "unresponsive") or not isinstance(
                host, ObjectProxy
            ):
                continue
            key = host._rpc_addr
            if key not in asks:
                try:
                    asks[key] = (host, _method(host, "nodegroup_pids")(_sync="async"), [])
                except Exception:
                    continue
            asks[key][2].append(info["name"])
        for addr, (_host, future, names) in asks.items():
            try:
                running = future.result(max(0.5, deadline - time.monotonic()))
            except Exception:
                if not future.done():
                    future.cancel()
                continue  # the host is unreachable too: a partition, the nodegroups may well run on
            for name in names:
                if name not in running:
                    result[name] = self._nodegroup_orphaned(name, addr)

    def _mark_ended(self, name: str, state: str) -> tuple[bool, str | None]:
        """Mark a running nodegroup ``state`` (it ended without this manager closing it).

        Returns ``(first, host)``: whether this call changed it (report it then, once) and its host's name.
        """
        with self._lock:
            info = self._nodegroups.get(name)
            first = info is not None and info["state"] == "running"
            if info is not None and first:
                info["state"] = state
                if self._default_nodegroup is not None and info["nodegroup"] == self._default_nodegroup:
                    self._default_nodegroup = None
            return first, (info.get("host") if info is not None else None)

    def _nodegroup_orphaned(self, name: str, host_addr: str) -> dict:
        """Mark a nodegroup its host closed while this manager was out of reach ``closed``; report it once."""
        first, _host = self._mark_ended(name, "closed")
        message = (
            f"nodegroup {name} was closed by its host {host_addr} while this manager could not reach it "
            "(for longer than the host's orphan_timeout)"
        )
        if first:
            logger.error("manager: %s", message)
        return {"state": "closed", "exit_code": None, "error": message}

    def host_health(self, timeout: float = 3.0) -> dict:
        """Return ``{host address: {'state': 'reachable' | 'unreachable', 'rtt', 'error'}}`` for every host added.

        Each host is pinged in parallel; ``rtt`` is the round trip in seconds.
        A host behind a network partition is ``'unreachable'`` (at once when
        the RPC heartbeat already saw the connection drop, otherwise after
        ``timeout``); it is ``'reachable'`` again as soon as its connection is
        re-established (zmq retries every 0.1 s, each attempt at most 2 s) and
        it answers. Each host has its own connection: after a partition it can
        come back a little before or after the nodegroups on that host.
        """
        with self._lock:
            hosts = dict(self.hosts)
        pending = {}
        result: dict[str, dict] = {}
        for addr, host in hosts.items():
            try:
                client = RPCClient.get_client(addr, host._server_key)
                pending[addr] = (time.monotonic(), client.ping(sync="async"))
            except Exception as exc:
                result[addr] = {"state": "unreachable", "rtt": None, "error": str(exc)}
        deadline = time.monotonic() + timeout
        for addr, (started, future) in pending.items():
            try:
                future.result(max(0.0, deadline - time.monotonic()))
                result[addr] = {"state": "reachable", "rtt": time.monotonic() - started, "error": None}
            except Exception as exc:
                if not future.done():
                    future.cancel()
                result[addr] = {"state": "unreachable", "rtt": None, "error": str(exc)}
        return result

    def _nodegroup_closed(self, name: str, exc: BaseException) -> dict:
        """Mark a running nodegroup whose server closed by itself (its host died) ``dead``; report it once."""
        first, host = self._mark_ended(name, "dead")
        if first:
            logger.error(
                "manager: nodegroup %s on host %s is gone: its server closed without this manager closing "
                "it (its host process was probably killed; the nodegroup ends with it); the rest of the "
                "graph keeps running",
                name,
                host,
            )
        return {"state": "dead", "exit_code": None, "error": str(exc)}

    def _nodegroup_died(self, name: str, host_name: str, exit_code) -> None:
        """Record that a nodegroup process exited unexpectedly (a Host calls it)."""
        with self._lock:
            info = self._nodegroups.get(name)
            if info is None or info["state"] != "running":
                return
            info["state"] = "dead"
            info["exit_code"] = exit_code
            if self._default_nodegroup is not None and info["nodegroup"] == self._default_nodegroup:
                self._default_nodegroup = None
        logger.error(
            "manager: nodegroup %s on host %s died unexpectedly (exit code %s); the rest of the graph keeps running",
            name,
            host_name,
            exit_code,
        )

    @property
    def default_nodegroup(self):
        """A nodegroup created on first use on the default host."""
        with self._lock:
            if self._default_nodegroup is None:
                self._default_nodegroup = self.create_nodegroup("default_nodegroup")
            return self._default_nodegroup

    def create_node(self, node_class, *args, host: Any = None, **kwds):
        """Create a node on nodegroup ``host`` (default: :attr:`default_nodegroup`) and return it.

        This is the shortcut of the manual's introduction:
        ``manager.create_node('Spikesorter', host=worker)``.
        """
        nodegroup = host if host is not None else self.default_nodegroup
        return nodegroup.create_node(node_class, *args, **kwds)

    def start_all(self) -> None:
        """Start every node of every nodegroup."""
        for nodegroup in self.list_nodegroups():
            nodegroup.start_all_nodes()

    def stop_all(self) -> None:
        """Stop every node of every nodegroup."""
        for nodegroup in self.list_nodegroups():
            nodegroup.stop_all_nodes()

    def get_logger_info(self) -> dict:
        """Return ``{'log_addr', 'log_level', 'log_key'}`` used by the nodegroup processes."""
        return {"log_addr": self.log_addr, "log_level": self.log_level, "log_key": self.log_key}

    def close(self) -> None:
        """Close every nodegroup on every host, then the default host."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            groups = [info for info in self._nodegroups.values() if info["state"] == "running"]
            addresses = [
                info["nodegroup"]._rpc_addr
                for info in self._nodegroups.values()
                if isinstance(info.get("nodegroup"), ObjectProxy)
            ]
        for info in groups:
            host = info["host_obj"]
            try:
                if isinstance(host, ObjectProxy):
                    host.close_nodegroup(info["name"], _timeout=30)
                else:
                    host.close_nodegroup(info["name"])
            except Exception:
                logger.exception("manager: closing nodegroup %s failed", info["name"])
            info["state"] = "closed"
        self.default_host.close()
        for address in addresses:  # this thread's connections to the closed nodegroups
            RPCClient.close_client(address)
        if self._own_server is not None:
            self._own_server.close()
            if self._server_thread is not None and self._server_thread is not threading.current_thread():
                self._server_thread.join(5)
        logger.info("manager closed")
        for callback in self._on_close:
            try:
                callback()
            except Exception:
                logger.exception("manager: close callback %r failed", callback)


class ManagerProxy(ObjectProxy):
    """Proxy to a Manager running in its own process; ``close()`` also ends that process."""

    def get_host(self, addr: str, server_key: str | None = None, timeout: float = 5.0, **kwds):
        """:meth:`Manager.get_host` in the manager process (waits ``timeout`` for the host, then says why)."""
        kwds.setdefault("_timeout", timeout + 10.0)
        return ObjectProxy.__getattr__(self, "get_host")(addr, server_key=server_key, timeout=timeout, **kwds)

    add_host = get_host

    def close(self, timeout: float = 30.0) -> None:
        """Close every nodegroup, the manager process and the log server started with it."""
        state = self.__dict__.get("_lslacq_state")
        if state is None or state["closed"]:
            return
        state["closed"] = True
        atexit.unregister(state["atexit"])
        spawner: ProcessSpawner = state["spawner"]
        addresses = []
        try:
            if spawner.poll() is None:
                addresses = [
                    info["nodegroup"]._rpc_addr
                    for info in ObjectProxy.__getattr__(self, "list_nodegroups")(details=True, _timeout=timeout)
                    if isinstance(info.get("nodegroup"), ObjectProxy)
                ]
                ObjectProxy.__getattr__(self, "close")(_timeout=timeout)
        except Exception as exc:
            logger.warning("manager process did not close cleanly: %s", exc)
        finally:
            spawner.stop(timeout=10)
            for address in addresses:  # this thread's connections to the closed nodegroups
                RPCClient.close_client(address)
            if state["log_server"]:
                # let the last records of the manager process arrive before stopping the log server
                time.sleep(0.1)
                _stop_log_server(state.get("log_handler"))


def create_manager(
    mode: str = "rpc",
    auto_close_at_exit: bool = True,
    log_level: int | None = None,
    address: str = "tcp://127.0.0.1:*",
    log_address: str = "tcp://127.0.0.1:*",
    secret_key=None,
    authorized_keys=None,
):
    """Create a Manager in a new process ('rpc', returns a proxy) or in this process ('local').

    Also starts a log server in this process (if none runs) to which the
    manager and every nodegroup process forward their log records,
    uncaught exceptions and stdout/stderr; records are handled by the root
    logger (an :class:`~lslacq.core.rpc.log.RPCLogHandler` is added if the
    root logger has no handler).

    Parameters
    ----------
    mode : {'rpc', 'local'}
        'rpc': the Manager runs in its own process (supervision keeps
        working while this process is busy). 'local': the Manager object is
        created here.
    auto_close_at_exit : bool
        Call ``Manager.close()`` when this process exits.
    log_level : int, optional
        Root log level of the spawned processes (default: this process's).
    address : str
        Address of the manager process's RPC server ('rpc' mode). Hosts on
        other machines call the manager back, so give an address they can
        reach (non-loopback addresses need CurveZMQ keys, see
        ``lslacq.core.rpc.security.set_default_keys``).
    log_address : str
        Address of the log server started here (same remark).
    secret_key, authorized_keys : optional
        CurveZMQ key pair (``.key_secret`` file) of this application and the
        directory of trusted public keys; shortcut for
        ``lslacq.core.rpc.security.set_default_keys(secret_key, authorized_keys)``
        (the manager and nodegroup processes inherit them).
    """
    if mode not in ("rpc", "local"):
        raise ValueError(f"create_manager mode must be 'rpc' or 'local', got {mode!r}")
    if secret_key is not None or authorized_keys is not None:
        from .rpc import security

        security.set_default_keys(secret_key, authorized_keys)
    started_log_server = rpclog.get_log_server() is None
    log_server = rpclog.start_log_server(logging.getLogger(), log_address)
    log_key = rpclog.get_logger_key()
    handler = None
    root = logging.getLogger()
    if started_log_server and not root.handlers:
        handler = rpclog.RPCLogHandler()
        root.addHandler(handler)
    if log_level is None:
        log_level = root.getEffectiveLevel()
    if mode == "local":
        manager = Manager(log_addr=log_server.address, log_level=log_level, log_key=log_key)
        if started_log_server:
            manager._on_close.append(lambda: _stop_log_server(handler))
        if auto_close_at_exit:
            atexit.register(manager.close)
        return manager
    spawner = ProcessSpawner(
        name="manager", address=address, log_addr=log_server.address, log_level=log_level, log_key=log_key
    )
    try:
        rmod = spawner.client._import("lslacq.core.manager")
        remote = rmod.Manager(log_addr=log_server.address, log_level=log_level, log_key=log_key)
        spawner.client["manager"] = remote
    except Exception:
        spawner.kill()
        raise
    proxy = ManagerProxy(
        remote._rpc_addr, remote._obj_id, remote._ref_id, remote._type_str, (), server_key=remote._server_key
    )
    state = {"spawner": spawner, "closed": False, "log_server": started_log_server, "log_handler": handler}
    state["atexit"] = proxy.close
    proxy.__dict__["_lslacq_state"] = state
    atexit.register(proxy.close) if auto_close_at_exit else None
    if not auto_close_at_exit:
        state["atexit"] = _noop
    return proxy


def _method(proxy: ObjectProxy, name: str) -> ObjectProxy:
    """Return a proxy to ``proxy.name`` made locally (no attribute round trip to a server that may be gone).

    It is kept as ``proxy.name`` is, so it keeps its client: one that knows the server closed or that the
    link is down fails calls at once (a new client would wait for each call's timeout).
    """
    cached = proxy._attr_cache.get(name)
    if cached is None:
        cached = proxy._attr_cache[name] = proxy._derived(proxy._attributes + (name,))
    return cached


def _host_error(addr: str, server_key, timeout: float, exc: BaseException) -> Exception:
    """Build the error of a failed :meth:`Manager.get_host`: what did not answer, and what to do."""
    if "refused the CurveZMQ handshake" in str(exc):
        return ConnectionError(
            f"the host at {addr} refused this manager's CurveZMQ handshake with server key {server_key}: check that "
            "this is the public key `lslacq host` printed, and that the manager's public key is in the host's "
            "--authorized-keys directory"
        )
    key_hint = ""
    if server_key is not None:
        key_hint = (
            f" If a host runs there, check that server key {server_key} is the public key it printed and "
            "that this manager's public key is in its --authorized-keys directory (a wrong key looks like "
            "silence)."
        )
    elif not _is_loopback(addr):
        key_hint = " A host on another machine needs CurveZMQ keys: pass server_key=<the public key it printed>."
    return TimeoutError(
        f"no lslacq host answers at {addr} (waited {timeout:g} s): start one on that machine with "
        f"`lslacq host {addr}`, or check the address and the network.{key_hint} ({exc})"
    )


def _is_loopback(addr: str) -> bool:
    from .rpc import security

    return security.is_loopback_address(addr)


def _noop() -> None:
    pass


def _stop_log_server(handler) -> None:
    rpclog.stop_log_server()
    if handler is not None:
        logging.getLogger().removeHandler(handler)
