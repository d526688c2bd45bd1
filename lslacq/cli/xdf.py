"""``lslacq xdf check FILE`` and ``lslacq xdf repair FILE``: what an XDF file holds, and footers after a crash.

check: the streams (samples, time span, clock offsets, footer) and where the
file ends; exit code 0 for a complete file, 1 for one a recorder did not
close (it still loads in pyxdf), 2 for an unreadable one.
repair: cuts an incomplete last chunk (saved as FILE.tail) and appends the
StreamFooters a killed recorder did not write.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run_xdf"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``xdf`` sub-command (entry point of the ``lslacq.commands`` group)."""
    parser = subparsers.add_parser(
        "xdf",
        help="check or repair an XDF file",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["check", "repair"], help="check: report; repair: add missing footers")
    parser.add_argument("file", help="the .xdf file")
    parser.set_defaults(func=run_xdf)
    return parser


def run_xdf(args) -> int:
    """Run ``lslacq xdf`` with parsed arguments; return the exit code."""
    from ..rec.xdf_check import repair_xdf, scan_xdf

    try:
        if args.action == "check":
            scan = scan_xdf(args.file)
            print(scan.report())
            return 0 if scan.complete else 1
        done = repair_xdf(args.file)
        print("\n".join(done) if done else f"{args.file}: complete, nothing to repair")
        print(scan_xdf(args.file).report())
        return 0
    except (OSError, ValueError) as exc:
        print(f"lslacq xdf {args.action}: {exc}", file=sys.stderr)
        return 2
