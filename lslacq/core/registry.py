"""Registry of Node types that NodeGroups can build by name.

Two sources feed it: :func:`register_node_type` (runtime registration, as in
pyacq) and the ``lslacq.nodes`` entry point group, through which plugin
packages (including lslacq's own bridges) declare node types without being
imported until a node of that type is requested.
"""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import entry_points

__all__ = ["register_node_type", "get_node_type", "list_node_types", "register_node_type_from_module"]

ENTRY_POINT_GROUP = "lslacq.nodes"

_lock = threading.Lock()
_registered: dict[str, type] = {}


def register_node_type(node_class: type, classname: str | None = None) -> type:
    """Register a Node subclass so it can be created by name.

    Parameters
    ----------
    node_class : type
        A subclass of :class:`lslacq.core.Node`.
    classname : str, optional
        Name to register under (default: ``node_class.__name__``).

    Returns
    -------
    type
        ``node_class``, so the function can be used as a class decorator.
    """
    from .node import Node

    if not (isinstance(node_class, type) and issubclass(node_class, Node)):
        raise TypeError(f"register_node_type expects a Node subclass, got {node_class!r}")
    with _lock:
        _registered[classname or node_class.__name__] = node_class
    return node_class


def register_node_type_from_module(modname: str, classname: str) -> type:
    """Import ``modname`` and register its Node subclass ``classname``."""
    module = importlib.import_module(modname)
    try:
        cls = getattr(module, classname)
    except AttributeError:
        raise ValueError(f"module {modname!r} has no attribute {classname!r}") from None
    return register_node_type(cls, classname)


def _entry_points() -> dict:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def list_node_types() -> list[str]:
    """Return the sorted names of every known node type (registered or plugin)."""
    with _lock:
        names = set(_registered)
    names.update(_entry_points())
    return sorted(names)


def get_node_type(name: str) -> type:
    """Return the Node class registered as ``name``, loading a plugin if needed.

    Raises
    ------
    KeyError
        If no registered class or entry point has that name; the message lists
        the known names.
    """
    with _lock:
        cls = _registered.get(name)
    if cls is not None:
        return cls
    ep = _entry_points().get(name)
    if ep is None:
        raise KeyError(
            f"unknown node type {name!r}; known types: {', '.join(list_node_types())}. "
            "Register it with register_node_type() or nodegroup.register_node_type_from_module()."
        )
    cls = ep.load()
    with _lock:
        _registered.setdefault(name, cls)
    return cls
