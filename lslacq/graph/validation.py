"""Checking a :class:`GraphSpec` against the node types before anything starts."""

from __future__ import annotations

import difflib
import inspect

from ..core import registry
from .spec import MAIN_GROUP, Connection, GraphSpec, NodeSpec

__all__ = ["validate", "topological_order", "resolve_streams"]


def validate(spec: GraphSpec) -> list[str]:
    """Check node types, configure arguments, nodegroups, streams, sources and cycles.

    Returns
    -------
    list of str
        The node names in data-flow order (sources first).

    Raises
    ------
    GraphError
        The first problem found, with its file, line and fix.
    """
    for node in spec.nodes.values():
        if node.nodegroup != MAIN_GROUP and node.nodegroup not in spec.nodegroups:
            known = ", ".join([MAIN_GROUP, *spec.nodegroups])
            raise spec.error(f"node {node.name!r}: nodegroup {node.nodegroup!r} is not defined (nodegroups: "
                             f"{known}); add [nodegroups.{node.nodegroup}] or fix the name", node,
                             node.source.line_of(r"^\s*nodegroup\s*=", after=(node.line or 1) - 1) if node.source
                             else None)
        cls = node_type(spec, node)
        _check_configure_arguments(spec, node, cls)
    resolve_streams(spec)
    targets: dict[tuple[str, str], Connection] = {}
    for conn in spec.connections:
        key = (conn.target, conn.input)
        if key in targets:
            first = targets[key]
            raise spec.error(f"input {conn.target}.{conn.input} has two sources ({first.text!r} on line "
                             f"{first.line} and {conn.text!r}); an input reads one output: remove one, or "
                             "merge the streams in a node first", conn)
        targets[key] = conn
    return topological_order(spec)


def node_type(spec: GraphSpec, node: NodeSpec) -> type:
    """The node's class, or a GraphError with the closest known type names."""
    try:
        return registry.get_node_type(node.type)
    except KeyError:
        known = registry.list_node_types()
        close = difflib.get_close_matches(node.type, known, n=3)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else \
            f"known types: {', '.join(known)}"
        line = node.source.line_of(r"^\s*type\s*=", after=(node.line or 1) - 1) if node.source else None
        raise spec.error(f"node {node.name!r}: unknown node type {node.type!r}; {hint} (a plugin's types appear "
                         "once its package is installed)", node, line) from None


def _check_configure_arguments(spec: GraphSpec, node: NodeSpec, cls: type) -> None:
    try:
        signature = inspect.signature(cls._configure)
    except (TypeError, ValueError, AttributeError):
        return
    params = [p for name, p in signature.parameters.items() if name != "self"]
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return  # the node takes any keyword: nothing to check here
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in node.configure:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise spec.error(f"node {node.name!r}: {node.type}.configure() has no argument {key!r}; {hint}"
                             f"its arguments: {', '.join(names) or 'none'}", node, node.line_of_key(key))
    missing = [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               and p.name not in node.configure]
    if missing:
        raise spec.error(f"node {node.name!r}: {node.type}.configure() needs {', '.join(missing)}; add them to "
                         f"[nodes.{node.name}] configure", node)


def _declared(cls: type, kind: str) -> tuple[list[str], bool]:
    """Stream names a node class declares, and whether configure() may make others (``_dynamic_streams``)."""
    return list(getattr(cls, f"_{kind}_specs", {}) or {}), bool(getattr(cls, "_dynamic_streams", False))


def resolve_streams(spec: GraphSpec) -> None:
    """Fill in omitted stream names (single-stream nodes) and check declared names exist."""
    for conn in spec.connections:
        for end in (conn.source, conn.target):
            if end not in spec.nodes:
                raise spec.error(f"connection {conn.text!r}: no node named {end!r} (nodes: "
                                 f"{', '.join(spec.nodes)})", conn)
        for end, kind, attr in ((conn.source, "output", "output"), (conn.target, "input", "input")):
            node = spec.nodes[end]
            declared, dynamic = _declared(registry.get_node_type(node.type), kind)
            name = getattr(conn, attr)
            if dynamic:
                # the names depend on configure(): a sole declared stream is the default configuration's
                # (ImageViewer's 'video'); anything else is checked when the graph is built
                if name is None:
                    if len(declared) != 1:
                        raise spec.error(f"connection {conn.text!r}: name the {kind} of {end!r} ({node.type} "
                                         f"makes its {kind}s when configured): write {end}.NAME", conn)
                    setattr(conn, attr, declared[0])
                continue
            if name is None:
                if len(declared) != 1:
                    raise spec.error(f"connection {conn.text!r}: {end!r} ({node.type}) has {len(declared)} "
                                     f"{kind}s ({', '.join(declared) or 'none'}); write {end}.NAME", conn)
                setattr(conn, attr, declared[0])
            elif name not in declared:
                close = difflib.get_close_matches(name, declared, n=1)
                hint = f"did you mean {end}.{close[0]}? " if close else ""
                raise spec.error(f"connection {conn.text!r}: {node.type} node {end!r} has no {kind} {name!r}; "
                                 f"{hint}its {kind}s: {', '.join(declared) or 'none'}", conn)


def topological_order(spec: GraphSpec) -> list[str]:
    """Node names with every source before its readers; a GraphError names a cycle."""
    readers: dict[str, list[str]] = {name: [] for name in spec.nodes}
    n_sources = {name: 0 for name in spec.nodes}
    for conn in spec.connections:
        readers[conn.source].append(conn.target)
        n_sources[conn.target] += 1
    order = [name for name, n in n_sources.items() if n == 0]
    for name in order:
        for reader in readers[name]:
            n_sources[reader] -= 1
            if n_sources[reader] == 0:
                order.append(reader)
    if len(order) < len(spec.nodes):
        cycle = _find_cycle(readers, [n for n in spec.nodes if n not in order])
        first = next(c for c in spec.connections if c.source == cycle[0] and c.target == cycle[1])
        raise spec.error(f"the connections form a cycle: {' -> '.join(cycle)}; a graph must flow one way "
                         "(remove one of these connections)", first)
    return order


def _find_cycle(readers: dict[str, list[str]], candidates: list[str]) -> list[str]:
    for start in candidates:
        path = [start]
        seen = {start}
        node = start
        while True:
            nxt = next((r for r in readers[node] if r in candidates), None)
            if nxt is None:
                break
            if nxt in seen:
                return path[path.index(nxt):] + [nxt]
            path.append(nxt)
            seen.add(nxt)
            node = nxt
    return candidates[:1] * 2
