"""``lslacq demo``: simulated EEG through a graph into LSL.

A :class:`~lslacq.devices.simulated_eeg.SimulatedEEG` device node (32
channels at 500 Hz by default, 1/f background, alpha rhythm, a stimulus event
every second) feeds two :class:`~lslacq_lsl.LslOutlet` nodes: the EEG stream
and a marker stream whose timestamps are those of the EEG samples the events
refer to. The command prints what it publishes, then live counters, until
Ctrl-C or ``--duration``. Any LSL consumer (LabRecorder, mne-lsl,
``StreamWatcher``) sees both streams.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

__all__ = ["add_parser", "run_demo"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``demo`` sub-command (entry point of the ``lslacq.commands`` group)."""
    parser = subparsers.add_parser(
        "demo",
        help="stream simulated EEG + markers to LSL through a graph",
        description="Stream simulated EEG (1/f background, alpha rhythm, evoked responses) and stimulus "
        "markers through an lslacq graph into two LSL outlets. Record them with LabRecorder, "
        "or read them with mne-lsl or lslacq's StreamWatcher. Stops on Ctrl-C or --duration.",
    )
    parser.add_argument(
        "--duration", type=float, default=None, metavar="S", help="stop after S seconds (default: run until Ctrl-C)"
    )
    parser.add_argument("--channels", type=int, default=32, help="number of EEG channels (default 32)")
    parser.add_argument("--rate", type=float, default=500.0, help="sampling rate in Hz (default 500)")
    parser.add_argument("--name", default="lslacq-EEG", help="LSL name of the EEG stream (default lslacq-EEG)")
    parser.add_argument(
        "--markers-name", default="lslacq-Markers", help="LSL name of the marker stream (default lslacq-Markers)"
    )
    parser.add_argument(
        "--event-interval",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds between stimulus events (default 1; 0 for none)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (same seed, same signal)")
    parser.add_argument(
        "--interval", type=float, default=1.0, metavar="S", help="seconds between counter lines (default 1)"
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="do not read the stream back over LSL to check it is visible and complete",
    )
    parser.add_argument(
        "--view",
        action="store_true",
        help="also show the EEG and its markers in a QOscilloscope (needs the qt extra); "
        "closing the window stops the demo",
    )
    parser.set_defaults(func=run_demo)
    return parser


def _fail(message: str) -> int:
    print(f"lslacq demo: {message}", file=sys.stderr)
    return 2


def run_demo(args) -> int:
    """Run the demo with parsed arguments; return the exit code."""
    if args.duration is not None and args.duration <= 0:
        return _fail(f"--duration must be > 0 seconds, got {args.duration}")
    if args.interval <= 0:
        return _fail(f"--interval must be > 0 seconds, got {args.interval}")
    if args.name == args.markers_name:
        return _fail("--name and --markers-name must differ")

    from lslacq.devices.simulated_eeg import SimulatedEEG

    from .outlet import LslOutlet

    # Ctrl-C and SIGTERM (kill, systemd, `timeout`) stop the demo cleanly (see _Stop)
    stop = _Stop()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, stop)
    try:
        return _run(args, SimulatedEEG, LslOutlet, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Stop:
    """The demo's Ctrl-C / SIGTERM handler.

    Without a window it raises KeyboardInterrupt (which interrupts a blocking wait at once). With ``--view``
    it only sets :attr:`event`: Python runs signal handlers inside whatever Qt slot is executing (a
    pyqtgraph parameter slot of the open Options dialog), where an exception is printed and swallowed and
    the demo went on; the monitor loop sees the event within 50 ms instead.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.qt = False

    def __call__(self, signum, frame) -> None:
        self.event.set()
        if not self.qt:
            raise KeyboardInterrupt


def _free_stream_names(eeg_name: str, markers_name: str, wait: float = 0.5) -> tuple[str, str]:
    """Names no LSL outlet on the network publishes yet: ``eeg_name``/``markers_name``, else ``NAME-2``, ``-3``...

    Two demos at once must not publish identical names (and so identical
    source_ids): LabRecorder, ``lsl watch`` and mne-lsl could not tell them apart.
    """
    import pylsl

    if "'" in eeg_name + markers_name:  # not expressible in the resolver's query: publish as asked
        return eeg_name, markers_name
    query = f"starts-with(name,'{eeg_name}') or starts-with(name,'{markers_name}')"
    taken = {info.name() for info in pylsl.resolve_bypred(query, minimum=1000, timeout=wait)}  # all, in `wait`
    if eeg_name not in taken and markers_name not in taken:
        return eeg_name, markers_name
    k = 2
    while f"{eeg_name}-{k}" in taken or f"{markers_name}-{k}" in taken:
        k += 1
    return f"{eeg_name}-{k}", f"{markers_name}-{k}"


def _run(args, SimulatedEEG, LslOutlet, stop: _Stop) -> int:
    eeg_name, markers_name = _free_stream_names(args.name, args.markers_name)
    if (eeg_name, markers_name) != (args.name, args.markers_name):
        print(
            f"lslacq demo: {args.name!r} or {args.markers_name!r} is already published (another lslacq demo?); "
            f"this one publishes {eeg_name!r} and {markers_name!r} (choose with --name/--markers-name)",
            flush=True,
        )
        args.name, args.markers_name = eeg_name, markers_name

    device = SimulatedEEG(name="simulated-eeg")
    eeg = LslOutlet(name="eeg-outlet")
    markers = LslOutlet(name="marker-outlet")
    nodes = [device, eeg, markers]
    watcher = viewer = None
    try:
        try:
            device.configure(
                nb_channel=args.channels, sample_rate=args.rate, event_interval=args.event_interval, seed=args.seed
            )
        except ValueError as exc:
            return _fail(str(exc))
        for output in device.outputs.values():
            output.configure(protocol="inproc")
        eeg.configure(name=args.name, type="EEG")
        markers.configure(name=args.markers_name, type="Markers", reference="eeg-outlet")
        eeg.inputs["signals"].connect(device.outputs["signals"])
        markers.inputs["signals"].connect(device.outputs["events"])
        for node in nodes:
            node.initialize()
        if getattr(args, "view", False):
            stop.qt = True
            viewer = _make_view(device)
            nodes.append(viewer)

        sim = device.simulator
        print(f"lslacq demo: simulated {device.nb_channel}-channel EEG at {device.sample_rate:g} Hz -> LSL")
        print(
            f"  EEG     {eeg.info.name()!r}  type={eeg.info.type()!r}  {eeg.info.channel_count()} ch float32 "
            f"{eeg.info.nominal_srate():g} Hz  unit=microvolts  source_id={eeg.source_id!r}"
        )
        print(
            f"  markers {markers.info.name()!r}  type={markers.info.type()!r}  1 ch string irregular  "
            f"source_id={markers.source_id!r}"
        )
        shown = ", ".join(sim.channel_names[:8]) + (", ..." if device.nb_channel > 8 else "")
        print(f"  channels: {shown}; alpha {sim.alpha_freq:g} Hz over occipital sites")
        if sim.event_interval:
            print(
                f"  events: 'S  1' / 'S  2' alternating every {sim.event_interval:g} s, each with an evoked "
                "response (N100/P300) in the EEG"
            )
        print("  record: open LabRecorder, Update, tick both streams, Start; or `lslacq lsl list` to see them")
        print("  stop: Ctrl-C" + (f" (or after {args.duration:g} s)" if args.duration else ""), flush=True)

        if not args.no_verify:
            watcher = _connect_watcher(args.name, args.rate)
        for node in (eeg, markers, device) + ((viewer,) if viewer is not None else ()):
            node.start()
        return _monitor(args, device, eeg, markers, watcher, viewer, stop.event)
    except KeyboardInterrupt:
        print("\nlslacq demo: interrupted", flush=True)
        return 0
    finally:
        if watcher is not None:
            watcher.disconnect()
        for node in nodes:
            node.close()


def _connect_watcher(name: str, rate: float):
    from lslacq.errors import LslacqError

    from .stream_watcher import StreamWatcher

    watcher = StreamWatcher(name, buffer_size_s=max(2.0, 4096 / rate), timeout=5.0)
    try:
        watcher.connect_to_stream()
    except LslacqError as exc:
        print(
            f"  warning: cannot read the stream back over LSL ({exc}); check lsl_api.cfg / the network",
            file=sys.stderr,
            flush=True,
        )
        return None
    return watcher


def _make_view(device):
    """Show a QOscilloscope on the device's EEG with its events (``--view``) and return it."""
    from lslacq.viewers._qt import mkQApp

    from .view_cli import make_viewer

    mkQApp()
    viewer = make_viewer(
        device.outputs["signals"], device.outputs["events"], name="lslacq demo: EEG + markers", xsize=5.0
    )  # lslacq view's frame rate (DEFAULT_FPS)
    viewer.show()  # at the viewer's window_size (1600x1000, at most 90 % of the screen)
    return viewer


def _pause(seconds: float, viewer) -> None:
    """Sleep, or run the viewer's Qt event loop for that long (``--view``).

    A real event loop, so the viewer's refresh timer fires on time (processing events, then sleeping up to
    10 ms, delayed it). Ctrl-C is seen at the viewer's next refresh (Python runs signal handlers between Qt
    events), within a frame.
    """
    if viewer is None:
        time.sleep(seconds)
        return
    from lslacq.viewers._qt import QtCore, mkQApp

    mkQApp()
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(max(1, int(seconds * 1000)), loop.quit)
    loop.exec() if hasattr(loop, "exec") else loop.exec_()


def _monitor(args, device, eeg, markers, watcher, viewer=None, stop: threading.Event | None = None) -> int:
    t_start = time.monotonic()
    stop = stop or threading.Event()
    next_print = t_start + args.interval
    tty = sys.stdout.isatty()
    received = 0
    last = (t_start, 0)
    try:
        while True:
            now = time.monotonic()
            if args.duration is not None and now - t_start >= args.duration:
                break
            if stop.is_set():
                print("\nlslacq demo: interrupted", flush=True)
                break
            _pause(max(0.0, min(0.05, next_print - now)), viewer)
            if stop.is_set():
                continue
            if viewer is not None and not viewer.isVisible():
                break  # the window was closed
            if viewer is not None and time.monotonic() - t_start > 1.0 and not getattr(viewer, "_scaled", False):
                viewer.auto_scale()
                viewer._scaled = True
            if watcher is not None:
                watcher.update()
                received = watcher.n_total
            failed = [n for n in (device, eeg, markers) if n.error is not None]
            if failed:
                for node in failed:
                    print(f"\nlslacq demo: {node.name} failed: {node.error!r}", file=sys.stderr)
                return 1
            if time.monotonic() >= next_print:
                next_print += args.interval
                now = time.monotonic()
                rate = (eeg.n_pushed - last[1]) / max(now - last[0], 1e-9)
                last = (now, eeg.n_pushed)
                line = _counter_line(now - t_start, rate, device, eeg, markers, watcher, received)
                print(("\r" + line) if tty else line, end="" if tty else "\n", flush=True)
    except KeyboardInterrupt:
        print("\nlslacq demo: interrupted", flush=True)
    elapsed = time.monotonic() - t_start
    device.stop()
    # let the outlet publish what the device sent, and the read-back catch up (bounded waits)
    deadline = time.monotonic() + 2.0
    while eeg.n_pushed < device.n_sent - device.n_skipped and time.monotonic() < deadline:
        time.sleep(0.01)
    if watcher is not None:
        while time.monotonic() < deadline and watcher.n_total < eeg.n_pushed:
            watcher.update()
            time.sleep(0.01)
        received = watcher.n_total
    summary = (
        f"lslacq demo: published {eeg.n_pushed} EEG samples and {markers.n_pushed} markers in "
        f"{elapsed:.1f} s ({eeg.n_pushed / max(elapsed, 1e-9):.1f} samples/s)"
    )
    if watcher is not None:
        status = "complete" if received == eeg.n_pushed else f"{eeg.n_pushed - received} missing"
        summary += f"; read back over LSL: {received} ({status})"
    if viewer is not None and not viewer.closed():
        shown = viewer.counters()
        summary += f"; viewer: {shown['samples_in']} samples, {shown['events']} markers, {shown['frames']} frames"
    print(("\n" if tty else "") + summary, flush=True)
    return 0


def _counter_line(elapsed, rate, device, eeg, markers, watcher, received) -> str:
    # drift: how much later (ms) than its index-derived timestamp the newest sample reached the outlet,
    # relative to the first chunk (which defines the time axis)
    drift_ms = eeg.clock.lag * 1e3 if eeg.clock is not None and eeg.clock.anchored else float("nan")
    parts = [
        f"[{elapsed:7.1f} s]",
        f"EEG samples {eeg.n_pushed:>9d} ({rate:6.1f} Hz)",
        f"markers {markers.n_pushed:>5d}",
        f"drift {drift_ms:+5.1f} ms",
    ]
    if watcher is not None:
        parts.append(f"read back over LSL {received:>9d}")
    else:
        parts.append(f"LSL consumers {'yes' if eeg.have_consumers() else 'no'}")
    if device.n_skipped:
        parts.append(f"skipped {device.n_skipped}")
    return "  ".join(parts)
