"""Checking a :class:`GraphSpec` against the node types before anything starts."""

from __future__ import annotations

import difflib
import re

from ..core import registry
from ..core.configargs import check_arguments
from ..core.params import Param
from .spec import MAIN_GROUP, Connection, GraphError, GraphErrors, GraphSpec, NodeSpec

__all__ = [
    "validate",
    "topological_order",
    "resolve_streams",
    "configure_problems",
    "params_problems",
    "by_channel_problems",
    "param_declarations",
    "window_problems",
]


def validate(spec: GraphSpec) -> list[str]:
    """Check node types, configure arguments (names, types, ranges), nodegroups, streams, sources and cycles.

    Every problem is found in one pass: a file with four mistakes gives four errors.

    Returns
    -------
    list of str
        The node names in data-flow order (sources first).

    Raises
    ------
    GraphError
        A :class:`~lslacq.graph.spec.GraphErrors` (a GraphError) listing every problem found, each with
        its file, line and fix, in file order.
    """
    problems: list[GraphError] = []
    classes: dict[str, type] = {}
    for node in spec.nodes.values():
        if node.nodegroup != MAIN_GROUP and node.nodegroup not in spec.nodegroups:
            known = ", ".join([MAIN_GROUP, *spec.nodegroups])
            problems.append(
                spec.error(
                    f"node {node.name!r}: nodegroup {node.nodegroup!r} is not defined (nodegroups: {known}); add "
                    f"[nodegroups.{node.nodegroup}] or fix the name",
                    node,
                    node.source.line_of(r"^\s*nodegroup\s*=", after=(node.line or 1) - 1) if node.source else None,
                )
            )
        try:
            cls = node_type(spec, node)
        except GraphError as exc:
            problems.append(exc)
            continue
        classes[node.name] = cls
        problems.extend(configure_problems(spec, node, cls))
        problems.extend(params_problems(spec, node, cls))
        problems.extend(by_channel_problems(spec, node, cls))
        problems.extend(window_problems(spec, node, cls))
    problems.extend(_stream_problems(spec, classes))
    targets: dict[tuple[str, str], Connection] = {}
    resolved = [c for c in spec.connections if c.output is not None and c.input is not None]
    for conn in resolved:
        key = (conn.target, conn.input)
        if key in targets:
            first = targets[key]
            problems.append(
                spec.error(
                    f"input {conn.target}.{conn.input} has two sources ({first.text!r} on line "
                    f"{first.line} and {conn.text!r}); an input reads one output: remove one, "
                    "or merge the streams in a node first",
                    conn,
                )
            )
        else:
            targets[key] = conn
    order: list[str] = []
    if not any(p.reason.startswith("connection ") for p in problems):  # a cycle needs every connection known
        try:
            order = topological_order(spec)
        except GraphError as exc:
            problems.append(exc)
    if problems:
        raise GraphErrors(problems)
    return order


def node_type(spec: GraphSpec, node: NodeSpec) -> type:
    """Return the node's class, or raise a GraphError with the closest known type names."""
    try:
        return registry.get_node_type(node.type)
    except ImportError as exc:  # a plugin type whose extra is not installed
        from .._extras import install_message

        message = install_message(node.type, exc)
        if message is None:
            raise
        line = node.source.line_of(r"^\s*type\s*=", after=(node.line or 1) - 1) if node.source else None
        raise spec.error(f"node {node.name!r}: {message}", node, line) from None
    except KeyError:
        known = registry.list_node_types()
        close = difflib.get_close_matches(node.type, known, n=3)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else f"known types: {', '.join(known)}"
        line = node.source.line_of(r"^\s*type\s*=", after=(node.line or 1) - 1) if node.source else None
        raise spec.error(
            f"node {node.name!r}: unknown node type {node.type!r}; {hint} (a plugin's types appear "
            "once its package is installed)",
            node,
            line,
        ) from None


def configure_problems(spec: GraphSpec, node: NodeSpec, cls: type) -> list[GraphError]:
    """Check the node's configure arguments as ``configure()`` checks them (:mod:`lslacq.core.configargs`).

    Unknown and missing names, and the types and ranges the node type declares.
    """
    found = []
    for problem in check_arguments(cls, node.configure):
        if problem.kind == "missing":
            found.append(
                spec.error(f"node {node.name!r}: {problem.message}; add them to [nodes.{node.name}] configure", node)
            )
        else:
            found.append(spec.error(f"node {node.name!r}: {problem.message}", node, node.line_of_key(problem.name)))
    return found


def param_declarations(cls: type) -> dict[tuple[str, ...], Param] | None:
    """Return the online parameters a node type declares, by key path (None: none a ``params`` table can set).

    A viewer's come from its defaults (``WidgetNode.param_declarations()``), a
    processing node's from its ``Param`` declarations (``ProcessingNode.param_declarations()``).
    """
    declared = getattr(cls, "param_declarations", None)
    found = dict(declared()) if callable(declared) else {}
    return found or None


def params_problems(spec: GraphSpec, node: NodeSpec, cls: type) -> list[GraphError]:
    """Check the node's ``params`` table: every key one the type declares, every value valid for it.

    Values are checked by the same :class:`~lslacq.core.params.Param` as ``node.params[key] = value``;
    limits a node sets from its input when initialized are checked when the graph applies the values.
    """
    if not node.params:
        return []
    declared = param_declarations(cls)
    if declared is None:
        first = next(iter(node.params))
        return [
            spec.error(
                f"node {node.name!r}: {node.type} has no online parameters for a params table to set; "
                "remove it (configure arguments go in configure)",
                node,
                node.line_of_param(first),
            )
        ]
    found = []
    for path, value in node.params.items():
        dotted = ".".join(path)
        decl = declared.get(path)
        if decl is None:
            known = [".".join(p) for p in declared]
            close = difflib.get_close_matches(dotted, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            found.append(
                spec.error(
                    f"node {node.name!r}: {node.type} has no parameter {dotted!r}; {hint}its "
                    f"params: {', '.join(known) or 'none'}",
                    node,
                    node.line_of_param(path),
                )
            )
            continue
        try:
            decl.validate(value)
        except (TypeError, ValueError) as exc:
            found.append(
                spec.error(f"node {node.name!r}: {param_message(exc, decl, path)}", node, node.line_of_param(path))
            )
    return found


def by_channel_problems(spec: GraphSpec, node: NodeSpec, cls: type) -> list[GraphError]:
    """Check the node's ``by_channel_params`` keys and values (the channels exist once the node is built)."""
    if not node.by_channel_params:
        return []
    declared = getattr(cls, "by_channel_param_declarations", None)
    declared = dict(declared()) if callable(declared) else {}
    if not declared:
        first = next(iter(node.by_channel_params))
        return [
            spec.error(
                f"node {node.name!r}: {node.type} has no per-channel parameters; remove by_channel_params",
                node,
                node.line_of_param(first, "by_channel_params"),
            )
        ]
    found = []
    for (channel, key), value in node.by_channel_params.items():
        decl = declared.get((key,))
        line = node.line_of_param((channel, key), "by_channel_params")
        if decl is None:
            known = [".".join(p) for p in declared]
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            found.append(
                spec.error(
                    f"node {node.name!r}: {node.type} has no per-channel parameter {key!r}; "
                    f"{hint}its per-channel params: {', '.join(known)}",
                    node,
                    line,
                )
            )
            continue
        try:
            decl.validate(value)
        except (TypeError, ValueError) as exc:
            message = param_message(exc, decl, (key,)).replace("params.", f"by_channel_params.{channel}.", 1)
            found.append(spec.error(f"node {node.name!r}: {message}", node, line))
    return found


def param_message(exc: Exception, decl: Param, path: tuple[str, ...]) -> str:
    """``exc``'s message (a Param's, naming ``params['<name>']``) naming the graph's ``params.a.b`` instead."""
    prefix, message = f"params[{decl.name!r}]", str(exc)
    if message.startswith(prefix):
        return f"params.{'.'.join(path)}{message[len(prefix) :]}"
    return message


def window_problems(spec: GraphSpec, node: NodeSpec, cls: type) -> list[GraphError]:
    """Check the node's ``window`` table: a viewer's, ``size`` two whole numbers >= 1."""
    if not node.window:
        return []
    line = (
        node.source.line_of(
            r"(^|[{,\s])window\s*=", rf"^\s*\[nodes\.{re.escape(node.name)}\.window\b", after=(node.line or 1) - 1
        )
        if node.source
        else None
    )
    if not callable(getattr(cls, "set_window_size", None)):
        return [
            spec.error(f"node {node.name!r}: {node.type} has no window (window is for viewers); remove it", node, line)
        ]
    size = node.window.get("size")
    if size is not None and not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)
    ):
        return [
            spec.error(
                f"node {node.name!r}: window size = {size!r} must be [width, height] in pixels, two "
                "whole numbers >= 1 (e.g. [1280, 800])",
                node,
                line,
            )
        ]
    return []


def _declared(cls: type, kind: str) -> tuple[list[str], bool]:
    """Stream names a node class declares, and whether configure() may make others (``_dynamic_streams``)."""
    return list(getattr(cls, f"_{kind}_specs", {}) or {}), bool(getattr(cls, "_dynamic_streams", False))


def resolve_streams(spec: GraphSpec) -> None:
    """Fill in omitted stream names (single-stream nodes) and check declared names exist.

    Raises
    ------
    GraphError
        The problems found (a :class:`~lslacq.graph.spec.GraphErrors` when there are several).
    """
    classes = {}
    for node in spec.nodes.values():
        try:
            classes[node.name] = registry.get_node_type(node.type)
        except KeyError:
            pass
    problems = _stream_problems(spec, classes)
    if problems:
        raise GraphErrors(problems)


def _stream_problems(spec: GraphSpec, classes: dict[str, type]) -> list[GraphError]:
    """Resolve every connection's stream names; return the problems.

    A connection to a node of unknown type is skipped: that node's error is reported already.
    """
    problems = []
    for conn in spec.connections:
        missing = [end for end in (conn.source, conn.target) if end not in spec.nodes]
        if missing:
            problems.append(
                spec.error(
                    f"connection {conn.text!r}: no node named {missing[0]!r} (nodes: {', '.join(spec.nodes)})", conn
                )
            )
            continue
        if conn.source not in classes or conn.target not in classes:
            continue
        for end, kind, attr in ((conn.source, "output", "output"), (conn.target, "input", "input")):
            try:
                _resolve_end(spec, conn, end, kind, attr, classes[end])
            except GraphError as exc:
                problems.append(exc)
    return problems


def _resolve_end(spec: GraphSpec, conn: Connection, end: str, kind: str, attr: str, cls: type) -> None:
    node = spec.nodes[end]
    declared, dynamic = _declared(cls, kind)
    name = getattr(conn, attr)
    if dynamic:
        # the names depend on configure(): a sole declared stream is the default configuration's
        # (ImageViewer's 'video'); anything else is checked when the graph is built
        if name is None:
            if len(declared) != 1:
                raise spec.error(
                    f"connection {conn.text!r}: name the {kind} of {end!r} ({node.type} "
                    f"makes its {kind}s when configured): write {end}.NAME",
                    conn,
                )
            setattr(conn, attr, declared[0])
        return
    if name is None:
        if len(declared) != 1:
            raise spec.error(
                f"connection {conn.text!r}: {end!r} ({node.type}) has {len(declared)} "
                f"{kind}s ({', '.join(declared) or 'none'}); write {end}.NAME",
                conn,
            )
        setattr(conn, attr, declared[0])
    elif name not in declared:
        close = difflib.get_close_matches(name, declared, n=1)
        hint = f"did you mean {end}.{close[0]}? " if close else ""
        raise spec.error(
            f"connection {conn.text!r}: {node.type} node {end!r} has no {kind} {name!r}; "
            f"{hint}its {kind}s: {', '.join(declared) or 'none'}",
            conn,
        )


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
        raise spec.error(
            f"the connections form a cycle: {' -> '.join(cycle)}; a graph must flow one way "
            "(remove one of these connections)",
            first,
        )
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
                return path[path.index(nxt) :] + [nxt]
            path.append(nxt)
            seen.add(nxt)
            node = nxt
    return candidates[:1] * 2
