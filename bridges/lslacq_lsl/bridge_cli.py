"""``lslacq bridge SOURCE``: a device -> LSL, one sub-command per source.

Adding a source
---------------
Add one entry to :data:`SOURCES`: ``name -> BridgeSource(help, add_arguments,
build_node, default_name, stream_type)``, with two small functions::

    def _openbci_arguments(parser):  # the source's own options
        parser.add_argument("--port", required=True, help="serial port of the dongle")


    def _openbci_node(args):  # a CONFIGURED device node (not initialized)
        from lslacq.devices.eeg_openbci import OpenBCI  # import the device here, not at module level

        node = OpenBCI(name="openbci")
        node.configure(port=args.port)
        return node


    SOURCES["openbci"] = BridgeSource(
        "OpenBCI board -> LSL EEG", _openbci_arguments, _openbci_node, default_name="OpenBCI", stream_type="EEG"
    )

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
from collections.abc import Callable
from dataclasses import dataclass, field

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
        Default ``--type`` (LSL content type of the first signal output).
    output_types : dict, optional
        LSL content type of the other outputs (``{"aux": "Accelerometer"}``); without an
        entry they get ``--type`` (event outputs: ``Markers``).
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
    output_types: dict[str, str] = field(default_factory=dict)
    description: str = ""
    run: Callable[[argparse.Namespace], int] | None = None


# -- rda ------------------------------------------------------------------------------------------
def add_rda_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``lslacq bridge rda`` options to ``parser`` (here, not in rda_bridge: listing them needs no pylsl)."""
    from lslacq.devices.rda.protocol import DEFAULT_PORT_FLOAT32

    parser.add_argument("--host", default="127.0.0.1", help="RDA server address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT_FLOAT32, help="RDA port: 51244 float32 (default), 51234 int16"
    )
    parser.add_argument("--name", default="BrainAmp", help="LSL name of the EEG stream (default BrainAmp)")
    parser.add_argument("--markers-name", default=None, help="LSL name of the marker stream (default NAME-Markers)")
    parser.add_argument("--type", default="EEG", help="LSL content type of the EEG stream (default EEG)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server's START message")
    parser.add_argument(
        "--reconnect",
        action="store_true",
        help="when the RDA connection is lost, keep the LSL streams and reconnect (instead of exiting)",
    )


def _rda_run(args: argparse.Namespace) -> int:
    from .rda_bridge import run_bridge

    return run_bridge(args)


# -- audio ----------------------------------------------------------------------------------------
def _audio_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        type=int,
        default=None,
        help="input device index (default: the default input; see `lslacq devices list`)",
    )
    parser.add_argument("--channels", type=int, default=1, help="channels to record (default 1)")
    parser.add_argument("--rate", type=float, default=None, help="sample rate (default: the device's)")
    parser.add_argument(
        "--format", default="int16", choices=("int16", "int32", "float32"), help="sample format (default int16)"
    )
    parser.add_argument("--chunksize", type=int, default=1024, help="frames per block (default 1024)")


def _audio_node(args: argparse.Namespace) -> Node:
    from lslacq.devices.audio_pyaudio import NO_DEVICE_HINT, AudioDeviceError, PyAudio

    node = PyAudio(name="audio")
    try:
        specs = node.list_device_specs()
        if not specs:
            raise AudioDeviceError(NO_DEVICE_HINT)
        device = args.device if args.device is not None else node.default_input_device()
        if device is None:
            raise AudioDeviceError("no default input device; choose one with --device (see `lslacq devices list`)")
        rate = args.rate
        if rate is None:
            rate = specs[device]["defaultSampleRate"] if 0 <= device < len(specs) else 44100.0
        node.configure(
            nb_channel=args.channels,
            sample_rate=rate,
            input_device_index=device,
            format=args.format,
            chunksize=args.chunksize,
        )
    except BaseException:
        node.close()
        raise
    return node


# -- openbci / emotiv --------------------------------------------------------------------------------
def _openbci_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        required=True,
        help="serial port of the dongle (/dev/ttyUSB0, COM3), or the pty `lslacq emulate openbci` prints",
    )
    parser.add_argument(
        "--daisy",
        choices=("auto", "yes", "no"),
        default="auto",
        help="16 channels with a Daisy module, 8 without, or ask the board (default auto)",
    )
    parser.add_argument("--gain", type=float, default=24, help="ADS1299 gain of the channels (default 24)")
    parser.add_argument("--reconnect", action="store_true", help="reopen the port when the dongle is unplugged")


def _openbci_node(args: argparse.Namespace) -> Node:
    from lslacq.devices.eeg_openbci import OpenBCI

    node = OpenBCI(name="openbci")
    try:
        node.configure(
            device_handle=args.port,
            daisy={"auto": "auto", "yes": True, "no": False}[args.daisy],
            gain=args.gain,
            reconnect=args.reconnect,
        )
    except BaseException:
        node.close()
        raise
    return node


def _emotiv_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hidraw", default=None, metavar="PATH", help="read Linux hidraw (/dev/hidrawN) instead of USB through pyusb"
    )
    parser.add_argument(
        "--key",
        default="consumer",
        choices=("consumer", "research_emokit", "consumer_doc", "auto"),
        help="key variant (default consumer; auto detects it)",
    )
    parser.add_argument("--serial", default=None, help="dongle serial number (to pick one of several)")
    parser.add_argument("--reconnect", action="store_true", help="look for the dongle again when it is unplugged")
    parser.add_argument(
        "--emulate", action="store_true", help="no headset: read the shipped emulator (lslacq.devices.emotiv.emulator)"
    )


def _emotiv_node(args: argparse.Namespace) -> Node:
    from lslacq.devices.eeg_emotiv import Emotiv

    backend = None
    if args.emulate:
        from lslacq.devices.emotiv.emulator import EmotivBackend

        backend = EmotivBackend()
    node = Emotiv(name="emotiv")
    try:
        node.configure(
            device_handle=args.hidraw, key=args.key, serial=args.serial, backend=backend, reconnect=args.reconnect
        )
    except BaseException:
        node.close()
        raise
    return node


#: source name -> :class:`BridgeSource`; one entry per ``lslacq bridge`` sub-command
SOURCES: dict[str, BridgeSource] = {
    "rda": BridgeSource(
        "BrainVision Recorder RDA -> LSL EEG and marker streams",
        add_rda_arguments,
        run=_rda_run,
        description="Read BrainAmp data from BrainVision Recorder's RDA server (or `lslacq rda-emulator`) and "
        "publish it as an LSL EEG stream (microvolts, channel names) and an LSL marker stream "
        "timestamped on the EEG samples. Follows Recorder's stop/start cycles (the pause is a gap "
        "in time); stops on Ctrl-C, --duration, or when the server goes away (exit status 1).",
    ),
    "audio": BridgeSource(
        "sound card input (microphone) -> LSL audio stream",
        _audio_arguments,
        _audio_node,
        default_name="Audio",
        stream_type="Audio",
        description="Record a sound card input through PortAudio (lslacq.devices.PyAudio) and publish it as an "
        "LSL stream (one channel per audio channel, at the card's rate). Input overflows of the card "
        "are counted on the status line.",
    ),
    "openbci": BridgeSource(
        "OpenBCI Cyton (+ Daisy) -> LSL EEG (microvolts) and accelerometer streams",
        _openbci_arguments,
        _openbci_node,
        default_name="OpenBCI",
        stream_type="EEG",
        output_types={"aux": "Accelerometer"},
        description="Read an OpenBCI Cyton (8 channels, 250 Hz) or Cyton + Daisy (16 channels, 125 Hz) through "
        "its USB dongle (lslacq.devices.OpenBCI) and publish the EEG in microvolts as NAME and the "
        "accelerometer (g) as NAME-aux. Lost packets are gaps, counted on the status line. Without a "
        "board: `lslacq emulate openbci` and give its port.",
    ),
    "emotiv": BridgeSource(
        "Emotiv EPOC -> LSL EEG (microvolts), contact quality, gyro and battery streams",
        _emotiv_arguments,
        _emotiv_node,
        default_name="Emotiv",
        stream_type="EEG",
        output_types={"quality": "ContactQuality", "gyro": "Gyroscope", "battery": "Battery"},
        description="Read an Emotiv EPOC headset through its USB dongle (lslacq.devices.Emotiv: pyusb, or "
        "--hidraw) and publish the 14 EEG channels in microvolts as NAME, and NAME-quality, NAME-gyro, "
        "NAME-battery. Lost reports are gaps, counted on the status line.",
    ),
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
        types = {output: kind for output, kind in source.output_types.items() if output in node.outputs}
        bridge = DeviceLslBridge(node, name=args.name, stream_type=args.type, types=types)
    except Exception as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    with bridge:
        bridge.start()
        print(f"{bridge.describe()}. Ctrl+C to stop.", flush=True)
        return run_bridge_loop(bridge, prog, duration=args.duration, interval=args.interval)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``bridge`` sub-command, with one sub-parser per entry of :data:`SOURCES`."""
    parser = subparsers.add_parser(
        "bridge",
        help=f"bridge a device to LSL ({', '.join(SOURCES)})",
        description="Bridge a device to the Lab Streaming Layer.",
    )
    sub = parser.add_subparsers(dest="bridge_command", metavar="SOURCE")
    for source_name, source in SOURCES.items():
        child = sub.add_parser(source_name, help=source.help, description=source.description or source.help)
        source.add_arguments(child)
        if source.run is None:
            child.add_argument(
                "--name", default=source.default_name, help=f"LSL name of the stream (default {source.default_name})"
            )
            child.add_argument(
                "--type",
                default=source.stream_type,
                help=f"LSL content type of the stream (default {source.stream_type})",
            )
        child.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
        child.add_argument("--interval", type=float, default=1.0, metavar="S", help="seconds between status lines")
        child.set_defaults(func=lambda args, _name=source_name: run_source(_name, args))
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    return parser
