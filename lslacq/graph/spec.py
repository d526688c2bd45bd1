"""Reading a graph file: TOML, includes, parameters and overrides -> :class:`GraphSpec`.

A graph file describes nodegroups (processes, hosts), nodes and their
connections; see docs/graphs.md for the format. This module only reads and
resolves the file; :mod:`lslacq.graph.validation` checks it against the node
types and :mod:`lslacq.graph.graph` builds it.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GraphError, GraphErrors, raise_all
from .schema import check_structure

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "GraphError",
    "GraphErrors",
    "GraphSpec",
    "NodeSpec",
    "NodeGroupSpec",
    "Connection",
    "read_graph",
    "parse_override",
    "flatten_params",
    "MAIN_GROUP",
]

#: The nodegroup of nodes that name none: the process that runs the graph.
MAIN_GROUP = "main"

_PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENDPOINT = re.compile(r"^\s*([A-Za-z_][\w-]*)(?:\.([A-Za-z_]\w*))?\s*$")


@dataclass
class Source:
    """Where an entry was written (for error messages)."""

    path: Path
    text: str

    def line_of(self, *patterns: str, after: int = 0) -> int | None:
        """1-based line of the first line (after line ``after``) matching any regex pattern."""
        for number, line in enumerate(self.text.splitlines(), 1):
            if number > after and any(re.search(p, line) for p in patterns):
                return number
        return None


@dataclass
class NodeGroupSpec:
    """A process for nodes: ``host`` None is a process on this machine."""

    name: str
    host: str | None = None
    qt: bool = False
    source: Source | None = None
    line: int | None = None


@dataclass
class NodeSpec:
    """One node of the file: its type, nodegroup, configure arguments, output options, online params, window.

    ``params`` holds the ``params`` table flattened to key paths
    (``{("xsize",): 5.0, ("timefreq", "f_stop"): 40.0}``), set with
    ``node.params[key] = value`` once every node is initialized;
    ``by_channel_params`` a viewer's per-channel values by ``(channel, key)``
    (``{("Fp1", "gain"): 2.0}``), set with ``node.by_channel_params[channel, key]``
    after ``params``; ``window`` the ``window`` table (``{"size": [1280, 800]}``).
    """

    name: str
    type: str
    nodegroup: str = MAIN_GROUP
    configure: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    params: dict[tuple[str, ...], Any] = field(default_factory=dict)
    by_channel_params: dict[tuple[str, str], Any] = field(default_factory=dict)
    window: dict[str, Any] = field(default_factory=dict)
    source: Source | None = None
    line: int | None = None

    def line_of_key(self, key: str) -> int | None:
        """Line of ``key = ...`` in this node's configure table (or the node's line)."""
        if self.source is None:
            return self.line
        found = self.source.line_of(rf"(^|[{{,\s]){re.escape(key)}\s*=", after=(self.line or 1) - 1)
        return found or self.line

    def line_of_param(self, path: tuple[str, ...], table: str = "params") -> int | None:
        """Line of the ``table`` entry ``path`` (its last key after the node's ``table``), else the node's."""
        if self.source is None:
            return self.line
        start = self.source.line_of(
            rf"(^|[{{,\s]){table}\s*=", rf"^\s*\[nodes\.{re.escape(self.name)}\.{table}\b", after=(self.line or 1) - 1
        )
        found = self.source.line_of(
            rf"(^|[{{,\s\"']){re.escape(path[-1])}[\"']?\s*=", after=(start or self.line or 1) - 1
        )
        return found or start or self.line


@dataclass
class Connection:
    """``source_node.output -> target_node.input`` (a missing stream name means the node's only one)."""

    source: str
    output: str | None
    target: str
    input: str | None
    text: str
    origin: Source | None = None
    line: int | None = None

    def __str__(self) -> str:
        return self.text


@dataclass
class GraphSpec:
    """A resolved graph file (includes merged, parameters substituted, overrides applied)."""

    path: Path
    title: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    nodegroups: dict[str, NodeGroupSpec] = field(default_factory=dict)
    nodes: dict[str, NodeSpec] = field(default_factory=dict)
    connections: list[Connection] = field(default_factory=list)

    def error(
        self, message: str, where: NodeSpec | NodeGroupSpec | Connection | None = None, line: int | None = None
    ) -> GraphError:
        """Make a :class:`GraphError` located at ``where`` (the file it came from and its line)."""
        source = where.origin if isinstance(where, Connection) else getattr(where, "source", None)
        path = source.path if source is not None else self.path
        return GraphError(message, path, line if line is not None else getattr(where, "line", None))


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``'key=value'`` into ``(key, value)``.

    The value is read as TOML (``40``, ``"a"``, ``[1, 2]``), else kept as a string (``name=EEG``).
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise GraphError(f"--set {text!r}: write NAME=VALUE (a parameter) or NODE.KEY=VALUE (a configure argument)")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key, value


def read_graph(path: str | Path, overrides: dict[str, Any] | None = None) -> GraphSpec:
    """Read a graph file and everything it includes.

    Parameters
    ----------
    path : str or Path
        The TOML file.
    overrides : dict, optional
        ``{param: value}`` overrides a ``[params]`` default; ``{"node.key": value}``
        sets a node's configure argument, ``{"node.params.key": value}`` one of
        its ``params`` (what ``--set`` does).

    Raises
    ------
    GraphError
        The file is missing, is not valid TOML, or its structure is wrong.
    """
    path = Path(path).expanduser()
    raw, sources = _read_with_includes(path.resolve(), [])
    spec = GraphSpec(path=path, title=str(raw.get("title", "")))
    spec.params = dict(raw.get("params", {}))
    overrides = dict(overrides or {})
    node_overrides: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        node, dot, arg = key.partition(".")
        if dot:
            node_overrides.setdefault(node, {})[arg] = value
        elif key in spec.params:
            spec.params[key] = value
        else:
            known = ", ".join(sorted(spec.params)) or "none"
            raise GraphError(
                f"--set {key}=...: the graph has no parameter {key!r} (parameters: {known}); "
                "write NODE.KEY=VALUE to set a node's configure argument",
                path,
            )

    for name, table in raw.get("nodegroups", {}).items():
        source = sources["nodegroups", name]
        spec.nodegroups[name] = NodeGroupSpec(
            name=name,
            host=_substitute(table.get("host"), spec, source),
            qt=bool(table.get("qt", False)),
            source=source,
            line=source.line_of(rf"^\s*\[nodegroups\.{re.escape(name)}\]", rf"^\s*{re.escape(name)}\s*="),
        )
    errors: list[GraphError] = []  # every bad value of the file, reported together
    for name, table in raw.get("nodes", {}).items():
        source = sources["nodes", name]
        node = NodeSpec(
            name=name,
            type=table["type"],
            nodegroup=table.get("nodegroup", MAIN_GROUP),
            source=source,
            line=source.line_of(rf"^\s*\[nodes\.{re.escape(name)}\]", rf"^\s*{re.escape(name)}\s*="),
        )
        for key, value in table.get("configure", {}).items():
            try:
                node.configure[key] = _build_value(_substitute(value, spec, source), node, key)
            except GraphError as exc:
                errors.append(exc)
        for out, opts in table.get("outputs", {}).items():
            for key, value in opts.items():
                try:
                    node.outputs.setdefault(out, {})[key] = _substitute(value, spec, source)
                except GraphError as exc:
                    errors.append(exc)
        for path, value in flatten_params(table.get("params", {})):
            try:
                node.params[path] = _substitute(value, spec, source)
            except GraphError as exc:
                errors.append(exc)
        for channel, values in table.get("by_channel_params", {}).items():
            for key, value in values.items() if isinstance(values, dict) else ():
                try:
                    node.by_channel_params[channel, key] = _substitute(value, spec, source)
                except GraphError as exc:
                    errors.append(exc)
        for key, value in table.get("window", {}).items():
            try:
                node.window[key] = _substitute(value, spec, source)
            except GraphError as exc:
                errors.append(exc)
        spec.nodes[name] = node
    raise_all(errors)
    for node_name, values in node_overrides.items():
        if node_name not in spec.nodes:
            raise GraphError(
                f"--set {node_name}.…: the graph has no node {node_name!r} (nodes: {', '.join(spec.nodes)})", path
            )
        node = spec.nodes[node_name]
        for key, value in values.items():
            if key.startswith("params."):  # --set scope.params.xsize=5, --set tf.params.timefreq.f_stop=40
                node.params[tuple(key.split(".")[1:])] = value
            else:
                node.configure[key] = value
    for text, source in sources["connections"]:
        spec.connections.append(_parse_connection(text, source))
    return spec


def flatten_params(table: dict, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Return a node's ``params`` table as ``(key path, value)`` pairs (a nested table is a group)."""
    out = []
    for key, value in table.items():
        if isinstance(value, dict):
            out.extend(flatten_params(value, (*prefix, key)))
        else:
            out.append(((*prefix, key), value))
    return out


def _read_with_includes(path: Path, stack: list[Path]) -> tuple[dict, dict]:
    """Parse ``path`` and merge the files it includes (its own entries win for params)."""
    if path in stack:
        chain = " -> ".join(str(p) for p in [*stack, path])
        raise GraphError(f"include cycle: {chain}; remove one of these includes", stack[-1])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        where = f" (included by {stack[-1]})" if stack else ""
        raise GraphError(f"graph file not found{where}; check the path", path) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise GraphError(f"not valid TOML: {exc}", path, int(match.group(1)) if match else None) from None
    check_structure(data, path, text)
    source = Source(path, text)
    merged: dict[str, Any] = {"params": {}, "nodegroups": {}, "nodes": {}, "connections": []}
    sources: dict = {"connections": []}
    includes = data.get("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise GraphError(
            "include must be a file name or a list of file names", path, source.line_of(r"^\s*include\s*=")
        )
    for name in includes:
        sub, sub_sources = _read_with_includes((path.parent / name).resolve(), [*stack, path])
        _merge(merged, sources, sub, sub_sources, path)
    own_sources = {
        (section, key): source
        for section in ("nodegroups", "nodes")
        for key in (data.get(section) or {})
        if isinstance(data.get(section), dict)
    }
    connections = data.get("connections", [])
    own_sources["connections"] = [(c, source) for c in connections] if isinstance(connections, list) else []
    _merge(merged, sources, data, own_sources, path)
    for key, value in data.items():
        if key not in merged and key != "include":
            merged[key] = value
    return merged, sources


def _merge(merged: dict, sources: dict, data: dict, data_sources: dict, path: Path) -> None:
    for section in ("nodegroups", "nodes"):
        table = data.get(section, {})
        if not isinstance(table, dict):
            merged[section] = table  # the structure check reports it
            continue
        for key, value in table.items():
            if key in merged[section]:
                first = sources[section, key].path
                raise GraphError(
                    f"{section[:-1]} {key!r} is defined both here and in {first}; rename one",
                    path,
                    data_sources[section, key].line_of(rf"^\s*\[{section}\.{re.escape(key)}\]"),
                )
            merged[section][key] = value
            sources[section, key] = data_sources[section, key]
    params = data.get("params", {})
    if isinstance(params, dict):
        merged["params"].update(params)
    else:
        merged["params"] = params
    connections = data.get("connections", [])
    if isinstance(connections, list):
        merged["connections"].extend(connections)
        sources["connections"].extend(data_sources["connections"])
    else:
        merged["connections"] = connections


def _substitute(value: Any, spec: GraphSpec, source: Source) -> Any:
    """Replace ``${param}``: a whole-string reference keeps the parameter's type."""
    if isinstance(value, str):
        whole = _PARAM.fullmatch(value)
        if whole:
            return _param(whole.group(1), spec, source)
        return _PARAM.sub(lambda m: str(_param(m.group(1), spec, source)), value)
    if isinstance(value, list):
        return [_substitute(v, spec, source) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, spec, source) for k, v in value.items()}
    return value


def _design_sos(**kwargs):
    from ..dsp.sos import design_sos

    return design_sos(**kwargs)


def _array(values=(), dtype=None):
    import numpy as np

    return np.asarray(values, dtype=dtype)


#: Tables of one key that stand for a computed value in ``configure``:
#: ``coefficients = { design_sos = { kind = "bandpass", freqs = [1, 40], sample_rate = 500 } }``
#: and ``buffer = { array = { values = [[0, 1], [2, 3]], dtype = "float32" } }``.
VALUE_BUILDERS = {"design_sos": _design_sos, "array": _array}


def _build_value(value: Any, node: NodeSpec, key: str) -> Any:
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in VALUE_BUILDERS:
        ((builder, kwargs),) = value.items()
        if not isinstance(kwargs, dict):
            raise GraphError(
                f"node {node.name!r}: {key} = {{ {builder} = ... }} takes a table of arguments",
                node.source.path if node.source else None,
                node.line_of_key(key),
            )
        try:
            return VALUE_BUILDERS[builder](**kwargs)
        except Exception as exc:
            raise GraphError(
                f"node {node.name!r}: {key} = {{ {builder} = ... }} failed: {type(exc).__name__}: {exc}",
                node.source.path if node.source else None,
                node.line_of_key(key),
            ) from None
    return value


def _param(name: str, spec: GraphSpec, source: Source) -> Any:
    if name not in spec.params:
        known = ", ".join(sorted(spec.params)) or "none"
        raise GraphError(
            f"${{{name}}} names no parameter (parameters: {known}); add {name} = ... to [params]",
            source.path,
            source.line_of(re.escape("${" + name + "}")),
        )
    return spec.params[name]


def _parse_connection(text: str, source: Source) -> Connection:
    line = source.line_of(re.escape(text))
    left, arrow, right = text.partition("->")
    a, b = _ENDPOINT.match(left), _ENDPOINT.match(right)
    if not arrow or a is None or b is None:
        raise GraphError(
            f'connection {text!r}: write "node.output -> node.input" (or "node -> node" when each has a single stream)',
            source.path,
            line,
        )
    return Connection(
        source=a.group(1),
        output=a.group(2),
        target=b.group(1),
        input=b.group(2),
        text=text.strip(),
        origin=source,
        line=line,
    )
