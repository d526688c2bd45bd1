"""Building and running a graph file: :func:`load_graph` and :class:`Graph`."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from ..core import registry
from ..core.nodegroup import describe_error, node_health, qt_requirement
from .spec import MAIN_GROUP, GraphError, GraphSpec, NodeSpec, read_graph
from .validation import validate

__all__ = ["Graph", "load_graph"]

logger = logging.getLogger(__name__)

_HOST_TIMEOUT_S = 5.0


def load_graph(path: str | Path, overrides: dict[str, Any] | None = None, **kwargs: Any) -> Graph:
    """Read, check and build a graph file; return the :class:`Graph`, initialized and not started.

    Parameters
    ----------
    path : str or Path
        The graph file (TOML, see docs/graphs.md).
    overrides : dict, optional
        ``{"param": value}`` or ``{"node.key": value}`` (keys with a dot cannot be keyword arguments).
    **kwargs
        Parameter overrides, as ``--set name=value`` on the command line.

    Examples
    --------
    >>> with lslacq.load_graph("graph.toml", rate=1000) as graph:  # doctest: +SKIP
    ...     graph.start()
    ...     graph.nodes["filt"].set_params(f_high=40)
    """
    spec = read_graph(path, {**(overrides or {}), **kwargs})
    graph = Graph(spec)
    try:
        graph.build()
    except BaseException:
        graph.close()
        raise
    return graph


class Graph:
    """A running graph file: nodes (local objects or proxies), nodegroups and their lifecycle.

    Parameters
    ----------
    spec : GraphSpec
        A read graph file (:func:`~lslacq.graph.spec.read_graph`).

    Attributes
    ----------
    nodes : dict of str to Node or ObjectProxy
        Every node, by its name in the file: a local object for nodes of the
        main nodegroup, a proxy for nodes in other processes.
    nodegroups : dict of str to ObjectProxy
        The nodegroups the graph started.
    order : list of str
        Node names in data-flow order (sources first).
    """

    def __init__(self, spec: GraphSpec):
        self.spec = spec
        self.nodes: dict[str, Any] = {}
        self.nodegroups: dict[str, Any] = {}
        self.order: list[str] = []
        self.manager = None
        self._closed = False
        self._last_counters: dict[str, tuple[float, dict]] = {}
        self._process = None  # psutil.Process of this process, kept so CPU % covers the time between calls

    def __repr__(self) -> str:
        return f"<Graph {str(self.spec.path)!r} {len(self.nodes)} nodes>"

    # -- building -------------------------------------------------------------
    def build(self) -> None:
        """Check the file, start the nodegroups, create, configure, connect and initialize every node."""
        spec = self.spec
        self.order = validate(spec)
        used_groups = {n.nodegroup for n in spec.nodes.values()} - {MAIN_GROUP}
        for group in used_groups:
            host = spec.nodegroups[group].host
            if host:
                check_host(spec, group, host)
        if used_groups:
            from ..core.manager import create_manager

            self.manager = create_manager()
            for group in sorted(used_groups):
                info = spec.nodegroups[group]
                host = self.manager.get_host(info.host) if info.host else None
                self.nodegroups[group] = self.manager.create_nodegroup(name=group, host=host, qt=info.qt)
        for name in self.order:
            self.nodes[name] = self._create(spec.nodes[name])
        # pyacq's order, node by node from the sources on: configure, connect the inputs (their sources'
        # outputs are configured by then), configure the outputs (which may copy input metadata)
        readers = self._reader_groups()
        for name in self.order:
            node_spec = spec.nodes[name]
            self._step(node_spec, "configure()", self.nodes[name].configure, **node_spec.configure)
            for conn in spec.connections:
                if conn.target == name:
                    self._connect(conn)
            self._configure_outputs(node_spec, readers)
        for name in self.order:
            self._step(spec.nodes[name], "initialize()", self.nodes[name].initialize)
        for name in self.order:  # the file's params and window, once every node exists as it will run
            self._apply_params(spec.nodes[name])
            size = spec.nodes[name].window.get("size")
            if size is not None:
                self._step(spec.nodes[name], "window size", self.nodes[name].set_window_size, *size)

    def _apply_params(self, node_spec: NodeSpec) -> None:
        """Set ``node.params[key] = value`` for each entry of the node's ``params`` table.

        The node validates them (its limits now include what its input set at initialize).
        """
        node = self.nodes[node_spec.name]
        for path, value in node_spec.params.items():
            key = path if len(path) > 1 else path[0]
            try:
                node.params[key] = value
            except Exception as exc:
                raise self.spec.error(
                    f"node {node_spec.name!r} ({node_spec.type}): params.{'.'.join(path)} = "
                    f"{value!r} refused: {describe_error(exc)}",
                    node_spec,
                    node_spec.line_of_param(path),
                ) from exc
        for (channel, key), value in node_spec.by_channel_params.items():
            try:
                node.by_channel_params[channel, key] = value
            except Exception as exc:
                raise self.spec.error(
                    f"node {node_spec.name!r} ({node_spec.type}): by_channel_params.{channel}."
                    f"{key} = {value!r} refused: {describe_error(exc)}",
                    node_spec,
                    node_spec.line_of_param((channel, key), "by_channel_params"),
                ) from exc

    def _connect(self, conn) -> None:
        source, target = self.nodes[conn.source], self.nodes[conn.target]
        try:
            output = source.outputs[conn.output]
            if (
                self.spec.nodes[conn.source].nodegroup == MAIN_GROUP
                and self.spec.nodes[conn.target].nodegroup != MAIN_GROUP
            ):
                output = output.params.to_dict()  # a local object cannot travel to another process; its params can
            target.inputs[conn.input].connect(output)
        except KeyError as exc:
            kind, node = ("output", source) if conn.output not in source.outputs else ("input", target)
            names = list((node.outputs if kind == "output" else node.inputs).keys())
            raise self.spec.error(
                f"connection {conn.text!r}: no {kind} {exc.args[0]!r} on {node.name!r} once "
                f"configured; its {kind}s: {', '.join(names) or 'none'}",
                conn,
            ) from None
        except Exception as exc:
            raise self.spec.error(f"connection {conn.text!r} failed: {describe_error(exc)}", conn) from exc

    def _create(self, node_spec: NodeSpec):
        if node_spec.nodegroup == MAIN_GROUP:
            cls = registry.get_node_type(node_spec.type)
            need = qt_requirement(cls)
            if need is not None:
                raise self.spec.error(
                    f"node {node_spec.name!r}: {node_spec.type} needs a Qt event loop ({need[1]}); put it in a "
                    'nodegroup with qt = true (nodegroup = "gui" and [nodegroups.gui] qt = true)',
                    node_spec,
                )
            return self._step(node_spec, "creation", cls, name=node_spec.name)
        group = self.nodegroups[node_spec.nodegroup]
        return self._step(node_spec, "creation", group.create_node, node_spec.type, name=node_spec.name)

    def _reader_groups(self) -> dict[tuple[str, str], set[str]]:
        """(node, output) -> nodegroups of the nodes that read it."""
        readers: dict[tuple[str, str], set[str]] = {}
        for conn in self.spec.connections:
            readers.setdefault((conn.source, conn.output), set()).add(self.spec.nodes[conn.target].nodegroup)
        return readers

    def _configure_outputs(self, node_spec: NodeSpec, readers: dict[tuple[str, str], set[str]]) -> None:
        """Configure a node's outputs: the file's options over defaults (inproc within a nodegroup, tcp across)."""
        node = self.nodes[node_spec.name]
        names = list(node.outputs.keys())
        unknown = set(node_spec.outputs) - set(names)
        if unknown:
            raise self.spec.error(
                f"node {node_spec.name!r}: [nodes.{node_spec.name}.outputs] names "
                f"{sorted(unknown)}, which {node_spec.type} does not have; its outputs: "
                f"{', '.join(names) or 'none'}",
                node_spec,
            )
        for output in names:
            groups = readers.get((node_spec.name, output), set())
            local = groups <= {node_spec.nodegroup}
            options = {"protocol": "inproc" if local else "tcp"}
            if not local:
                remote = any(self.spec.nodegroups[g].host for g in groups | {node_spec.nodegroup} if g != MAIN_GROUP)
                options["interface"] = "0.0.0.0" if remote else "127.0.0.1"
            options.update(node_spec.outputs.get(output, {}))
            self._step(node_spec, f"configure of output {output!r}", node.outputs[output].configure, **options)

    def _step(self, node_spec: NodeSpec, what: str, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except GraphError:
            raise
        except Exception as exc:
            raise self.spec.error(
                f"node {node_spec.name!r} ({node_spec.type}): {what} failed: {describe_error(exc)}", node_spec
            ) from exc

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> None:
        """Start every node, readers before their sources (nothing produced is missed); show the viewers."""
        for name in reversed(self.order):
            node = self.nodes[name]
            if not node.running():
                node.start()
            if _is_widget(registry.get_node_type(self.spec.nodes[name].type)):
                node.show()

    def _reachable(self) -> dict[str, Any]:
        """Return the nodes whose process still runs (nodes of a dead nodegroup are skipped, not waited for)."""
        dead: set[str] = set()
        if self.manager is not None:
            try:
                dead = {
                    info["name"] for info in self.manager.list_nodegroups(details=True) if info["state"] != "running"
                }
            except Exception:
                logger.exception("graph %s: cannot ask the manager which nodegroups run", self.spec.path)
        return {
            name: self.nodes[name]
            for name in self.order
            if name in self.nodes and self.spec.nodes[name].nodegroup not in dead
        }

    def stop(self) -> None:
        """Stop every node, sources first (errors are logged; every node is attempted)."""
        for name, node in self._reachable().items():
            try:
                if node.initialized() and node.running():
                    node.stop()
            except Exception:
                logger.exception("graph %s: stopping node %r failed", self.spec.path, name)

    def close(self) -> None:
        """Stop and close every node, then the nodegroups and their processes. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        for name, node in self._reachable().items():
            try:
                node.close()
            except Exception:
                logger.exception("graph %s: closing node %r failed", self.spec.path, name)
        if self.manager is not None:
            try:
                self.manager.close()
            except Exception:
                logger.exception("graph %s: closing the manager failed", self.spec.path)
            self.manager = None

    def __enter__(self) -> Graph:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- status -------------------------------------------------------------------
    def status(self) -> dict:
        """Per node and per process: state, error, counters and rates since the previous call.

        Returns
        -------
        dict
            ``{"time", "nodes": {name: {"type", "nodegroup", "state", "error",
            "samples_in", "samples_out", "lost_samples", "latency", "rate_in",
            "rate_out", "wait_seconds", "waiting"}}, "processes": {nodegroup: {"pid", "state",
            "cpu_percent", "rss"}}}``. A node of a dead or unresponsive
            process has that process's state. ``waiting`` is the fraction of
            the time since the previous call that the node's outputs waited
            for a slower reader (a node downstream throttles this one).
        """
        now = time.monotonic()
        if self._process is None:
            import psutil

            self._process = psutil.Process(os.getpid())
        processes: dict[str, dict] = {MAIN_GROUP: _process_info(self._process)}
        health: dict[str, dict] = {}
        if self.manager is not None:
            try:
                health = self.manager.health()
            except Exception as exc:
                health = {g: {"state": "unresponsive", "error": describe_error(exc)} for g in self.nodegroups}
        for group, info in health.items():
            processes[group] = {
                "pid": info.get("pid"),
                "state": info.get("state"),
                "cpu_percent": info.get("cpu_percent"),
                "rss": info.get("rss"),
            }
        nodes = {}
        for name in self.order:
            node_spec = self.spec.nodes[name]
            if node_spec.nodegroup == MAIN_GROUP:
                entry = node_health(self.nodes[name])
            else:
                group = health.get(node_spec.nodegroup, {})
                entry = next((h for key, h in group.get("nodes", {}).items() if key.split("#")[0] == name), None)
                if entry is None:
                    state = group.get("state", "unknown")
                    why = f"nodegroup {node_spec.nodegroup!r} is {state}"
                    if group.get("exit_code") is not None:
                        why += f" (exit code {group['exit_code']})"
                    if group.get("error"):
                        why += f": {group['error']}"
                    entry = {
                        "state": "failed" if state in ("dead", "unresponsive") else state,
                        "error": why,
                        "counters": {},
                    }
            counters = entry.get("counters") or {}
            state = "failed" if entry.get("error") else entry.get("state")
            row = {
                "type": node_spec.type,
                "nodegroup": node_spec.nodegroup,
                "state": state,
                "error": entry.get("error"),
                "samples_in": counters.get("samples_in"),
                "samples_out": counters.get("samples_out"),
                "lost_samples": counters.get("lost_samples"),
                "latency": counters.get("latency"),
                "rate_in": None,
                "rate_out": None,
                "wait_seconds": counters.get("wait_seconds"),
                "waiting": None,
            }
            previous = self._last_counters.get(name)
            if previous is not None and now > previous[0]:
                dt = now - previous[0]
                for key, rate in (("samples_in", "rate_in"), ("samples_out", "rate_out"), ("wait_seconds", "waiting")):
                    if row[key] is not None and previous[1].get(key) is not None:
                        row[rate] = (row[key] - previous[1][key]) / dt
            self._last_counters[name] = (now, {key: row[key] for key in ("samples_in", "samples_out", "wait_seconds")})
            nodes[name] = row
        return {"time": time.time(), "nodes": nodes, "processes": processes}


def _is_widget(cls: type) -> bool:
    """Tell whether ``cls`` is a Qt widget node (a viewer): shown when the graph starts."""
    return callable(getattr(cls, "show", None)) and qt_requirement(cls) is not None


def _process_info(proc) -> dict:
    with proc.oneshot():
        return {
            "pid": proc.pid,
            "state": "running",
            "cpu_percent": proc.cpu_percent(interval=None),
            "rss": proc.memory_info().rss,
        }


def check_host(spec: GraphSpec, group: str, address: str) -> None:
    """Raise a clear error, before anything starts, when a nodegroup's host server does not answer."""
    from ..core.rpc import RPCClient

    info = spec.nodegroups[group]
    try:
        client = RPCClient.get_client(address)
        client.ensure_connection(timeout=_HOST_TIMEOUT_S)
    except Exception as exc:
        raise spec.error(
            f"nodegroup {group!r}: the host {address} does not answer within {_HOST_TIMEOUT_S:g} s "
            f"({describe_error(exc)}); start it there with `lslacq host {address}` or fix the "
            "address",
            info,
        ) from None
