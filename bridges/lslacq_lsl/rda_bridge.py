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

import argparse
import logging
import signal
import sys
import threading
import time

from lslacq.devices.brainampsocket import BrainAmpSocket
from lslacq.devices.rda.protocol import DEFAULT_PORT_FLOAT32

from .outlet import LslOutlet

__all__ = ["RdaLslBridge", "add_parser", "run_bridge"]

logger = logging.getLogger(__name__)


class RdaLslBridge:
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

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT_FLOAT32, name: str = "BrainAmp",
                 markers_name: str | None = None, stream_type: str = "EEG", timeout: float = 10.0,
                 reconnect: bool = False):
        self.name = name
        self.markers_name = markers_name or f"{name}-Markers"
        if self.markers_name == name:
            raise ValueError(f"RdaLslBridge: the EEG and marker streams need different names, both are {name!r}")
        self.amp = BrainAmpSocket(name=f"rda-{name}")
        self.eeg = LslOutlet(name=f"lsl-{name}")
        self.markers = LslOutlet(name=f"lsl-{self.markers_name}")
        self._started = False
        try:
            self.amp.configure(brainamp_host=host, brainamp_port=port, timeout=timeout, reconnect=reconnect)
            for output in self.amp.outputs.values():
                output.configure(protocol="inproc")
            self.eeg.configure(name=name, type=stream_type)
            self.markers.configure(name=self.markers_name, type="Markers", reference=name)
            self.eeg.inputs["signals"].connect(self.amp.outputs["signals"])
            self.markers.inputs["signals"].connect(self.amp.outputs["triggers"])
            for node in (self.eeg, self.markers, self.amp):
                node.initialize()
        except BaseException:
            self.close()
            raise

    @property
    def n_samples(self) -> int:
        """Samples published on the EEG stream."""
        return self.eeg.n_pushed

    @property
    def n_markers(self) -> int:
        """Markers published on the marker stream."""
        return self.markers.n_pushed

    @property
    def error(self) -> BaseException | None:
        """The first failure of the RDA connection or of an outlet, if any."""
        return self.amp.error or self.eeg.error or self.markers.error

    def start(self) -> "RdaLslBridge":
        """Start publishing (connects to the RDA server)."""
        self.eeg.start()
        self.markers.start()
        self.amp.start()
        self._started = True
        return self

    def stop(self, drain_timeout: float = 5.0) -> None:
        """Stop reading RDA, publish what was already received, stop the outlets.

        ``bridge.amp.stop()`` alone stops reading while the (then idle) LSL
        streams stay up.
        """
        if not self._started:
            return
        self._started = False
        if self.amp.running():
            self.amp.stop()
        sent = self.amp.outputs["signals"].last_index
        deadline = time.monotonic() + drain_timeout
        while self.eeg.n_pushed < sent and self.eeg.error is None and time.monotonic() < deadline:
            time.sleep(0.01)
        self.eeg.stop()
        self.markers.stop()

    def close(self) -> None:
        """Stop and destroy the outlets (LSL consumers see the streams vanish)."""
        try:
            self.stop()
        finally:
            for node in (self.amp, self.eeg, self.markers):
                node.close()

    def __enter__(self) -> "RdaLslBridge":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``bridge`` sub-command (``lslacq bridge rda``) to the ``lslacq`` command."""
    parser = subparsers.add_parser("bridge", help="bridge a device protocol to LSL (rda)",
                                   description="Bridge a device protocol to the Lab Streaming Layer.")
    sub = parser.add_subparsers(dest="bridge_command", metavar="SOURCE")
    rda = sub.add_parser(
        "rda", help="BrainVision Recorder RDA -> LSL EEG and marker streams",
        description="Read BrainAmp data from BrainVision Recorder's RDA server (or `lslacq rda-emulator`) and "
                    "publish it as an LSL EEG stream (microvolts, channel names) and an LSL marker stream "
                    "timestamped on the EEG samples. Follows Recorder's stop/start cycles (the pause is a gap "
                    "in time); stops on Ctrl-C, --duration, or when the server goes away (exit status 1).")
    rda.add_argument("--host", default="127.0.0.1", help="RDA server address (default 127.0.0.1)")
    rda.add_argument("--port", type=int, default=DEFAULT_PORT_FLOAT32,
                     help="RDA port: 51244 float32 (default), 51234 int16")
    rda.add_argument("--name", default="BrainAmp", help="LSL name of the EEG stream (default BrainAmp)")
    rda.add_argument("--markers-name", default=None, help="LSL name of the marker stream (default NAME-Markers)")
    rda.add_argument("--type", default="EEG", help="LSL content type of the EEG stream (default EEG)")
    rda.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server's START message")
    rda.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    rda.add_argument("--reconnect", action="store_true",
                     help="when the RDA connection is lost, keep the LSL streams and reconnect (instead of exiting)")
    rda.add_argument("--interval", type=float, default=1.0, metavar="S", help="seconds between status lines")
    rda.set_defaults(func=run_bridge)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    return parser


def run_bridge(args) -> int:
    """Run ``lslacq bridge rda``; return the exit code."""
    if args.interval <= 0 or (args.duration is not None and args.duration <= 0):
        print("lslacq bridge rda: --interval and --duration must be > 0 seconds", file=sys.stderr)
        return 2
    try:
        bridge = RdaLslBridge(args.host, args.port, name=args.name, markers_name=args.markers_name,
                              stream_type=args.type, timeout=args.timeout, reconnect=args.reconnect)
    except Exception as exc:  # connection refused, no START, bad names: one clear line
        print(f"lslacq bridge rda: {exc}", file=sys.stderr)
        return 1
    with bridge:
        amp = bridge.amp
        print(f"publishing {args.host}:{args.port} ({amp.start_msg}) as LSL streams {bridge.name!r} "
              f"(source_id {bridge.eeg.source_id}) and {bridge.markers_name!r}. Ctrl+C to stop.", flush=True)
        bridge.start()
        t0 = time.monotonic()
        next_status = t0 + args.interval
        paused = False
        terminated = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: terminated.set())
        try:
            while not terminated.wait(min(0.1, args.interval)):
                if bridge.error is not None:
                    print(f"lslacq bridge rda: stopped: {bridge.error}", file=sys.stderr)
                    return 1
                if amp.is_streaming == paused:
                    paused = not paused
                    print("paused: " + amp.stop_reason + "; waiting for the RDA server to start again" if paused
                          else "resumed", flush=True)
                now = time.monotonic()
                if now >= next_status:
                    next_status += args.interval
                    print(f"{now - t0:7.1f} s  {bridge.n_samples} samples  {bridge.n_markers} markers  "
                          f"lost blocks {amp.client.lost_blocks}", flush=True)
                if args.duration is not None and now - t0 >= args.duration:
                    return 0
            return 0  # SIGTERM
        except KeyboardInterrupt:
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)
