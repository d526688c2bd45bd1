"""``lslacq lsl ...``: LSL commands of the ``lslacq`` command line.

``lslacq lsl list`` prints the LSL streams visible from this host (name,
type, channels, rate, source_id, host), as a table or as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

__all__ = ["add_parser"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``lsl`` sub-command (entry point of the ``lslacq.commands`` group)."""
    parser = subparsers.add_parser("lsl", help="Lab Streaming Layer tools (list streams)",
                                   description="Lab Streaming Layer tools.")
    lsl_sub = parser.add_subparsers(dest="lsl_command", metavar="LSL_COMMAND")
    lst = lsl_sub.add_parser("list", help="list the LSL streams visible from this host",
                             description="List the LSL streams visible from this host.")
    lst.add_argument("--wait", type=float, default=1.0, metavar="S",
                     help="seconds to listen for streams (default 1.0)")
    lst.add_argument("--json", action="store_true", help="print one JSON object per stream")
    lst.add_argument("--desc", action="store_true",
                     help="also fetch each stream's description (channel labels, units, types)")
    lst.set_defaults(func=_list)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    return parser


def format_table(streams) -> str:
    """Format :class:`~lslacq_lsl.metadata.StreamDescription` objects as an aligned table."""
    header = ("NAME", "TYPE", "CHANNELS", "FORMAT", "RATE", "SOURCE_ID", "HOST")
    rows = [header]
    for d in streams:
        rate = "irregular" if d.irregular else f"{d.nominal_srate:g} Hz"
        rows.append((d.name, d.type, str(d.channel_count), d.channel_format, rate, d.source_id, d.hostname))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _list(args) -> int:
    from .resolve import list_streams

    if args.wait <= 0:
        print(f"lslacq lsl list: --wait must be > 0 seconds, got {args.wait}", file=sys.stderr)
        return 2
    streams = list_streams(wait_time=args.wait, full=args.desc)
    if args.json:
        for d in streams:
            row = dataclasses.asdict(d)
            if not args.desc:  # placeholders only: the short info carries no channel description
                for key in ("channel_names", "channel_units", "channel_types", "manufacturer", "model"):
                    row.pop(key)
            print(json.dumps(row))
        return 0
    if not streams:
        print(f"no LSL streams visible after {args.wait:g} s", file=sys.stderr)
        return 0
    print(format_table(streams))
    if args.desc:
        for d in streams:
            print(f"\n{d.name} ({d.source_id}): " + ", ".join(
                f"{n}" + (f" [{u}]" if u else "") + (f" {t}" if t else "")
                for n, u, t in zip(d.channel_names, d.channel_units, d.channel_types)))
    return 0
