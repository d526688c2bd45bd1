"""``lslacq bridge SOURCE``: a device -> LSL, one sub-command per source.

Adding a source
---------------
Add one entry to :data:`SOURCES`: ``name -> BridgeSource(help, add_arguments,
build_node, default_name, stream_type)``, with two small functions::

    def _openbci_arguments(parser):          # the source's own options
        parser.add_argument("--port", required=True, help="serial port of the dongle")

    def _openbci_node(args):                 # a CONFIGURED device node (not initialized)
        from lslacq.devices.eeg_openbci import OpenBCI   # import the device here, not at module level
        node = OpenBCI(name="openbci")
        node.configure(port=args.port)
        return node

    SOURCES["openbci"] = BridgeSource("OpenBCI board -> LSL EEG", _openbci_arguments, _openbci_node,
                                      default_name="OpenBCI", stream_type="EEG")

Every source also gets ``--name`` (LSL name of the first signal output,
default ``default_name``), ``--type``, ``--duration`` and ``--interval``.
:class:`~lslacq_lsl.device_bridge.DeviceLslBridge` publishes each output of
the node (a signal output as ``NAME``, an event output as ``NAME-Markers`` on
the signal's clock, others as ``NAME-OUTPUT``), prints a status line every
``--interval`` s (with the node's ``counters()`` losses) and stops on Ctrl-C,
SIGTERM, ``--duration`` (exit 0) or a failure of the node (exit 1, the error
on stderr). ``build_node`` exceptions (no device, bad option) are printed as
one line (exit 1), so raise errors that say what to fix.

A source that needs its own runner (``rda``: pause/resume lines) gives
``run(args) -> int`` instead of ``build_node``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable

from lslacq.core.node import Node

__all__ = ["BridgeSource", "SOURCES", "add_parser", "run_source"]


@dataclass(frozen=True)
class BridgeSource:
    """One ``lslacq bridge`` source.

    Parameters
    ----------
    help : str
        One line for ``lslacq bridge --help``.
    add_arguments : callable
        ``add_arguments(parser)`` adds the source's own options.
    build_node : callable, optional
        ``build_node(args) -> Node``: a configured, not initialized, device node.
    default_name : str
        Default ``--name`` (LSL name of the first signal output).
    stream_type : str
        Default ``--type`` (LSL content type of the signal outputs).
    description : str
        Longer text for ``lslacq bridge SOURCE --help`` (default ``help``).
    run : callable, optional
        ``run(args) -> int`` for a source with its own runner (then
        ``build_node`` is not used and the source adds ``--name``/``--type``).
    """

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    build_node: Callable[[argparse.Namespace], Node] | None = None
    default_name: str = "lslacq"
    stream_type: str = "EEG"
    description: str = ""
    run: Callable[[argparse.Namespace], int] | None = None


# -- rda ------------------------------------------------------------------------------------------
def _rda_arguments(parser: argparse.ArgumentParser) -> None:
    from .rda_bridge import add_arguments

    add_arguments(parser)


def _rda_run(args: argparse.Namespace) -> int:
    from .rda_bridge import run_bridge

    return run_bridge(args)


#: source name -> :class:`BridgeSource`; one entry per ``lslacq bridge`` sub-command
SOURCES: dict[str, BridgeSource] = {
    "rda": BridgeSource(
        "BrainVision Recorder RDA -> LSL EEG and marker streams", _rda_arguments, run=_rda_run,
        description="Read BrainAmp data from BrainVision Recorder's RDA server (or `lslacq rda-emulator`) and "
                    "publish it as an LSL EEG stream (microvolts, channel names) and an LSL marker stream "
                    "timestamped on the EEG samples. Follows Recorder's stop/start cycles (the pause is a gap "
                    "in time); stops on Ctrl-C, --duration, or when the server goes away (exit status 1)."),
}


def run_source(source_name: str, args: argparse.Namespace) -> int:
    """Run ``lslacq bridge SOURCE_NAME`` with parsed arguments; return the exit code."""
    from .device_bridge import DeviceLslBridge, run_bridge_loop

    prog = f"lslacq bridge {source_name}"
    source = SOURCES[source_name]
    if args.interval <= 0 or (args.duration is not None and args.duration <= 0):
        print(f"{prog}: --interval and --duration must be > 0 seconds", file=sys.stderr)
        return 2
    if source.run is not None:
        return int(source.run(args) or 0)
    try:
        node = source.build_node(args)
    except Exception as exc:  # no device, bad option: one clear line
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    try:
        bridge = DeviceLslBridge(node, name=args.name, stream_type=args.type)
    except Exception as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    with bridge:
        bridge.start()
        print(f"{bridge.describe()}. Ctrl+C to stop.", flush=True)
        return run_bridge_loop(bridge, prog, duration=args.duration, interval=args.interval)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``bridge`` sub-command, with one sub-parser per entry of :data:`SOURCES`."""
    parser = subparsers.add_parser("bridge", help=f"bridge a device to LSL ({', '.join(SOURCES)})",
                                   description="Bridge a device to the Lab Streaming Layer.")
    sub = parser.add_subparsers(dest="bridge_command", metavar="SOURCE")
    for source_name, source in SOURCES.items():
        child = sub.add_parser(source_name, help=source.help, description=source.description or source.help)
        source.add_arguments(child)
        if source.run is None:
            child.add_argument("--name", default=source.default_name,
                               help=f"LSL name of the stream (default {source.default_name})")
            child.add_argument("--type", default=source.stream_type,
                               help=f"LSL content type of the stream (default {source.stream_type})")
        child.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
        child.add_argument("--interval", type=float, default=1.0, metavar="S", help="seconds between status lines")
        child.set_defaults(func=lambda args, _name=source_name: run_source(_name, args))
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    return parser
