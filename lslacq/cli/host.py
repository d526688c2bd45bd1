"""``lslacq host ADDRESS``: run a Host server (the pyacq manual's host_server.py) for a Manager to spawn nodegroups."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from urllib.parse import urlsplit

__all__ = ["add_parser", "run_host"]

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``host`` sub-command (``lslacq host ADDRESS``)."""
    parser = subparsers.add_parser(
        "host",
        help="run a Host server that a Manager can use to spawn nodegroups on this machine",
        description="Run a Host server (pyacq's tools/host_server.py). A Manager connects with "
        "manager.add_host(ADDRESS) and creates nodegroups here. Non-loopback addresses "
        "require CurveZMQ keys (see `lslacq keygen`).",
    )
    parser.add_argument("address", help="address to bind, e.g. tcp://10.0.0.53:8000 or tcp://127.0.0.1:8000")
    parser.add_argument("--name", default=None, help="host name in log records (default: the address)")
    parser.add_argument("--key", default=None, help="this host's .key_secret file (CurveZMQ)")
    parser.add_argument(
        "--authorized-keys", default=None, help="directory of .key files of the managers/clients allowed to connect"
    )
    parser.add_argument(
        "--nodegroup-address", default=None, help="address template for nodegroup servers (default: tcp://<host IP>:*)"
    )
    parser.add_argument(
        "--orphan-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="close (cleanly: recorders close their files) the nodegroups of a manager that has "
        "not answered this host's pings for this long; default 30 s, so a network blip of "
        "20 s leaves the acquisition running",
    )
    parser.add_argument(
        "--manager-timeout", type=float, default=None, dest="manager_timeout", help=argparse.SUPPRESS
    )  # old name of --orphan-timeout
    parser.set_defaults(func=run_host)
    return parser


def run_host(args: argparse.Namespace, ready: threading.Event | None = None) -> int:
    """Run the Host server until SIGINT/SIGTERM or a remote ``close_server``."""
    from ..core.host import Host
    from ..core.rpc import RPCServer, security
    from ..core.rpc import log as rpclog

    if args.key or args.authorized_keys:
        security.set_default_keys(args.key, args.authorized_keys)
    ip = urlsplit(args.address).hostname or "127.0.0.1"
    name = args.name or args.address
    rpclog.set_process_name(f"host {name}")
    try:
        server = RPCServer(args.address, name=name)
    except (ValueError, OSError, __import__("zmq").ZMQError) as exc:
        hint = " (lslacq host takes the keys as --key and --authorized-keys)" if isinstance(exc, ValueError) else ""
        print(f"lslacq host: cannot serve at {args.address}: {exc}{hint}", file=sys.stderr)
        return 2
    nodegroup_address = args.nodegroup_address or f"tcp://{ip}:*"
    orphan_timeout = getattr(args, "orphan_timeout", None)
    if orphan_timeout is None:
        orphan_timeout = getattr(args, "manager_timeout", None)
    try:
        host = Host(name, poll_procs=True, address=nodegroup_address, orphan_timeout=orphan_timeout)
    except ValueError as exc:
        server.close()
        print(f"lslacq host: {exc} (--orphan-timeout)", file=sys.stderr)
        return 2
    server["host"] = host

    def stop(signum, frame):
        logger.info("host %s: signal %d, closing", name, signum)
        server.close()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
    print(
        f"lslacq host {name} serving at {server.address}"
        + (f" (CurveZMQ public key {server.public_key})" if server.public_key else ""),
        flush=True,
    )
    logger.info(
        "host %s: orphan_timeout %g s (nodegroups of a manager silent that long are closed)", name, host.orphan_timeout
    )
    if ready is not None:
        ready.set()
    try:
        server.run_forever()
    finally:
        host.close()
    return 0
