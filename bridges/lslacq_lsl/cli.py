"""``lslacq lsl ...``: LSL commands of the ``lslacq`` command line.

``lslacq lsl list`` prints the LSL streams visible from this host (name,
type, channels, rate, source_id, host), as a table or as JSON.
``lslacq lsl watch NAME`` connects to one stream and prints, every second,
what arrives: samples, effective rate, latency, per-channel RMS, or each
marker of a marker stream.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

__all__ = ["add_parser"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``lsl`` sub-command (entry point of the ``lslacq.commands`` group)."""
    parser = subparsers.add_parser(
        "lsl", help="Lab Streaming Layer tools: list streams, watch one", description="Lab Streaming Layer tools."
    )
    lsl_sub = parser.add_subparsers(dest="lsl_command", metavar="LSL_COMMAND")
    lst = lsl_sub.add_parser(
        "list",
        help="list the LSL streams visible from this host",
        description="List the LSL streams visible from this host.",
    )
    lst.add_argument("--wait", type=float, default=1.0, metavar="S", help="seconds to listen for streams (default 1.0)")
    lst.add_argument("--json", action="store_true", help="print one JSON object per stream")
    lst.add_argument(
        "--desc", action="store_true", help="also fetch each stream's description (channel labels, units, types)"
    )
    lst.set_defaults(func=_list)
    watch = lsl_sub.add_parser(
        "watch",
        help="print live statistics (or the markers) of one LSL stream",
        description="Connect to one LSL stream and print what arrives, once per second.",
    )
    watch.add_argument("name", help="stream name (or use --type / --source-id)", nargs="?")
    watch.add_argument("--type", help="stream type to match")
    watch.add_argument("--source-id", help="source_id to match")
    watch.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    watch.add_argument("--timeout", type=float, default=5.0, metavar="S", help="seconds to wait for the stream")
    watch.set_defaults(func=_watch)
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
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _watch(args) -> int:
    import time

    import numpy as np

    from lslacq.errors import LslacqError

    from .stream_watcher import StreamWatcher

    query = {k: v for k, v in (("name", args.name), ("type", args.type), ("source_id", args.source_id)) if v}
    if not query:
        print("lslacq lsl watch: give a stream name, --type or --source-id", file=sys.stderr)
        return 2
    sw = StreamWatcher(args.name or "", buffer_size_s=2, timeout=args.timeout, irregular_buffer_size=10_000)
    try:
        sw.connect_to_stream(query)
    except LslacqError as exc:
        print(f"lslacq lsl watch: {exc}", file=sys.stderr)
        return 1
    d = sw.description
    print(d.summary())
    print("channels: " + ", ".join(d.channel_names[:16]) + (", ..." if d.channel_count > 16 else ""), flush=True)
    t_start = time.monotonic()
    next_line = t_start + 1.0
    count = last_count = 0
    try:
        with sw:
            while args.duration is None or time.monotonic() - t_start < args.duration:
                time.sleep(0.02)
                n = sw.update()
                count += n
                if d.channel_format == "string" and n:
                    labels, stamps = sw.get_data(n)
                    for row, t in zip(labels, stamps, strict=True):
                        print(f"{t:.4f}  {' | '.join(str(v) for v in row)}", flush=True)
                if time.monotonic() >= next_line and d.channel_format != "string":
                    next_line += 1.0
                    data, stamps = sw.get_data(min(sw.n_buffered, max(int(d.nominal_srate), 1)))
                    latency = (pylsl_clock() - stamps[-1]) * 1e3 if len(stamps) else float("nan")
                    rate = (
                        (len(stamps) - 1) / (stamps[-1] - stamps[0])
                        if len(stamps) > 1 and stamps[-1] > stamps[0]
                        else float("nan")
                    )
                    rms = np.sqrt(np.mean(np.asarray(data, dtype=np.float64) ** 2, axis=0)) if len(data) else []
                    shown = " ".join(f"{v:.3g}" for v in rms[:8]) + (" ..." if len(rms) > 8 else "")
                    print(
                        f"[{time.monotonic() - t_start:6.1f} s] samples {count:>9d} (+{count - last_count})  "
                        f"timestamp rate {rate:8.2f} Hz  latency {latency:6.1f} ms  rms {shown}",
                        flush=True,
                    )
                    last_count = count
    except KeyboardInterrupt:
        pass
    print(f"received {count} samples", flush=True)
    return 0


def pylsl_clock() -> float:
    import pylsl

    return pylsl.local_clock()


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
            print(
                f"\n{d.name} ({d.source_id}): "
                + ", ".join(
                    f"{n}" + (f" [{u}]" if u else "") + (f" {t}" if t else "")
                    for n, u, t in zip(d.channel_names, d.channel_units, d.channel_types, strict=True)
                )
            )
    return 0
