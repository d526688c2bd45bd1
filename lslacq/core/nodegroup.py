"""NodeGroup: the Nodes living in one process."""

from __future__ import annotations

import logging
import sys
import types
from typing import Any

from . import registry

__all__ = ["NodeGroup"]

logger = logging.getLogger(__name__)


_QT_BINDINGS = ("PySide6", "PyQt6", "PyQt5", "PySide2")


def _qt_binding_of(obj) -> str | None:
    """Return the Qt binding ``obj`` (a module, class or function) comes from, if any."""
    name = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None)
    if not isinstance(name, str):
        return None
    root = name.split(".")[0]
    if root == "pyqtgraph" and (name == "pyqtgraph.Qt" or name.startswith("pyqtgraph.Qt.")):
        return getattr(sys.modules.get("pyqtgraph.Qt"), "QT_LIB", None) or _QT_BINDINGS[0]  # pyqtgraph's Qt shim
    return root if root in _QT_BINDINGS else None


def qt_requirement(cls: type) -> tuple[str, str] | None:
    """Why ``cls`` needs a Qt application in its process: ``(binding, reason)``, or None.

    A node needs one if it is a Qt object (a widget node), or if its module
    uses Qt (pyacq-style nodes paced by a ``QTimer``, whose timers never
    fire without an event loop). A class sets ``_needs_qt = True/False`` to
    say so explicitly.
    """
    explicit = getattr(cls, "_needs_qt", None)
    for klass in cls.__mro__:
        binding = _qt_binding_of(klass)
        if binding:
            return binding, f"it is a Qt object ({klass.__name__})"
    if explicit is False:
        return None
    for klass in cls.__mro__:
        module = sys.modules.get(klass.__module__)
        if module is None or klass.__module__.split(".")[0] == "lslacq":
            continue
        for attr, value in vars(module).items():
            if isinstance(value, (types.ModuleType, type)) or callable(value):
                binding = _qt_binding_of(value)
                if binding:
                    return binding, (
                        f"its module {klass.__module__!r} uses Qt ({attr}): QTimers and queued "
                        "signals need a Qt event loop"
                    )
    if explicit:
        return _QT_BINDINGS[0], "it declares _needs_qt = True"
    return None


def _check_qt_available(cls: type, group_name) -> None:
    """Refuse to build a node that needs Qt in a process without a Qt application.

    Without one, Qt would abort the process (widgets) or the node would
    silently send nothing (QTimer-paced nodes).
    """
    need = qt_requirement(cls)
    if need is None:
        return
    binding, reason = need
    app = None
    for name in (binding, *_QT_BINDINGS):
        core = sys.modules.get(f"{name}.QtCore")
        if core is not None and core.QCoreApplication.instance() is not None:
            app = core.QCoreApplication.instance()
            break
    widgets = sys.modules.get(f"{binding}.QtWidgets")
    needs_widgets = any(_qt_binding_of(k) for k in cls.__mro__)
    if app is not None and (not needs_widgets or (widgets is not None and isinstance(app, widgets.QApplication))):
        return
    raise RuntimeError(
        f"NodeGroup {group_name or ''}: {cls.__name__} needs Qt ({reason}) but this process runs no "
        "QApplication; create the nodegroup with qt=True (manager.create_nodegroup(..., qt=True))"
    )


def _check_constructor_arguments(cls: type, kwds: dict, group_name) -> None:
    """Refuse keyword arguments no constructor of ``cls`` takes.

    Node.__init__ ignores extra ones for pyacq's sake: ``create_node('NumpyDeviceBuffer', nam='x')`` made a
    node named 'NumpyDeviceBuffer'.
    """
    import difflib
    import inspect

    from .node import Node

    if not kwds or not (isinstance(cls, type) and issubclass(cls, Node)):
        return
    accepted: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or not issubclass(klass, Node):
            continue
        try:
            params = list(inspect.signature(init).parameters.values())[1:]
        except (TypeError, ValueError):
            return
        accepted += [
            p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in accepted
        ]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return  # this constructor takes no other keyword: Python names a wrong one itself
    unknown = [key for key in kwds if key not in accepted]
    if unknown:
        close = difflib.get_close_matches(unknown[0], accepted, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(
            f"NodeGroup {group_name or ''}: {cls.__name__}() got unexpected keyword arguments "
            f"{unknown}{hint}; it takes {', '.join(accepted)}; configure arguments go to "
            "node.configure(...)"
        )


def describe_error(exc: BaseException | None) -> str | None:
    """``'TypeName: message'`` for a node's error (None when healthy): how status tables show it."""
    if exc is None:
        return None
    remote_type = getattr(exc, "remote_type", None)  # a RemoteCallError: the remote error, not its traceback
    if remote_type is not None:
        return f"{remote_type}: {getattr(exc, 'remote_message', exc)}"
    return f"{type(exc).__name__}: {exc}"


def node_health(node) -> dict:
    """One node's entry of :meth:`NodeGroup.health` (plain values).

    ``{'type', 'state', 'error', 'counters', 'readers'}``: ``readers`` maps
    each configured output to :meth:`OutputStream.readers` (every reader's
    lag and losses).
    """
    try:
        counters = node.counters()
    except Exception as exc:  # a node's override must not hide the other nodes' health
        logger.exception("node %r: counters() failed", getattr(node, "name", node))
        counters = {"error": describe_error(exc)}
    readers = {}
    for name, out in list(node.outputs.items()):
        if out.configured:
            try:
                readers[name] = out.readers()
            except Exception as exc:  # closed under us: report, do not fail the whole health call
                readers[name] = describe_error(exc)
    return {
        "type": type(node).__name__,
        "state": _node_state(node),
        "error": describe_error(node.error),
        "counters": counters,
        "readers": readers,
    }


def _node_state(node) -> str:
    if node.closed():
        return "closed"
    if node.running():
        return "running"
    if node.initialized():
        return "initialized"
    if node.configured():
        return "configured"
    return "created"


class NodeGroup:
    """Manage a collection of Nodes within a single process.

    NodeGroups are created by a :class:`~lslacq.core.host.Host` (usually
    through ``Manager.create_nodegroup``), each in its own process; clients
    hold a proxy to it.

    Parameters
    ----------
    host : Host or proxy, optional
        The Host that spawned this group's process.
    manager : Manager or proxy, optional
        The Manager this group belongs to.
    name : str, optional
        Name of the group (and of its process in log records).
    """

    def __init__(self, host: Any = None, manager: Any = None, name: str | None = None):
        self.host = host
        self.manager = manager
        self.name = name
        self.nodes: dict[str, Any] = {}
        self._process: Any = None  # psutil.Process, kept: its cpu_percent() covers the time since the last call

    def __repr__(self) -> str:
        return f"<NodeGroup {self.name or ''} with {len(self.nodes)} node(s)>"

    def create_node(self, node_class, *args, **kwds):
        """Create a new Node and add it to this group; return it.

        Parameters
        ----------
        node_class : str or type
            A Node subclass, or the name of a registered node type (see
            :meth:`list_node_types`; plugin types from the ``lslacq.nodes``
            entry point group are loaded on demand).
        *args, **kwds
            Passed to the Node constructor (e.g. ``name='dev0'``).
        """
        if isinstance(node_class, str):
            try:
                cls = registry.get_node_type(node_class)
            except KeyError as exc:
                raise KeyError(f"NodeGroup {self.name or ''}: {exc.args[0]}") from None
        elif isinstance(node_class, type):
            cls = node_class
        else:
            raise TypeError(f"create_node expects a node type name or a Node subclass, got {node_class!r}")
        _check_qt_available(cls, self.name)
        _check_constructor_arguments(cls, kwds, self.name)
        node = cls(*args, **kwds)
        self.add_node(node)
        return node

    def _key(self, node) -> str:
        return f"{getattr(node, 'name', '') or type(node).__name__}#{id(node):x}"

    def add_node(self, node) -> None:
        """Add an existing Node (created in this process) to the group."""
        self.nodes[self._key(node)] = node

    def remove_node(self, node) -> None:
        """Stop (if running), close and remove ``node`` from the group."""
        key = self._key(node)
        if key not in self.nodes:
            raise KeyError(f"NodeGroup {self.name or ''} has no node {node!r}; nodes: {self.list_nodes()}")
        if node.running():
            node.stop()
        if not node.closed():
            node.close()
        del self.nodes[key]

    def list_nodes(self) -> list:
        """Return the nodes of this group."""
        return list(self.nodes.values())

    def register_node_type_from_module(self, modname: str, classname: str) -> None:
        """Import ``modname`` in this process and register its Node subclass ``classname``."""
        registry.register_node_type_from_module(modname, classname)

    def list_node_types(self) -> list[str]:
        """Return the names of every node type this group can create (registered and plugins)."""
        return registry.list_node_types()

    def start_all_nodes(self) -> None:
        """Start every initialized, stopped node of the group."""
        for node in self.nodes.values():
            if node.initialized() and not node.running() and not node.closed():
                node.start()

    def stop_all_nodes(self) -> None:
        """Stop every running node of the group."""
        for node in self.nodes.values():
            if node.running():
                node.stop()

    def any_node_running(self) -> bool:
        """Return True if any node of the group is running."""
        return any(node.running() for node in self.nodes.values())

    def health(self) -> dict:
        """Return the process's health: pid, uptime, CPU %, memory, thread count and each node's health.

        ``cpu_percent`` is the process's CPU use since the previous call (0.0 on the first).

        ``info['nodes']`` maps each node's name (``'dev'``; a second node of the same name in the group
        is ``'dev#2'``) to ``{'type', 'state', 'error',
        'counters', 'readers'}``: ``error`` is ``'TypeName: message'`` of
        :attr:`Node.error` (None while healthy), ``counters`` is
        :meth:`Node.counters` and ``readers`` maps each configured output to
        its readers' lag and losses (:meth:`OutputStream.readers`).
        """
        import os
        import time

        import psutil

        if self._process is None or self._process.pid != os.getpid():
            self._process = psutil.Process(os.getpid())
        proc = self._process
        with proc.oneshot():
            info = {
                "name": self.name,
                "pid": proc.pid,
                "uptime": time.time() - proc.create_time(),
                "cpu_percent": proc.cpu_percent(interval=None),
                "rss": proc.memory_info().rss,
                "threads": proc.num_threads(),
            }
        info["nodes"] = {}
        for node in list(self.nodes.values()):
            key = name = getattr(node, "name", "") or type(node).__name__
            n = 1
            while key in info["nodes"]:
                n += 1
                key = f"{name}#{n}"
            info["nodes"][key] = node_health(node)
        return info

    def close(self) -> None:
        """Stop and close every node (errors are logged, all nodes are attempted)."""
        for key, node in list(self.nodes.items()):
            try:
                if node.running():
                    node.stop()
                if not node.closed():
                    node.close()
            except Exception:
                logger.exception("NodeGroup %s: closing node %s failed", self.name, key)
        self.nodes.clear()
