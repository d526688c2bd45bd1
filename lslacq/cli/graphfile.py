"""What ``lslacq run`` and ``lslacq check`` share: the graph-file arguments and how a GraphError is printed."""

from __future__ import annotations

import argparse
import sys
import traceback

__all__ = ["add_graph_arguments", "add_overrides_argument", "overrides", "print_graph_error"]


def add_overrides_argument(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """Add ``--set KEY=VALUE`` (repeatable), read by :func:`overrides`."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=help or "override a parameter (NAME=VALUE) or a configure argument (NODE.KEY=VALUE); repeatable",
    )


def add_graph_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the graph file argument and ``--set``."""
    parser.add_argument("graph", help="graph file (TOML; see docs/graphs.md)")
    add_overrides_argument(parser)


def overrides(args: argparse.Namespace) -> dict:
    """Return the ``--set`` options as ``{key: value}`` (values parsed as in a graph file)."""
    from ..graph.spec import parse_override

    return dict(parse_override(text) for text in args.overrides)


def print_graph_error(prog: str, exc, verbose: int = 0) -> None:
    """Print each problem of a :class:`~lslacq.errors.GraphError` on its own stderr line.

    What caused it (a remote traceback included) is printed only with ``-v``.
    """
    errors = getattr(exc, "errors", [exc])
    if len(errors) > 1:
        print(f"{prog}: {len(errors)} problems:", file=sys.stderr)
    for error in errors:
        print(f"{prog}: {error}", file=sys.stderr)
        cause = error.__cause__
        if cause is not None and verbose:
            traceback.print_exception(cause, file=sys.stderr)
    if not verbose and any(e.__cause__ is not None for e in errors):
        print(f"{prog}: (run `lslacq -v ...` for the traceback)", file=sys.stderr)
    sys.stderr.flush()
