"""Host: spawns and supervises NodeGroup processes on one machine."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .rpc import ObjectProxy, RPCClient
from .rpc.server import RPCServer
from .rpc.spawner import ProcessSpawner

__all__ = ["DEFAULT_ORPHAN_TIMEOUT", "Host", "HostProcess"]

logger = logging.getLogger(__name__)

DEFAULT_ORPHAN_TIMEOUT = 30.0  # s a manager may be unreachable before its nodegroups close (survives a 20 s blip)
PING_EVERY = 1.0  # s between the host's pings of each remote manager
PING_TIMEOUT = 3.0  # s after which an unanswered ping is given up (its connection may have been replaced)


class _Group:
    """Book-keeping of one spawned nodegroup."""

    def __init__(self, name: str, spawner: ProcessSpawner, nodegroup, manager):
        self.name = name
        self.spawner = spawner
        self.nodegroup = nodegroup
        self.manager = manager
        self.closing = False


class HostProcess(ProcessSpawner):
    """The process :meth:`Host.spawn` starts.

    A :class:`ProcessSpawner` whose :meth:`stop` first closes the host's
    nodegroups (their nodes, then their processes).
    """

    host = None  # proxy to the Host in the process

    def stop(self, timeout: float = 10.0) -> int:
        """Close the host's nodegroups, then the process; return its exit code."""
        host = self.host
        if host is not None and self.poll() is None:
            try:
                host.close(_timeout=timeout)
            except Exception as exc:
                logger.warning(
                    "host process %s: closing its nodegroups failed (%s); stopping it anyway", self.name, exc
                )
        return super().stop(timeout)

    close = stop


class Host:
    """A contact point that spawns and closes NodeGroup processes on this machine.

    One Host runs on each machine a Manager uses (``lslacq host tcp://IP:PORT``
    starts one, :meth:`spawn` starts one from a script); the Manager also
    creates a default Host in its own process.

    Parameters
    ----------
    name : str
        Name of the host (used in log records).
    poll_procs : bool
        Check every ``poll_interval`` seconds, from a background thread, for
        nodegroup processes that exited unexpectedly and report them to their
        manager (:meth:`check_spawners`).
    address : str
        Address template the nodegroup servers bind (default
        ``'tcp://127.0.0.1:*'``; a host serving other machines passes its IP).
    poll_interval : float
        Seconds between checks.
    orphan_timeout : float
        With ``poll_procs``: seconds a remote manager may stay silent (no
        answer to the host's pings, every second) before the host closes
        its nodegroups (:data:`DEFAULT_ORPHAN_TIMEOUT`, 30 s: a network
        blip of 20 s leaves the acquisition running). They are closed
        cleanly (nodes stopped and closed, so recorders close their files),
        killed only if that takes longer than ``close_timeout``.
    close_timeout : float
        Seconds an orphaned nodegroup has to close its nodes.
    manager_timeout : float, optional
        Old name of ``orphan_timeout``.
    """

    def __init__(
        self,
        name: str,
        poll_procs: bool = False,
        address: str = "tcp://127.0.0.1:*",
        poll_interval: float = 0.2,
        orphan_timeout: float | None = None,
        close_timeout: float = 15.0,
        manager_timeout: float | None = None,
    ):
        if orphan_timeout is None:
            orphan_timeout = DEFAULT_ORPHAN_TIMEOUT if manager_timeout is None else manager_timeout
        if isinstance(orphan_timeout, bool) or not isinstance(orphan_timeout, (int, float)) or orphan_timeout <= 0:
            raise ValueError(
                f"Host {name}: orphan_timeout must be a number of seconds > 0, got {orphan_timeout!r} "
                f"(default {DEFAULT_ORPHAN_TIMEOUT:g})"
            )
        self.name = name
        self.address = address
        self.poll_interval = poll_interval
        self.orphan_timeout = float(orphan_timeout)
        self.close_timeout = float(close_timeout)
        self._groups: dict[str, _Group] = {}
        self._counter = 0
        self._starting: set[str] = set()
        self._lock = threading.RLock()
        self._closed = False
        self._stop = threading.Event()
        self._poll_thread: threading.Thread | None = None
        if poll_procs:
            self._poll_thread = threading.Thread(target=self._poll_loop, name=f"lslacq-host-{name}-poll", daemon=True)
            self._poll_thread.start()

    def __repr__(self) -> str:
        return f"<Host {self.name} with {len(self._groups)} nodegroup(s)>"

    @staticmethod
    def spawn(
        name: str,
        poll_procs: bool = True,
        nodegroup_address: str | None = None,
        orphan_timeout: float | None = None,
        **kwds,
    ) -> tuple[HostProcess, ObjectProxy]:
        """Start a Host server in a new process (pyacq's ``Host.spawn``).

        The host is published in its process's server as ``'host'``, so a
        Manager reaches it with ``manager.get_host(proc.address)``.

        Parameters
        ----------
        name : str
            Name of the host and of its process in log records.
        poll_procs : bool
            Supervise the nodegroup processes (see :class:`Host`).
        nodegroup_address : str, optional
            Address template the nodegroup servers bind (default: the host
            server's ``address``).
        orphan_timeout : float, optional
            See :class:`Host` (default :data:`DEFAULT_ORPHAN_TIMEOUT`).
        **kwds
            Passed to :class:`~lslacq.core.rpc.ProcessSpawner` (``address``,
            ``log_addr``, ``log_level``, ``qt``...).

        Returns
        -------
        proc : HostProcess
            The process; ``proc.stop()`` closes the host's nodegroups, then
            the process.
        host : ObjectProxy
            Proxy to the Host.

        Examples
        --------
        >>> proc, host = Host.spawn("acquisition-host")
        >>> ng = host.create_nodegroup("ng0")
        >>> ...
        >>> proc.stop()
        """
        proc = HostProcess(name=name, **kwds)
        try:
            address = nodegroup_address or kwds.get("address", "tcp://127.0.0.1:*")
            host = proc.client._import("lslacq.core.host").Host(
                name, poll_procs=poll_procs, address=address, orphan_timeout=orphan_timeout
            )
            proc.client["host"] = host
        except BaseException:
            proc.kill()
            raise
        proc.host = host
        return proc, host

    # -- nodegroups --------------------------------------------------------
    def create_nodegroup(self, name: str | None = None, manager: Any = None, qt: bool = False, **kwds):
        """Create a NodeGroup in a new process and return a proxy to it.

        Parameters
        ----------
        name : str, optional
            Name of the nodegroup and of its process in log records (default
            ``'<host name>-nodegroupN'``).
        manager : Manager or proxy, optional
            The Manager the group belongs to (told if the process dies).
        qt : bool
            Start a QApplication (and a QtRPCServer) in the new process.
        **kwds
            Passed to :class:`~lslacq.core.rpc.ProcessSpawner` (``log_addr``, ``log_level``...).
        """
        if self._closed:
            raise RuntimeError(f"Host {self.name} is closed")
        if isinstance(manager, ObjectProxy):
            # reports to the manager must not block supervision on an extra attribute round trip
            manager._set_proxy_options(defer_getattr=True, timeout=5.0)
        with self._lock:
            if name is None:
                self._counter += 1
                name = f"{self.name}-nodegroup{self._counter}"
            if name in self._groups or name in self._starting:
                raise ValueError(f"Host {self.name} already has a nodegroup named {name!r}; pick another name")
            self._starting.add(name)  # reserved while the process starts (requests may interleave meanwhile)
        try:
            kwds.setdefault("address", self.address)
            spawner = ProcessSpawner(name=name, qt=qt, **kwds)
            try:
                rng = spawner.client._import("lslacq.core.nodegroup")
                host_ref = self._self_reference()
                nodegroup = rng.NodeGroup(host=host_ref, manager=manager, name=name)
                spawner.client["nodegroup"] = nodegroup
            except Exception:
                spawner.kill()
                raise
            with self._lock:
                self._groups[name] = _Group(name, spawner, nodegroup, manager)
        finally:
            with self._lock:
                self._starting.discard(name)
        logger.info("host %s: nodegroup %s started (pid %d, %s)", self.name, name, spawner.pid, spawner.address)
        return nodegroup

    def _self_reference(self):
        server = RPCServer.get_server()
        return server.get_proxy(self) if server is not None else None

    @property
    def spawners(self) -> list[ProcessSpawner]:
        """The processes of the nodegroups this host runs (pyacq's ``Host.spawners``)."""
        with self._lock:
            return [g.spawner for g in self._groups.values()]

    def list_nodegroups(self) -> list:
        """Return proxies to the nodegroups this host runs."""
        with self._lock:
            return [g.nodegroup for g in self._groups.values()]

    def nodegroup_pids(self) -> dict[str, int]:
        """Return ``{name: pid}`` of the nodegroup processes."""
        with self._lock:
            return {name: g.spawner.pid for name, g in self._groups.items()}

    def close_nodegroup(self, name, force: bool = False, timeout: float = 10.0) -> None:
        """Close the nodegroup ``name`` (or proxy): close its nodes, then stop its process.

        With ``force`` the process is killed without closing the nodes.
        """
        group = self._find(name)
        if group is None:
            raise KeyError(f"Host {self.name} has no nodegroup {name!r}; nodegroups: {sorted(self._groups)}")
        group.closing = True
        try:
            if not force and group.spawner.poll() is None:
                try:
                    group.nodegroup.close(_timeout=timeout)
                except Exception as exc:
                    logger.warning(
                        "host %s: nodegroup %s did not close its nodes cleanly: %s", self.name, group.name, exc
                    )
                group.spawner.stop(timeout)
            else:
                group.spawner.kill()
        finally:
            with self._lock:
                self._groups.pop(group.name, None)

    def _find(self, ref) -> _Group | None:
        with self._lock:
            if isinstance(ref, str):
                return self._groups.get(ref)
            for group in self._groups.values():
                if group.nodegroup == ref or (isinstance(ref, ObjectProxy) and group.spawner.address == ref._rpc_addr):
                    return group
        return None

    def close_all_nodegroups(self, force: bool = False, manager: Any = None) -> None:
        """Close every nodegroup of this host (only those of ``manager`` if given)."""
        with self._lock:
            names = [n for n, g in self._groups.items() if manager is None or g.manager == manager]
        for name in names:
            try:
                self.close_nodegroup(name, force=force)
            except Exception:
                logger.exception("host %s: closing nodegroup %s failed", self.name, name)

    # -- supervision -------------------------------------------------------
    def check_spawners(self) -> list[str]:
        """Report nodegroup processes that exited unexpectedly to their manager; return their names."""
        dead = []
        with self._lock:
            for name, group in list(self._groups.items()):
                code = group.spawner.poll()
                if code is None or group.closing:
                    continue
                del self._groups[name]
                dead.append((group, code))
        for group, code in dead:
            logger.error(
                "host %s: nodegroup %s (pid %d) died with exit code %s", self.name, group.name, group.spawner.pid, code
            )
            group.spawner._reap(0)
            if group.manager is not None:
                try:
                    group.manager._nodegroup_died(group.name, self.name, code, _sync="off") if isinstance(
                        group.manager, ObjectProxy
                    ) else group.manager._nodegroup_died(group.name, self.name, code)
                except Exception:
                    logger.exception("host %s: cannot report the death of nodegroup %s", self.name, group.name)
        return [g.name for g, _ in dead]

    @property
    def manager_timeout(self) -> float:
        """Old name of :attr:`orphan_timeout`."""
        return self.orphan_timeout

    @manager_timeout.setter
    def manager_timeout(self, value: float) -> None:
        self.orphan_timeout = float(value)

    def _check_managers(self, last_seen: dict) -> None:
        """Close, cleanly, the nodegroups of remote managers silent for longer than :attr:`orphan_timeout`.

        Each remote manager is pinged every :data:`PING_EVERY` seconds; a
        ping unanswered after :data:`PING_TIMEOUT` is given up and sent again
        (a partition may have replaced the connection it travelled on). The
        first silence is logged once (a warning), the return once (info).
        """
        with self._lock:
            managers = {}
            for group in self._groups.values():
                if isinstance(group.manager, ObjectProxy):
                    managers[group.manager._rpc_addr] = group.manager
        now = time.monotonic()
        every = min(PING_EVERY, self.orphan_timeout / 4)  # a short orphan_timeout (tests) is sampled finer
        give_up = min(PING_TIMEOUT, max(self.orphan_timeout / 2, every))
        for addr in [a for a in last_seen if a not in managers]:
            del last_seen[addr]
        for addr, manager in managers.items():
            state = last_seen.setdefault(addr, {"seen": now, "future": None, "sent": 0.0, "silent": False})
            future = state["future"]
            if future is not None and future.done():
                try:
                    future.result(0)
                    state["seen"] = now
                    if state["silent"]:
                        logger.info("host %s: manager %s answers again; its nodegroups kept running", self.name, addr)
                        state["silent"] = False
                except Exception:
                    pass
                future = state["future"] = None
            elif future is not None and now - state["sent"] > give_up:
                future.cancel()
                future = state["future"] = None
            if future is None and now - state["sent"] >= every:
                state["sent"] = now
                try:
                    state["future"] = RPCClient.get_client(addr, manager._server_key).ping(sync="async")
                except Exception:
                    state["future"] = None
            silence = now - state["seen"]
            if silence > give_up + every and not state["silent"]:
                state["silent"] = True
                logger.warning(
                    "host %s: manager %s has not answered for %.0f s (network down?); its nodegroups "
                    "keep running and are closed if it stays silent for %g s (orphan_timeout)",
                    self.name,
                    addr,
                    silence,
                    self.orphan_timeout,
                )
            if silence > self.orphan_timeout:
                logger.error(
                    "host %s: manager %s stopped answering for %.0f s (orphan_timeout %g s); closing its nodegroups",
                    self.name,
                    addr,
                    silence,
                    self.orphan_timeout,
                )
                self._close_orphans(manager)
                last_seen.pop(addr, None)

    def _close_orphans(self, manager) -> None:
        """Close a silent manager's nodegroups: nodes first (recorders close their files), kill if stuck."""
        with self._lock:
            names = [n for n, g in self._groups.items() if g.manager == manager]
        for name in names:
            try:
                self.close_nodegroup(name, force=False, timeout=self.close_timeout)
            except Exception:
                logger.exception("host %s: closing orphaned nodegroup %s failed", self.name, name)
                group = self._groups.pop(name, None)
                if group is not None:
                    group.spawner.kill()

    def _poll_loop(self) -> None:
        last_seen: dict = {}
        while not self._stop.wait(self.poll_interval):
            try:
                self.check_spawners()
                self._check_managers(last_seen)
            except Exception:
                logger.exception("host %s: supervision check failed", self.name)
        RPCClient.close_thread_clients()

    def close(self, force: bool = False) -> None:
        """Close every nodegroup and stop supervision."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._poll_thread is not None and self._poll_thread is not threading.current_thread():
            self._poll_thread.join(5)
        self.close_all_nodegroups(force=force)
