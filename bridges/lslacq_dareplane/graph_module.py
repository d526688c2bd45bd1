"""Run an lslacq graph as a dareplane module.

A *graph factory* is a function that creates, configures and connects the
nodes of a graph and returns them (a list in data-flow order, a dict
``{name: node}`` or an object with a ``nodes`` attribute). Its keyword
arguments are the module's configuration::

    def build_graph(stream="EEG", band=(1.0, 40.0)):
        inlet = LslInlet(name="inlet")
        inlet.configure(name=stream)
        ...
        return [inlet, filt, outlet]

:class:`GraphModule` serves that graph with a :class:`DefaultServer` and
these primary commands:

``START``
    Build the graph (first time), initialize it and start every node (sinks
    first, so nothing produced is lost). Returns a supervisor
    ``(Thread, Event)``, so dareplane's built-in ``STOP`` stops the graph too.
``STOP_ACQ``
    Stop the nodes (sources first); ``START`` starts them again.
``CONFIGURE|{"key": value, ...}``
    Merge the keys into the configuration and rebuild the graph (restarted if
    it was running). Unknown keys get an error naming the factory's arguments;
    a factory with a ``validate(**config)`` attribute has it called first, so
    a bad value is refused without touching the running graph. A build that
    fails brings the previous configuration and its graph back.
``STATUS``
    Reply one JSON line: state, configuration, and per node its state,
    error and counters (the node contract: ``Node.error``,
    ``Node.counters()``).

Nodes may also be proxies of nodes living in a NodeGroup: the module only
calls ``initialize``, ``start``, ``stop``, ``close``, ``running``,
``initialized`` and ``counters`` on them and reads ``error``. A factory may return an object with ``nodes`` and a
``close()`` method (for example one holding the NodeGroup's process): it is
closed after the nodes, on rebuild and on CLOSE.

Launch it the way a dareplane control room launches modules::

    python -m lslacq_dareplane examples/dareplane_lsl_filter_module.py --port=8081 --ip=127.0.0.1
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .served import ServedModule
from .server import DefaultServer

__all__ = ["GraphModule", "load_factory", "GRAPH_PCOMMS"]

#: Primary commands a GraphModule adds to the built-in ones.
GRAPH_PCOMMS = ("START", "STOP_ACQ", "CONFIGURE", "STATUS")

#: what the module calls on a node (a local Node or a proxy of one)
_NODE_METHODS = ("initialize", "start", "stop", "close", "counters")


def _type_name(node: Any) -> str:
    """Class name of a node, or of the remote node behind an RPC proxy."""
    type_str = node.__dict__.get("_type_str") if hasattr(node, "__dict__") else None
    if isinstance(type_str, str) and type_str:
        return type_str.rsplit(".", 1)[-1].strip("'>")
    return type(node).__name__


def _describe_error(error: Any) -> str:
    """``"Type: message"`` for a local exception or a proxy to a remote one."""
    if hasattr(error, "_get_value"):  # an RPC proxy: fetch the exception's text remotely
        try:
            error = error._get_value()
        except Exception:
            try:
                return f"{_type_name(error)}: {error.args[0]!r}"
            except Exception:
                return f"{_type_name(error)} (remote)"
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    return str(error)


def load_factory(spec: str | Callable) -> Callable:
    """Resolve a graph factory.

    Parameters
    ----------
    spec : str or callable
        ``"package.module:function"``, ``"path/to/file.py:function"`` or
        ``"path/to/file.py"`` (which must define ``build_graph``), or a graph
        file ``"path/to/graph.toml"`` (see docs/graphs.md), whose parameters
        and ``NODE.KEY`` arguments are then the configuration keys.
    """
    if callable(spec):
        return spec
    if isinstance(spec, str) and spec.endswith(".toml"):
        return _graph_file_factory(spec)
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"graph must be 'module:function' or 'file.py[:function]', got {spec!r}")
    target, attr = spec, ""
    head, sep, tail = spec.rpartition(":")
    if sep and head and tail.isidentifier():
        target, attr = head, tail
    if target.endswith(".py") or Path(target).is_file():
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"graph file {str(path)!r} does not exist")
        mod_name = f"_lslacq_graph_{path.stem}_{abs(hash(str(path))) & 0xFFFFFF:x}"
        module = sys.modules.get(mod_name)
        if module is None:
            mod_spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[mod_name] = module
            try:
                mod_spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(mod_name, None)
                raise
    else:
        module = importlib.import_module(target)
    attr = attr or "build_graph"
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ValueError(
            f"graph {spec!r}: {module.__name__} has no callable {attr!r}; "
            "define build_graph(**config) returning the graph's nodes"
        )
    return factory


def _graph_file_factory(path: str) -> Callable:
    """Return the factory of a graph file (``lslacq run`` format).

    CONFIGURE keys are the graph file's parameters and ``NODE.KEY``.
    """
    from lslacq.graph import load_graph

    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise FileNotFoundError(f"graph file {str(resolved)!r} does not exist")

    def build_graph(**config):
        return load_graph(resolved, config)

    build_graph.__name__ = resolved.stem
    return build_graph


def _default_name(spec, factory: Callable) -> str:
    """Return the module name when none is given: the graph file's stem, else the factory's (or its module's) name."""
    if isinstance(spec, str):
        target = spec
        head, sep, tail = spec.rpartition(":")
        if sep and head and tail.isidentifier():
            target = head
        if target.endswith(".py") or Path(target).is_file():
            return Path(target).stem
        if tail and tail != "build_graph" and sep:
            return tail
        return target.rsplit(".", 1)[-1]
    fname = getattr(factory, "__name__", "")
    if fname and fname != "build_graph":
        return fname
    return str(getattr(factory, "__module__", "") or "lslacq_graph").rsplit(".", 1)[-1]


def _as_nodes(result: Any, factory: Callable) -> dict[str, Any]:
    """Normalize a factory's return value to an ordered ``{name: node}`` dict."""
    if hasattr(result, "nodes") and not isinstance(result, (dict, list, tuple)):
        result = result.nodes
    if isinstance(result, dict):
        nodes = dict(result)
    elif isinstance(result, (list, tuple)):
        nodes = {}
        for i, node in enumerate(result):
            name = getattr(node, "name", None) or f"node{i}"
            if name in nodes:
                name = f"{name}_{i}"
            nodes[name] = node
    else:
        raise TypeError(
            f"graph factory {getattr(factory, '__name__', factory)!r} returned {type(result).__name__}; "
            "return the nodes as a list (data-flow order) or a dict {name: node}"
        )
    for name, node in nodes.items():
        missing = [m for m in _NODE_METHODS if not callable(getattr(node, m, None))]
        if missing:
            raise TypeError(
                f"graph node {name!r} ({node!r}) is not a Node: it has no {missing}; build it on "
                "lslacq.core.Node (which provides them, and error/failed/counters())"
            )
    if not nodes:
        raise ValueError(f"graph factory {getattr(factory, '__name__', factory)!r} returned no nodes")
    return nodes


def _call_state(node: Any, method: str) -> bool | None:
    try:
        return bool(getattr(node, method)())
    except Exception:
        return None


class GraphModule(ServedModule):
    """Serve a graph built by ``factory`` as a dareplane module.

    Parameters
    ----------
    factory : callable or str
        Graph factory (see the module docstring) or a spec for :func:`load_factory`.
    name : str, optional
        Module name (banner); default: the factory's name.
    config : dict, optional
        Initial keyword arguments of the factory.
    port, ip : int, str
        Where the module server listens (default 8080 on 127.0.0.1).
    extra_pcommands : dict, optional
        More primary commands for the server.
    build_now : bool
        Build the graph immediately instead of at the first START/CONFIGURE.
    supervise_interval_s : float
        How often the supervisor checks the nodes for failures.
    server_kwargs
        Passed to :class:`DefaultServer`.
    """

    def __init__(
        self,
        factory: Callable | str,
        name: str | None = None,
        config: dict | None = None,
        *,
        port: int = 8080,
        ip: str = "127.0.0.1",
        extra_pcommands: dict | None = None,
        build_now: bool = False,
        supervise_interval_s: float = 0.25,
        logger: logging.Logger | None = None,
        **server_kwargs,
    ):
        self.factory = load_factory(factory)
        self.name = name or _default_name(factory, self.factory)
        self.logger = logger or logging.getLogger("lslacq_dareplane.graph")
        self.config: dict = {}
        self._check_config(dict(config or {}))
        self.config = dict(config or {})
        self.nodes: dict[str, Any] | None = None
        self._owner_close: Callable[[], Any] | None = None
        self.failures: list[str] = []
        self.supervise_interval_s = float(supervise_interval_s)
        self._lock = threading.RLock()
        self._failures_lock = threading.Lock()
        self._supervisor: tuple[threading.Thread, threading.Event] | None = None
        pcommands = {"START": self.start, "STOP_ACQ": self.stop_acq, "CONFIGURE": self.configure, "STATUS": self.status}
        for key in extra_pcommands or {}:
            if key in pcommands:
                raise ValueError(f"extra primary command {key!r} clashes with a GraphModule command")
        pcommands.update(extra_pcommands or {})
        self.server = DefaultServer(port, ip=ip, name=self.name, pcommand_map=pcommands, logger=logger, **server_kwargs)
        if build_now:
            self.build()

    # ----------------------------------------------------------------- graph
    def _check_config(self, config: dict) -> None:
        try:
            sig = inspect.signature(self.factory)
        except (TypeError, ValueError):
            return
        try:
            sig.bind(**config)
        except TypeError as exc:
            raise TypeError(
                f"bad configuration for graph {self.name!r}: {exc}; "
                f"the graph takes {getattr(self.factory, '__name__', 'factory')}{sig}"
            ) from None

    @property
    def state(self) -> str:
        """``'not built'``, ``'built'``, ``'running'`` or ``'stopped'``."""
        with self._lock:
            if self.nodes is None:
                return "not built"
            states = [_call_state(n, "running") for n in self.nodes.values()]
            if any(states):
                return "running"
            inits = [_call_state(n, "initialized") for n in self.nodes.values()]
            return "stopped" if any(inits) else "built"

    def build(self) -> dict[str, Any]:
        """Close the current graph (if any) and build a new one from ``config``."""
        with self._lock:
            self._close_graph()
            self.logger.info("graph %r: building with %s", self.name, self.config)
            result = self.factory(**self.config)
            nodes = _as_nodes(result, self.factory)
            # an object with ``nodes`` and ``close()`` owns them (e.g. a NodeGroup and its process)
            owner_close = getattr(result, "close", None) if hasattr(result, "nodes") else None
            self._owner_close = owner_close if callable(owner_close) else None
            self.nodes = nodes
            self.failures = []
            return nodes

    def _close_graph(self) -> None:
        self._stop_supervisor()
        if self.nodes is None:
            return
        for name, node in self.nodes.items():
            try:
                node.close()
            except Exception:
                self.logger.exception("graph %r: closing node %r failed", self.name, name)
        self.nodes = None
        owner_close, self._owner_close = self._owner_close, None
        if owner_close is not None:
            try:
                owner_close()
            except Exception:
                self.logger.exception("graph %r: closing the graph's owner failed", self.name)

    # -------------------------------------------------------------- commands
    def start(self):
        """START: build if needed, initialize and start every node; return the supervisor pair."""
        with self._lock:
            if self._supervisor is not None and self._supervisor[0].is_alive():
                self.logger.info("graph %r is already running", self.name)
                return 0
            nodes = self.nodes if self.nodes is not None else self.build()
            for node in nodes.values():
                if not _call_state(node, "initialized"):
                    node.initialize()
            started = []
            try:
                for node in reversed(list(nodes.values())):  # sinks first
                    if not _call_state(node, "running"):
                        node.start()
                        started.append(node)
            except Exception:
                for node in started:
                    try:
                        node.stop()
                    except Exception:
                        self.logger.exception("graph %r: stopping %r after a failed start", self.name, node)
                raise
            stop_event = threading.Event()
            thread = threading.Thread(
                target=self._supervise, args=(nodes, stop_event), name=f"{self.name}-supervisor", daemon=True
            )
            thread.start()
            self._supervisor = (thread, stop_event)
            self.logger.info("graph %r started (%d nodes)", self.name, len(nodes))
            return thread, stop_event

    def _supervise(self, nodes: dict[str, Any], stop_event: threading.Event) -> None:
        """Watch the nodes for failures until stopped, then stop the nodes (sources first)."""
        while not stop_event.wait(self.supervise_interval_s):
            self._check_failures(nodes)
        self._check_failures(nodes)
        for name, node in nodes.items():
            try:
                if _call_state(node, "running"):
                    node.stop()
            except Exception:
                self.logger.exception("graph %r: stopping node %r failed", self.name, name)
        self.logger.info("graph %r stopped", self.name)

    def _check_failures(self, nodes: dict[str, Any]) -> None:
        """Record (and log once) every node whose :attr:`Node.error` is set."""
        for name, node in nodes.items():
            try:
                error = node.error
            except Exception as exc:  # a proxy whose process died
                error = exc
            if error is None:
                continue
            msg = f"node {name!r} failed: {_describe_error(error)}"
            with self._failures_lock:
                if msg in self.failures:
                    continue
                self.failures.append(msg)
            self.logger.error("graph %r: %s", self.name, msg)

    def _stop_supervisor(self) -> None:
        sup, self._supervisor = self._supervisor, None
        if sup is None:
            return
        thread, event = sup
        event.set()
        if thread is not threading.current_thread():
            thread.join(30)
            if thread.is_alive():
                self.logger.error("graph %r: nodes did not stop within 30 s", self.name)

    def stop_acq(self) -> int:
        """STOP_ACQ: stop every node (sources first); START starts them again."""
        with self._lock:
            self._stop_supervisor()
        return 0

    def _validate(self, config: dict) -> None:
        """Run the factory's own check (``factory.validate(**config)``, if it has one) before anything is torn down."""
        validate = getattr(self.factory, "validate", None)
        if callable(validate):
            validate(**config)

    def configure(self, **kwargs):
        """CONFIGURE: merge ``kwargs`` into the configuration and rebuild the graph.

        A configuration that the factory's signature or its ``validate``
        function rejects leaves everything as it was (the running graph is
        not touched). One that fails only while the new graph is built
        (after the old one was closed) brings the previous configuration
        back: its graph is rebuilt, and restarted if it was running. Either
        way the error is raised (the client gets it as an ERROR line) and
        ``config`` is the previous one.
        """
        with self._lock:
            new = {**self.config, **kwargs}
            self._check_config(new)
            self._validate(new)
            previous, was_built = self.config, self.nodes is not None
            was_running = self.state == "running"
            self._stop_supervisor()
            self._close_graph()
            self.config = new
            try:
                self.build()
            except Exception as exc:
                self.config = previous
                self._close_graph()
                if was_built:
                    self.logger.error(
                        "graph %r: the new configuration failed (%s: %s); rebuilding the previous one (%s)",
                        self.name,
                        type(exc).__name__,
                        exc,
                        previous,
                    )
                    try:
                        self.build()
                        if was_running:
                            self.start()
                    except Exception:
                        self.logger.exception(
                            "graph %r: the previous configuration could not be rebuilt either", self.name
                        )
                raise
            if was_running:
                return self.start()
            return 0

    def status_dict(self) -> dict:
        """Return the STATUS reply as a dict."""
        with self._lock:
            self._check_failures(self.nodes or {})
            nodes = {}
            for name, node in (self.nodes or {}).items():
                info: dict[str, Any] = {"type": _type_name(node)}
                info["running"] = _call_state(node, "running")
                info["initialized"] = _call_state(node, "initialized")
                try:
                    error = node.error
                    info["counters"] = node.counters()
                except Exception as exc:  # a proxy whose process died
                    error = exc
                    info.setdefault("counters", None)
                info["error"] = None if error is None else _describe_error(error)
                nodes[name] = info
            return {
                "module": self.name,
                "state": self.state,
                "config": self.config,
                "nodes": nodes,
                "failures": list(self.failures),
            }

    def _finish(self) -> None:
        """After the server: stop and close the graph."""
        with self._lock:
            self._close_graph()
