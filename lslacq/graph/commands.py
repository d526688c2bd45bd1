"""``lslacq run GRAPH`` and ``lslacq check GRAPH``: run or validate a graph file."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time

__all__ = ["add_run_parser", "add_check_parser", "format_status", "print_graph_error"]


def _add_graph_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("graph", help="graph file (TOML; see docs/graphs.md)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter (NAME=VALUE) or a configure argument (NODE.KEY=VALUE); repeatable")


def add_run_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``run`` sub-command (entry point of the ``lslacq.commands`` group)."""
    parser = subparsers.add_parser(
        "run", help="run a graph file with a live status table",
        description="Build the graph described in a TOML file (nodegroups in processes or on hosts), start it, "
                    "print a live status table, and stop and close everything on Ctrl-C or --duration.")
    _add_graph_arguments(parser)
    parser.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    parser.add_argument("--interval", type=float, default=1.0, metavar="S", help="seconds between status updates")
    parser.add_argument("--json", action="store_true", help="print one JSON status object per line (for scripts)")
    parser.set_defaults(func=run_graph)
    return parser


def add_check_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``check`` sub-command."""
    parser = subparsers.add_parser(
        "check", help="validate a graph file without running it",
        description="Read and validate a graph file (structure, node types, configure arguments, streams, "
                    "sources, cycles, hosts) and the configure values against each node type's declared types "
                    "and ranges; print what it describes, or every problem with its line (exit status 2).")
    parser.add_argument("graph", nargs="?", help="graph file (TOML)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="as for `lslacq run`")
    parser.add_argument("--offline", action="store_true", help="do not check that the nodegroups' hosts answer")
    parser.add_argument("--schema", action="store_true", help="print the graph file JSON Schema (for editors)")
    parser.add_argument("--types", action="store_true", help="list the node types a graph can use")
    parser.set_defaults(func=check_graph)
    return parser


def _overrides(args) -> dict:
    from .spec import parse_override

    return dict(parse_override(text) for text in args.overrides)


def check_graph(args) -> int:
    """Validate a graph file; exit code 0 when it is valid, 2 otherwise."""
    from ..core.registry import list_node_types
    from .schema import schema_json
    from .spec import GraphError, read_graph
    from .validation import validate

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
        spec = read_graph(args.graph, _overrides(args))
        order = validate(spec)
        from .graph import check_host

        for group, info in spec.nodegroups.items():
            if info.host and not args.offline and any(n.nodegroup == group for n in spec.nodes.values()):
                check_host(spec, group, info.host)
    except GraphError as exc:
        print_graph_error("lslacq check", exc, args.verbose)
        return 2
    groups = sorted({n.nodegroup for n in spec.nodes.values()})
    print(f"{args.graph}: valid: {len(spec.nodes)} nodes in {len(groups)} nodegroup(s) "
          f"({', '.join(groups)}), {len(spec.connections)} connections")
    for name in order:
        node = spec.nodes[name]
        print(f"  {name:<16} {node.type:<20} in {node.nodegroup}")
    return 0


def run_graph(args) -> int:
    """Run a graph file until Ctrl-C, SIGTERM or ``--duration``; return the exit code."""
    from .graph import load_graph
    from .spec import GraphError

    if args.duration is not None and args.duration <= 0:
        print(f"lslacq run: --duration must be > 0 seconds, got {args.duration}", file=sys.stderr)
        return 2
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    graph = None
    try:
        try:
            graph = load_graph(args.graph, _overrides(args))
        except GraphError as exc:
            print_graph_error("lslacq run", exc, args.verbose)
            return 2
        title = f" ({graph.spec.title})" if graph.spec.title else ""
        if not args.json:
            print(f"lslacq run: {args.graph}{title}: {len(graph.nodes)} nodes, starting", flush=True)
        graph.start()
        _monitor(graph, args)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if graph is not None:
            if not args.json:
                print("lslacq run: stopping", flush=True)
            graph.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def print_graph_error(prog: str, exc, verbose: int = 0) -> None:
    """Print each problem of a :class:`GraphError` on its own stderr line.

    What caused it (a remote traceback included) is printed only with ``-v``.
    """
    import traceback

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


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def _monitor(graph, args) -> None:
    t0 = time.monotonic()
    graph.status()  # first snapshot: rates are computed from here
    tty = sys.stdout.isatty() and not args.json
    shown = 0
    while True:
        remaining = None if args.duration is None else args.duration - (time.monotonic() - t0)
        if remaining is not None and remaining <= 0:
            break
        time.sleep(args.interval if remaining is None else min(args.interval, remaining))
        status = graph.status()
        if args.json:
            print(json.dumps(status), flush=True)
            continue
        text = format_status(status, time.monotonic() - t0)
        if tty and shown:
            sys.stdout.write(f"\x1b[{shown}F\x1b[J")  # redraw in place
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        shown = text.count("\n") + 1


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_status(status: dict, elapsed: float) -> str:
    """Format the status table ``lslacq run`` prints."""
    lines = [f"[{elapsed:7.1f} s]",
             f"  {'NODE':<16} {'TYPE':<18} {'GROUP':<12} {'STATE':<11} {'IN/s':>9} {'OUT/s':>9} {'LOST':>7} "
             f"{'LATENCY':>8} {'WAITING':>7}"]
    for name, row in status["nodes"].items():
        latency = "-" if row["latency"] is None else f"{row['latency'] * 1e3:.0f} ms"
        waiting = "-" if row.get("waiting") is None else f"{100 * row['waiting']:.0f} %"
        lines.append(f"  {name:<16} {row['type']:<18} {row['nodegroup']:<12} {row['state'] or '?':<11} "
                     f"{_num(row['rate_in'], '9.0f'):>9} {_num(row['rate_out'], '9.0f'):>9} "
                     f"{_num(row['lost_samples'], 'd'):>7} {latency:>8} {waiting:>7}")
        if row["error"]:
            lines.append(f"      error: {row['error']}")
    lines.append(f"  {'PROCESS':<16} {'PID':>8} {'STATE':<12} {'CPU %':>6} {'MEMORY':>9}")
    for group, proc in status["processes"].items():
        rss = "-" if proc.get("rss") is None else f"{proc['rss'] / 2**20:.0f} MiB"
        lines.append(f"  {group:<16} {_num(proc.get('pid'), 'd'):>8} {proc.get('state') or '?':<12} "
                     f"{_num(proc.get('cpu_percent'), '6.1f'):>6} {rss:>9}")
    return "\n".join(lines)
