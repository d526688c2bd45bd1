"""RDA -> LSL: BrainVision Recorder's RDA stream published as LSL EEG + marker streams.

The graph is ``BrainAmpSocket -> LslOutlet`` for the signals and
``BrainAmpSocket.triggers -> LslOutlet`` for the markers, whose timestamps are
those of the EEG samples they mark (the marker outlet uses the EEG outlet's
sample clock). From the command line::

    $ lslacq bridge rda --host 192.168.1.10 --port 51244 --name BrainAmp

LabRecorder (or any LSL consumer) then sees ``BrainAmp`` (type EEG) and
``BrainAmp-Markers`` (type Markers).
"""

from __future__ import annotations

import logging
import sys

from lslacq.devices.brainampsocket import BrainAmpSocket
from lslacq.devices.rda.protocol import DEFAULT_PORT_FLOAT32

from .device_bridge import DeviceLslBridge, run_bridge_loop

__all__ = ["RdaLslBridge", "add_arguments", "run_bridge"]

logger = logging.getLogger(__name__)


class RdaLslBridge(DeviceLslBridge):
    """Publish an RDA server's data as two LSL streams (context manager).

    Parameters
    ----------
    host, port : str, int
        The RDA server (BrainVision Recorder with RDA enabled, or ``lslacq rda-emulator``).
    name : str
        LSL name of the EEG stream.
    markers_name : str, optional
        LSL name of the marker stream (default ``name + '-Markers'``).
    stream_type : str
        LSL content type of the EEG stream.
    timeout : float
        Seconds to wait for the server and its START message.
    reconnect : bool
        Keep the LSL streams up and reconnect when the RDA connection is lost
        (Recorder restarted, network cut) instead of failing.

    Attributes
    ----------
    amp : BrainAmpSocket
    eeg, markers : LslOutlet
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT_FLOAT32,
        name: str = "BrainAmp",
        markers_name: str | None = None,
        stream_type: str = "EEG",
        timeout: float = 10.0,
        reconnect: bool = False,
    ):
        self.markers_name = markers_name or f"{name}-Markers"
        if self.markers_name == name:
            raise ValueError(f"RdaLslBridge: the EEG and marker streams need different names, both are {name!r}")
        amp = BrainAmpSocket(name=f"rda-{name}")
        try:
            amp.configure(brainamp_host=host, brainamp_port=port, timeout=timeout, reconnect=reconnect)
        except BaseException:
            amp.close()
            raise
        super().__init__(amp, name=name, stream_type=stream_type, names={"triggers": self.markers_name})
        self.amp = amp
        self.eeg = self.outlets["signals"]
        self.markers = self.outlets["triggers"]

    @property
    def n_samples(self) -> int:
        """Samples published on the EEG stream."""
        return self.eeg.n_pushed

    @property
    def n_markers(self) -> int:
        """Markers published on the marker stream."""
        return self.markers.n_pushed


def add_arguments(parser) -> None:
    """Add the ``lslacq bridge rda`` options (defined in :mod:`lslacq_lsl.bridge_cli`) to ``parser``."""
    from .bridge_cli import add_rda_arguments

    add_rda_arguments(parser)


def run_bridge(args) -> int:
    """Run ``lslacq bridge rda``; return the exit code."""
    prog = "lslacq bridge rda"
    try:
        bridge = RdaLslBridge(
            args.host,
            args.port,
            name=args.name,
            markers_name=args.markers_name,
            stream_type=args.type,
            timeout=args.timeout,
            reconnect=args.reconnect,
        )
    except Exception as exc:  # connection refused, no START, bad names: one clear line
        print(f"{prog}: {exc}", file=sys.stderr)  # noqa: T201 - the command's error line
        return 1
    with bridge:
        amp = bridge.amp
        print(  # noqa: T201 - the command's first output line
            f"publishing {args.host}:{args.port} ({amp.start_msg}) as LSL streams {bridge.name!r} "
            f"(source_id {bridge.eeg.source_id}) and {bridge.markers_name!r}. Ctrl+C to stop.",
            flush=True,
        )
        bridge.start()
        paused = False

        def on_tick() -> None:
            nonlocal paused
            if amp.is_streaming == paused:
                paused = not paused
                print(  # noqa: T201 - the command's state changes
                    "paused: " + amp.stop_reason + "; waiting for the RDA server to start again"
                    if paused
                    else "resumed",
                    flush=True,
                )

        def status() -> str:
            return f"{bridge.n_samples} samples  {bridge.n_markers} markers  lost blocks {amp.client.lost_blocks}"

        return run_bridge_loop(
            bridge, prog, duration=args.duration, interval=args.interval, status=status, on_tick=on_tick
        )
