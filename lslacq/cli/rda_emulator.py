"""``lslacq rda-emulator``: an RDA server like BrainVision Recorder (a known signal, or a .vhdr replayed)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

__all__ = ["add_parser", "run_emulator"]

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``rda-emulator`` sub-command to the ``lslacq`` command."""
    parser = subparsers.add_parser(
        "rda-emulator",
        help="run a BrainVision Recorder RDA server emulator (known signal, markers, keep-alives)",
        description=(
            "Serve a known test signal over BrainVision Recorder's RDA protocol. Channel 0 is a sample "
            "counter, the others are sines; 'Stimulus' markers S 1..S 15 arrive every --marker-interval s."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=None, help="TCP port (default: Recorder's, 51244 float32 / 51234 with --int16)"
    )
    parser.add_argument("--int16", action="store_true", help="send 16-bit integer blocks (DATA16) instead of float32")
    parser.add_argument("--channels", type=int, default=32, help="number of channels (default 32)")
    parser.add_argument("--rate", type=float, default=1000.0, help="sampling rate in Hz (default 1000)")
    parser.add_argument("--block-ms", type=float, default=20.0, help="milliseconds of signal per block (default 20)")
    parser.add_argument("--resolution", type=float, default=None, help="uV per raw unit (default 0.1 int16, 1 float)")
    parser.add_argument("--marker-interval", type=float, default=1.0, help="seconds between markers, 0 for none")
    parser.add_argument("--keepalive-interval", type=float, default=1.0, help="seconds between keep-alives, 0 for none")
    parser.add_argument(
        "--other-interval", type=float, default=2.5, help="seconds between messages of unknown types, 0 for none"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="send STOP and exit after this many seconds of streaming to clients",
    )
    parser.add_argument("--fast", action="store_true", help="send as fast as clients read instead of in real time")
    parser.add_argument("--fragment", action="store_true", help="write messages in small random pieces")
    parser.add_argument(
        "--max-backlog",
        type=float,
        default=None,
        metavar="S",
        help="drop data blocks for a client with more than S seconds of data waiting, as Recorder does "
        "(default: slow clients slow the server down, nothing is lost)",
    )
    parser.add_argument(
        "--vhdr",
        default=None,
        metavar="FILE",
        help="replay this BrainVision recording (.vhdr) in a loop: its channels, rate, data type and markers "
        "(--channels, --rate, --int16, --resolution and --marker-interval are then ignored)",
    )
    parser.set_defaults(func=run_emulator)
    return parser


def run_emulator(args) -> int:
    """Run the emulator until Ctrl+C / SIGTERM (or --duration); return the exit code."""
    from ..devices.rda.emulator import RdaEmulator

    try:
        recording = None
        if args.vhdr:
            from ..devices.rda.brainvision import read_brainvision

            recording = read_brainvision(args.vhdr)
    except (OSError, ValueError) as exc:
        print(f"lslacq rda-emulator: cannot read {args.vhdr}: {exc}", file=sys.stderr)
        return 2
    emulator = RdaEmulator(
        recording=recording,
        host=args.host,
        port=args.port,
        n_channels=args.channels,
        sample_rate=args.rate,
        int16=args.int16,
        block_duration=args.block_ms / 1000.0,
        resolution=args.resolution,
        marker_interval=args.marker_interval or None,
        keepalive_interval=args.keepalive_interval or None,
        other_interval=args.other_interval or None,
        realtime=not args.fast,
        duration=args.duration,
        fragment=args.fragment,
        max_backlog=args.max_backlog,
    )
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        with emulator:
            host, port = emulator.address
            layout = emulator.layout
            print(
                f"RDA emulator on {host}:{port}: {layout.n_channels} channels at {layout.sample_rate:g} Hz, "
                f"{'int16' if layout.int16 else 'float32'}"
                + (f", replaying {args.vhdr}" if args.vhdr else "")
                + ". Ctrl+C to stop.",
                flush=True,
            )
            while not done.wait(0.2):
                if emulator.error is not None:
                    logger.error("RDA emulator failed: %s", emulator.error)
                    return 1
                if args.duration is not None and not emulator.acquiring:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
