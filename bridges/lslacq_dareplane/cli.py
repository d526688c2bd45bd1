"""Command line: ``lslacq dareplane serve|logserver`` and ``python -m lslacq_dareplane``.

``python -m lslacq_dareplane GRAPH --port=8080 --ip=127.0.0.1`` is how a
dareplane control room (its PythonLauncher) starts the module: options come
as ``--key=value``; ``--port``, ``--ip``, ``--name`` and ``--loglevel`` are
the server's, any other ``--key=value`` becomes a configuration value of the
graph (parsed as JSON when possible, else kept as a string).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

__all__ = ["add_parser", "main_module", "serve_graph", "run_logserver"]


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "graph",
        nargs="?",
        default=None,
        help="the graph: a graph file 'graph.toml' (see docs/graphs.md; its [params] are the "
        "module's configuration), or a graph factory 'package.module:function', "
        "'file.py:function' or 'file.py' (which defines build_graph)",
    )
    parser.add_argument("--graph", dest="graph_option", default=None, help="same as the positional GRAPH")
    parser.add_argument("--port", type=int, default=8080, help="TCP port of the module server (default 8080)")
    parser.add_argument(
        "--ip",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1; 0.0.0.0 exposes the module, "
        "which has no authentication, to the network)",
    )
    parser.add_argument("--name", default=None, help="module name in the banner (default: the factory's name)")
    parser.add_argument("--config", default=None, metavar="JSON", help="graph configuration as a JSON object")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one configuration value (JSON or string); repeatable",
    )
    parser.add_argument("--loglevel", default="INFO", help="log level, name or number (dareplane passes 10)")
    parser.add_argument(
        "--log-server",
        "--log_server",
        default="127.0.0.1:9020",
        metavar="HOST:PORT",
        help="forward logs to this dareplane log server (default 127.0.0.1:9020; 'none' to disable)",
    )
    parser.add_argument(
        "--build-now",
        "--build_now",
        action="store_true",
        help="build the graph at launch (default: at the first START or CONFIGURE)",
    )


def _config_from_args(args, extra: list[str]) -> dict:
    config: dict = {}
    if args.config:
        value = _parse_value(args.config)
        if not isinstance(value, dict):
            raise ValueError(f"--config must be a JSON object, got {args.config!r}")
        config.update(value)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"--set expects KEY=VALUE with KEY a name, got {item!r}")
        config[key] = _parse_value(value)
    for item in extra:
        if not item.startswith("--"):
            raise ValueError(f"unexpected argument {item!r}; graph options are --key=value")
        key, sep, value = item[2:].partition("=")
        key = key.replace("-", "_")
        if not sep or not key.isidentifier():
            raise ValueError(f"graph options are --key=value, got {item!r}")
        config[key] = _parse_value(value)
    return config


def setup_logging(level_text: str, log_server: str) -> None:
    """Set the root logger's level from ``--loglevel`` and forward records to ``--log-server`` (``HOST:PORT``).

    Raises
    ------
    ValueError
        For a level that is neither a name nor a number, or a log server that is not ``HOST:PORT``/``none``.
    """
    level = int(level_text) if str(level_text).isdigit() else getattr(logging, str(level_text).upper(), None)
    if not isinstance(level, int):
        raise ValueError(f"--loglevel must be a level name or number, got {level_text!r}")
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    root.setLevel(level)
    if log_server and log_server.lower() != "none":
        from .log_forwarding import JsonSocketHandler

        host, _, port = log_server.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--log-server must be HOST:PORT or 'none', got {log_server!r}")
        root.addHandler(JsonSocketHandler(host, int(port)))


def serve_graph(args, extra: list[str] | None = None) -> int:
    """Build a GraphModule from parsed arguments and serve it until CLOSE (or SIGTERM/Ctrl-C)."""
    from .graph_module import GraphModule

    graph = args.graph_option or args.graph
    if not graph:
        print("lslacq dareplane serve: say which graph to serve: GRAPH or --graph=module:function", file=sys.stderr)
        return 2
    try:
        config = _config_from_args(args, extra or [])
        setup_logging(args.loglevel, args.log_server)
        module = GraphModule(graph, name=args.name, config=config, port=args.port, ip=args.ip, build_now=args.build_now)
        module.server.init_server()
    except (ValueError, TypeError, OSError, ImportError, FileNotFoundError) as exc:
        print(f"lslacq dareplane serve: {exc}", file=sys.stderr)
        return 2
    print(f"module {module.name!r} serving graph {graph!r} on {module.server.ip}:{module.server.port}", flush=True)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: module.server.shutdown())
    try:
        module.serve()
    except KeyboardInterrupt:  # Ctrl-C stops a running module: a normal stop (exit 0, as SIGTERM)
        module.close()
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def run_logserver(args) -> int:
    """Run a log receiver until Ctrl-C/SIGTERM (the dareplane control room's log server)."""
    from .log_forwarding import DAREPLANE_FORMAT, LogRecordSocketReceiver

    root = logging.getLogger()
    for handler in root.handlers:
        handler.setFormatter(logging.Formatter(DAREPLANE_FORMAT))
    if not root.handlers:
        logging.basicConfig(format=DAREPLANE_FORMAT)
    root.setLevel(logging.DEBUG)  # filtering is the senders' job
    try:
        receiver = LogRecordSocketReceiver(args.host, args.port, logfile=args.logfile)
    except OSError as exc:
        print(f"lslacq dareplane logserver: {exc}", file=sys.stderr)
        return 2
    print(
        f"log server listening on {args.host}:{receiver.port}" + (f", writing {args.logfile}" if args.logfile else ""),
        flush=True,
    )
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: setattr(receiver, "abort", 1))
    try:
        receiver.serve_until_stopped()
    except KeyboardInterrupt:  # the normal way to stop it
        return 0
    finally:
        receiver.shutdown()
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``lslacq dareplane`` (entry point of the ``lslacq.commands`` group)."""
    parser = subparsers.add_parser(
        "dareplane",
        help="dareplane compatibility: serve a graph or the LSL recorder as a module, run a log server",
        description="dareplane compatibility: serve an lslacq graph as a dareplane module (primary commands "
        "START, STOP_ACQ, CONFIGURE, STATUS) or run a dareplane JSON log server.",
    )
    sub = parser.add_subparsers(dest="dareplane_command", metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="serve a graph as a dareplane module",
        description="Serve the graph built by GRAPH's factory as a dareplane module until CLOSE.",
    )
    _add_serve_arguments(serve)
    serve.set_defaults(func=lambda args: serve_graph(args, getattr(args, "extra", [])))
    logsrv = sub.add_parser(
        "logserver",
        help="receive JSON log records from dareplane modules",
        description="Receive dareplane JSON log records (4-byte length + JSON) and print "
        "them; optionally append them to a file.",
    )
    logsrv.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    logsrv.add_argument("--port", type=int, default=9020, help="port (default 9020)")
    logsrv.add_argument("--logfile", default=None, help="also append records to this file")
    logsrv.set_defaults(func=run_logserver)
    from .recorder_module import add_record_parser  # lslacq dareplane record: the LSL recorder as a module

    add_record_parser(sub)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    return parser


def main_module(argv: list[str] | None = None) -> int:
    """``python -m lslacq_dareplane GRAPH --port=.. --ip=.. [--key=value ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m lslacq_dareplane", description="Serve an lslacq graph as a dareplane module."
    )
    _add_serve_arguments(parser)
    args, extra = parser.parse_known_args(argv)
    return serve_graph(args, extra)
