"""The graph file format as a JSON Schema: the single description of every key.

Editors validate graph files against it (``lslacq check --schema`` prints it;
with taplo or the "Even Better TOML" extension, point ``#:schema`` at the
saved file). :func:`check_structure` applies the same schema to a parsed file
and reports every mismatch with its line and the fix.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

from ..errors import GraphError, raise_all

__all__ = ["SCHEMA", "check_structure", "schema_json"]

_SCALAR = {"type": ["string", "number", "integer", "boolean", "array", "object"]}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "lslacq graph file",
    "description": "Nodegroups, nodes and connections of an lslacq graph (run with `lslacq run FILE`).",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "title": {"type": "string", "description": "What the graph does (shown by `lslacq run`)."},
        "include": {
            "type": ["string", "array"],
            "items": {"type": "string"},
            "description": "Graph files (relative to this one) whose params, nodegroups, nodes and connections "
            "are merged in; this file's params win, a node or nodegroup defined twice is an error.",
        },
        "connections": {
            "type": "array",
            "items": {
                "type": "string",
                "pattern": r"^\s*[A-Za-z_][\w-]*(\.\w+)?\s*->\s*[A-Za-z_][\w-]*(\.\w+)?\s*$",
                "x-expected": '"node.output -> node.input" (or "node -> node" when each has a single stream)',
            },
            "description": '"node.output -> node.input" (or "node -> node" for single streams). Write this '
            "key at the top of the file: in TOML, keys after a [table] header belong to that table.",
        },
        "params": {
            "type": "object",
            "additionalProperties": _SCALAR,
            "description": 'Parameters with their defaults, used as "${name}" in values; '
            "`--set name=value` overrides them.",
        },
        "nodegroups": {
            "type": "object",
            "description": 'Processes that run nodes. The nodegroup "main" (the process running the graph) '
            "always exists.",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "host": {
                        "type": "string",
                        "description": 'Address of an `lslacq host` server ("tcp://IP:PORT"); '
                        "absent: a new process on this machine.",
                    },
                    "qt": {"type": "boolean", "description": "Run a Qt event loop (needed by viewers)."},
                },
            },
        },
        "nodes": {
            "type": "object",
            "description": "The nodes, by name.",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["type"],
                "properties": {
                    "type": {"type": "string", "description": "Node type (`lslacq check --types` lists them)."},
                    "nodegroup": {"type": "string", "description": "Nodegroup that runs the node (default main)."},
                    "configure": {
                        "type": "object",
                        "additionalProperties": _SCALAR,
                        "description": "Arguments of the node's configure(); `--set node.key=value` overrides one.",
                    },
                    "outputs": {
                        "type": "object",
                        "description": "Stream options per output (protocol, transfermode, compression, ...); "
                        "default: inproc within a nodegroup, tcp across them.",
                        "additionalProperties": {"type": "object", "additionalProperties": _SCALAR},
                    },
                    "params": {
                        "type": "object",
                        "additionalProperties": _SCALAR,
                        "description": "The node's online parameters (a viewer's `viewer.params`: xsize, "
                        "scale_mode, refresh_interval, ...; a nested table is a group, as "
                        "timefreq = { f_stop = 40 }), set once every node is initialized, "
                        "before the graph starts; `--set node.params.key=value` overrides one.",
                    },
                    "by_channel_params": {
                        "type": "object",
                        "description": "A viewer's per-channel parameters (viewer.by_channel_params), by channel "
                        "(its name, or ch0, ch1, ...): Fp1 = { gain = 2.0, visible = false }.",
                        "additionalProperties": {"type": "object", "additionalProperties": _SCALAR},
                    },
                    "window": {
                        "type": "object",
                        "additionalProperties": False,
                        "description": "A viewer's window.",
                        "properties": {
                            "size": {
                                "type": "array",
                                "items": {"type": "integer"},
                                "description": "[width, height] in pixels (at most 90 % of the screen).",
                            },
                        },
                    },
                },
            },
        },
    },
}

_JSON_TYPES = {"string": str, "boolean": bool, "array": list, "object": dict}


def schema_json() -> str:
    """Return the schema as JSON text (what editors load)."""
    return json.dumps(SCHEMA, indent=2)


def check_structure(data: dict, path: str | Path, text: str = "") -> None:
    """Check one parsed graph file (``text`` is its source, for line numbers) against :data:`SCHEMA`.

    Raises
    ------
    GraphError
        Every mismatch (a :class:`~lslacq.errors.GraphErrors` when there are several), each naming the
        key path, its line and the expected form.
    """
    errors: list = []
    _check(data, SCHEMA, [], Path(path), text, errors)
    raise_all(errors)


def _check(value: Any, schema: dict, keys: list[str], path: Path, text: str, errors: list) -> None:
    where = ".".join(keys) or "the file"
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_is(value, t) for t in types):
            errors.append(
                GraphError(
                    f"{where} must be {' or '.join(_article(t) for t in types)}, got {value!r}", path, _line(text, keys)
                )
            )
            return
    pattern = schema.get("pattern")
    if pattern and isinstance(value, str) and not re.match(pattern, value):
        errors.append(
            GraphError(
                f"{where}: {value!r} is not of the form {schema.get('x-expected', pattern)}",
                path,
                _line(text, keys, value),
            )
        )
    if isinstance(value, list) and "items" in schema:
        for item in value:
            _check(item, schema["items"], keys, path, text, errors)
    if not isinstance(value, dict):
        return
    for required in schema.get("required", []):
        if required not in value:
            errors.append(GraphError(f"{where} has no {required!r}; add {required} = ...", path, _line(text, keys)))
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            _check(item, properties[key], [*keys, key], path, text, errors)
        elif extra is False:
            close = difflib.get_close_matches(key, list(properties), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(properties)}"
            if not keys and key in ("nodes", "nodegroups", "params"):
                hint = ""
            misplaced = (
                " (connections must be written at the top of the file, before any [table])"
                if key == "connections" and keys
                else ""
            )
            errors.append(
                GraphError(
                    f"unknown key {key!r} in {where}{misplaced}; {hint}".rstrip("; "), path, _line(text, [*keys, key])
                )
            )
        elif isinstance(extra, dict):
            _check(item, extra, [*keys, key], path, text, errors)


def _is(value: Any, json_type: str) -> bool:
    if json_type == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if json_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, _JSON_TYPES[json_type])


def _article(json_type: str) -> str:
    return {"array": "a list", "object": "a table", "integer": "an integer"}.get(json_type, f"a {json_type}")


def _line(text: str, keys: list[str], value: Any = None) -> int | None:
    """Best-effort line of a key path: its [table] header, else its last key, else the value."""
    lines = text.splitlines()
    patterns = []
    if value is not None:
        patterns.append(re.escape(str(value)))
    if keys:
        patterns.append(r"^\s*\[+\s*" + r"\.".join(re.escape(k) for k in keys) + r"\s*\]+")
        patterns.append(rf"(^|[{{,\s]){re.escape(keys[-1])}\s*=")
    for pattern in patterns:
        for number, line in enumerate(lines, 1):
            if re.search(pattern, line):
                return number
    return None
