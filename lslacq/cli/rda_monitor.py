"""``lslacq rda-monitor``: connect to an RDA server (BrainVision Recorder) and report what it sends."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run_monitor"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``rda-monitor`` sub-command (what is an RDA server sending?)."""
    parser = subparsers.add_parser(
        "rda-monitor",
        help="connect to an RDA server (BrainVision Recorder) and report what it sends",
        description=(
            "Connect to an RDA server, print its channel layout (names, resolutions, rate, data type), then "
            "once per --interval the samples received, the effective rate, lost blocks and the markers. "
            "Use it to check a Recorder setup before an experiment."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="RDA server address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=51244, help="51244 float32 (default), 51234 int16")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the START message")
    parser.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    parser.add_argument("--interval", type=float, default=1.0, metavar="S", help="seconds between status lines")
    parser.set_defaults(func=run_monitor)
    return parser


def run_monitor(args) -> int:
    """Run ``lslacq rda-monitor``; return the exit code (1 if the server fails or cannot be reached)."""
    import time

    from ..devices.rda.client import Client
    from ..errors import LslacqError

    if args.interval <= 0 or (args.duration is not None and args.duration <= 0):
        print("lslacq rda-monitor: --interval and --duration must be > 0 seconds", file=sys.stderr)
        return 2
    with Client(buffer_size=1000) as client:
        try:
            client.connect((args.host, args.port), timeout=args.timeout)
            client.start_streaming(timeout=args.timeout)
        except (ConnectionError, LslacqError) as exc:
            print(f"lslacq rda-monitor: {exc}", file=sys.stderr)
            return 1
        start = client.start_msg
        print(
            f"{args.host}:{args.port}: {start.n_channels} channels at {start.sample_rate:g} Hz "
            f"(sampling interval {start.sampling_interval:g} us)",
            flush=True,
        )
        for i, (name, res) in enumerate(zip(start.channel_names, start.resolutions, strict=False)):
            print(f"  {i + 1:4d}  {name:12s} {res:g} uV/unit")
        t0 = last_t = time.monotonic()
        deadline = None if args.duration is None else t0 + args.duration
        next_status = t0 + args.interval
        last_n = seen = 0
        try:
            while True:
                now = time.monotonic()
                wake = next_status if deadline is None else min(next_status, deadline)
                time.sleep(max(0.0, min(0.1, wake - now)))
                now = time.monotonic()
                if client.error is not None:
                    print(f"lslacq rda-monitor: {client.error}", file=sys.stderr)
                    return 1
                if not client.is_streaming:
                    try:
                        client.start_streaming(timeout=0.1)  # Recorder starts again: follow it
                    except LslacqError:
                        pass
                done = deadline is not None and now >= deadline
                if now < next_status and not done:
                    continue
                next_status += args.interval
                n = client.last_sample
                markers = client.get_markers(seen, n)
                seen = n
                labels = ", ".join(f"{m['type'].decode()}/{m['description'].decode()}@{m['pos']}" for m in markers)
                state = "" if client.is_streaming else f"  [stopped: {client.stop_reason}]"
                print(
                    f"{now - t0:7.1f} s  {n} samples ({(n - last_n) / max(now - last_t, 1e-9):.0f} Hz, "
                    f"{client.wire_dtype or '?'})  lost blocks {client.lost_blocks}"
                    + (f"  markers: {labels}" if labels else "")
                    + state,
                    flush=True,
                )
                last_n, last_t = n, now
                if done:
                    break
        except KeyboardInterrupt:
            pass
    return 0
