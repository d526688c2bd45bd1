"""``lslacq emulate DEVICE``: run a shipped hardware emulator (today: an OpenBCI Cyton on a pty)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

__all__ = ["add_parser", "run_openbci"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``emulate`` sub-command (one sub-parser per emulated device)."""
    parser = subparsers.add_parser(
        "emulate",
        help="run a hardware emulator (openbci: a Cyton board on a pseudo-terminal)",
        description="Emulate a device at its wire level, so the real device node (or any other program) can be "
        "used and tested without the hardware. The Emotiv emulator is a pyusb backend object, used "
        "from Python: lslacq.devices.emotiv.EmotivBackend.",
    )
    devices = parser.add_subparsers(dest="device", metavar="DEVICE", required=True)
    obci = devices.add_parser(
        "openbci",
        help="an OpenBCI Cyton (optionally + Daisy) on a pseudo-terminal; prints the port to open",
        description="Serve an OpenBCI Cyton on a pseudo-terminal: it answers v, b, s, c, C, d, D, ?, V and "
        "x...X as the board does and streams 33-byte packets at 250 Hz with known counts (board "
        "channel k of packet n = (k + 1) * 1000 + n % 1000; Daisy channels the negatives). Open the "
        "printed port with OpenBCI(device_handle=...) or `lslacq bridge openbci --port ...`.",
    )
    obci.add_argument("--daisy", action="store_true", help="a Daisy module is attached (16 channels at 125 Hz)")
    obci.add_argument("--link", default=None, metavar="PATH", help="also serve the port at PATH (a symlink)")
    obci.add_argument("--rate", type=float, default=250.0, help="packets per second (default 250)")
    obci.add_argument(
        "--footers",
        default="C0",
        metavar="LIST",
        help="comma-separated footers to cycle through, e.g. C0,C1,C4 (default C0)",
    )
    obci.add_argument("--garbage-every", type=int, default=0, metavar="N", help="random bytes after every N packets")
    obci.add_argument("--torn-every", type=int, default=0, metavar="N", help="truncate every N-th packet")
    obci.add_argument("--drop-every", type=int, default=0, metavar="N", help="drop every N-th packet")
    obci.add_argument("--duration", type=float, default=None, metavar="S", help="exit after S seconds")
    obci.set_defaults(func=run_openbci)
    return parser


def run_openbci(args) -> int:
    """Serve the emulator until Ctrl+C, SIGTERM or ``--duration``; return the exit code."""
    from ..devices.openbci.emulator import CytonEmulator

    try:
        footers = [int(f, 16) for f in args.footers.split(",") if f.strip()]
    except ValueError:
        print(f"lslacq emulate openbci: --footers {args.footers!r}: give hex footers such as C0,C4", file=sys.stderr)
        return 2
    try:
        emulator = CytonEmulator(
            daisy=args.daisy,
            sample_rate=args.rate,
            footers=footers,
            link=args.link,
            garbage_every=args.garbage_every,
            torn_every=args.torn_every,
            drop_every=args.drop_every,
        )
    except ValueError as exc:
        print(f"lslacq emulate openbci: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        with emulator:
            print(
                f"OpenBCI Cyton{' + Daisy' if args.daisy else ''} emulator on {emulator.port} "
                f"({args.rate:g} packets/s). Ctrl+C to stop.",
                flush=True,
            )
            done.wait(args.duration)
            if emulator.error is not None:
                print(f"lslacq emulate openbci: {emulator.error}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
