"""``lslacq run GRAPH``: run a graph file with a live status table (``--json`` for scripts)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time

from .graphfile import add_graph_arguments, overrides, print_graph_error

__all__ = ["add_parser", "run_graph", "format_status"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``run`` sub-command (entry point of the ``lslacq.commands`` group)."""
    parser = subparsers.add_parser(
        "run",
        help="run a graph file with a live status table",
        description="Build the graph described in a TOML file (nodegroups in processes or on hosts), start it, "
        "print a live status table, and stop and close everything on Ctrl-C or --duration.",
    )
    add_graph_arguments(parser)
    parser.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    parser.add_argument("--interval", type=float, default=1.0, metavar="S", help="seconds between status updates")
    parser.add_argument("--json", action="store_true", help="print one JSON status object per line (for scripts)")
    parser.set_defaults(func=run_graph)
    return parser


def run_graph(args) -> int:
    """Run a graph file until Ctrl-C, SIGTERM or ``--duration``; return the exit code."""
    from ..errors import GraphError
    from ..graph.graph import load_graph

    if args.duration is not None and args.duration <= 0:
        print(f"lslacq run: --duration must be > 0 seconds, got {args.duration}", file=sys.stderr)
        return 2
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    graph = None
    try:
        try:
            graph = load_graph(args.graph, overrides(args))
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
    lines = [
        f"[{elapsed:7.1f} s]",
        f"  {'NODE':<16} {'TYPE':<18} {'GROUP':<12} {'STATE':<11} {'IN/s':>9} {'OUT/s':>9} {'LOST':>7} "
        f"{'LATENCY':>8} {'WAITING':>7}",
    ]
    for name, row in status["nodes"].items():
        latency = "-" if row["latency"] is None else f"{row['latency'] * 1e3:.0f} ms"
        waiting = "-" if row.get("waiting") is None else f"{100 * row['waiting']:.0f} %"
        lines.append(
            f"  {name:<16} {row['type']:<18} {row['nodegroup']:<12} {row['state'] or '?':<11} "
            f"{_num(row['rate_in'], '9.0f'):>9} {_num(row['rate_out'], '9.0f'):>9} "
            f"{_num(row['lost_samples'], 'd'):>7} {latency:>8} {waiting:>7}"
        )
        if row["error"]:
            lines.append(f"      error: {row['error']}")
    lines.append(f"  {'PROCESS':<16} {'PID':>8} {'STATE':<12} {'CPU %':>6} {'MEMORY':>9}")
    for group, proc in status["processes"].items():
        rss = "-" if proc.get("rss") is None else f"{proc['rss'] / 2**20:.0f} MiB"
        lines.append(
            f"  {group:<16} {_num(proc.get('pid'), 'd'):>8} {proc.get('state') or '?':<12} "
            f"{_num(proc.get('cpu_percent'), '6.1f'):>6} {rss:>9}"
        )
    return "\n".join(lines)
