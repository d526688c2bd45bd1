"""``lslacq check GRAPH``: validate a graph file without running it (``--schema``, ``--types`` for editors)."""

from __future__ import annotations

import argparse
import sys

from .graphfile import add_overrides_argument, overrides, print_graph_error

__all__ = ["add_parser", "check_graph"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``check`` sub-command (entry point of the ``lslacq.commands`` group)."""
    parser = subparsers.add_parser(
        "check",
        help="validate a graph file without running it",
        description="Read and validate a graph file (structure, node types, configure arguments, streams, "
        "sources, cycles, hosts) and the configure values against each node type's declared types "
        "and ranges; print what it describes, or every problem with its line (exit status 2).",
    )
    parser.add_argument("graph", nargs="?", help="graph file (TOML)")
    add_overrides_argument(parser, help="as for `lslacq run`")
    parser.add_argument("--offline", action="store_true", help="do not check that the nodegroups' hosts answer")
    parser.add_argument("--schema", action="store_true", help="print the graph file JSON Schema (for editors)")
    parser.add_argument("--types", action="store_true", help="list the node types a graph can use")
    parser.set_defaults(func=check_graph)
    return parser


def check_graph(args) -> int:
    """Validate a graph file; exit code 0 when it is valid, 2 otherwise."""
    from ..core.registry import list_node_types
    from ..errors import GraphError
    from ..graph.schema import schema_json
    from ..graph.spec import read_graph
    from ..graph.validation import validate

    if args.schema:
        print(schema_json())
        return 0
    if args.types:
        print("\n".join(list_node_types()))
        return 0
    if not args.graph:
        print("lslacq check: give a graph file (or --schema / --types)", file=sys.stderr)
        return 2
    try:
        spec = read_graph(args.graph, overrides(args))
        order = validate(spec)
        from ..graph.graph import check_host

        for group, info in spec.nodegroups.items():
            if info.host and not args.offline and any(n.nodegroup == group for n in spec.nodes.values()):
                check_host(spec, group, info.host)
    except GraphError as exc:
        print_graph_error("lslacq check", exc, args.verbose)
        return 2
    groups = sorted({n.nodegroup for n in spec.nodes.values()})
    print(
        f"{args.graph}: valid: {len(spec.nodes)} nodes in {len(groups)} nodegroup(s) "
        f"({', '.join(groups)}), {len(spec.connections)} connections"
    )
    for name in order:
        node = spec.nodes[name]
        print(f"  {name:<16} {node.type:<20} in {node.nodegroup}")
    return 0
