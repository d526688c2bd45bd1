"""The ``lslacq`` command.

Sub-commands are plugins: every entry point in the ``lslacq.commands`` group
names a callable ``add_parser(subparsers)`` that adds one sub-command whose
parser sets ``func`` (called with the parsed arguments, returning an exit
code). Bridges add their commands the same way, so the core never imports them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib.metadata import entry_points

__all__ = ["main", "build_parser"]

COMMAND_GROUP = "lslacq.commands"


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every installed sub-command."""
    parser = argparse.ArgumentParser(prog="lslacq", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        try:
            ep.load()(subparsers)
        except Exception as exc:  # a broken plugin must not break the other commands
            logging.getLogger(__name__).warning("cannot load lslacq command %r (%s): %s", ep.name, ep.value, exc)
    return parser


def _verbosity(argv: list[str] | None) -> int:
    """The -v count, read before the sub-commands are loaded."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("-v", "--verbose", action="count", default=0)
    return pre.parse_known_args(argv)[0].verbose


def main(argv: list[str] | None = None) -> int:
    """Run the ``lslacq`` command line; return the exit code."""
    # native libraries' own logs (liblsl's INFO lines) stay quiet unless asked for with -v; the
    # bridges read this when the sub-commands are loaded, before any native call
    os.environ.setdefault("LSLACQ_LIBLSL_LOG_LEVEL", str([-2, 0, 1][min(_verbosity(argv), 2)]))
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
