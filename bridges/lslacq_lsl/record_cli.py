"""``lslacq record --lsl NAME... -o DIR|FILE.xdf``: record LSL streams to a RawRecorder directory or an XDF file.

The format follows the output: a name ending in ``.xdf`` is an XDF file
(LabRecorder's format), written as LabRecorder does (each stream's full LSL
header, its timestamps as sent, a clock-offset measurement every 5 s, a
StreamFooter at the end) and crash-safe: whole chunks reach the disk at least
every --flush-interval seconds, so after a crash the file loads in pyxdf as
it is. Anything else is a RawRecorder directory:

Each stream is read by an :class:`~lslacq_lsl.LslInlet` and recorded with its
LSL timestamps (stream ``NAME`` and ``NAME_timestamps``). Marker streams are
recorded as event streams whose indexes are samples of the first regular
stream given, so ``read_recording(DIR).to_mne()`` annotates that signal.
A progress line (samples, drops, file size) is printed every second;
Ctrl-C (or SIGTERM, or ``--duration``) stops and closes the files cleanly.

With --rcs [PORT], nothing is recorded until a script sends LabRecorder's
remote-control commands (select all, filename {root:...} {template:...}
{participant:...} ..., start, stop) to 127.0.0.1:PORT (default 22345): the
scripts and dareplane modules written for LabRecorder drive it unchanged;
each start records an XDF file named by the filename fields. --require
NAME... refuses a start while those streams are missing, naming them.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import time
from pathlib import Path

__all__ = ["add_parser", "run_record"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``record`` sub-command (entry point of the ``lslacq.commands`` group)."""
    parser = subparsers.add_parser(
        "record",
        help="record LSL streams to an XDF file or a RawRecorder directory",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--lsl",
        nargs="+",
        metavar="NAME",
        help="LSL stream names to record (with --rcs: the only candidates; default every stream)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="DIR|FILE.xdf",
        help="FILE.xdf: an XDF file; else a recording directory (must not exist). With --rcs: the "
        "study root (default: the current directory)",
    )
    parser.add_argument(
        "--rcs",
        nargs="?",
        type=int,
        const=22345,
        metavar="PORT",
        help="wait for LabRecorder's remote-control commands on 127.0.0.1:PORT (default 22345; 0: "
        "any free port): select all/none, start, stop, update, filename {root:...} ...",
    )
    parser.add_argument(
        "--require",
        nargs="+",
        default=[],
        metavar="NAME",
        help="with --rcs: refuse to start until these streams are present",
    )
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S", help="seconds to find each stream")
    parser.add_argument(
        "--flush-interval",
        type=float,
        default=1.0,
        metavar="S",
        help="longest time data waits in memory before reaching the disk (default 1 s)",
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.set_defaults(func=run_record)
    return parser


def _fail(message: str) -> int:
    print(f"lslacq record: {message}", file=sys.stderr)
    return 2


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def _file_name(name: str, used: set) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip(".") or "stream"
    out, k = base, 1
    while out in used or f"{out}_timestamps" in used:
        k += 1
        out = f"{base}_{k}"
    used.update((out, f"{out}_timestamps"))
    return out


def run_record(args) -> int:
    """Run ``lslacq record`` with parsed arguments; return the exit code."""
    if args.duration is not None and args.duration <= 0:
        return _fail(f"--duration must be > 0 seconds, got {args.duration}")
    if args.rcs is not None:
        return _run_rcs(args)
    if not args.lsl or not args.output:
        return _fail(
            "say which streams to record and where: --lsl NAME... -o DIR|FILE.xdf (or --rcs to be driven "
            "by LabRecorder's remote-control commands)"
        )
    if args.require:
        return _fail("--require is for --rcs (a recording given --lsl NAME... waits for those streams)")
    if Path(args.output).exists():
        return _fail(f"{args.output!r} already exists; a recording never overwrites: choose a new -o DIR")
    if args.output.lower().endswith(".xdf"):
        if args.flush_interval <= 0:
            return _fail(f"--flush-interval must be > 0 seconds for an XDF file, got {args.flush_interval}")
        return _run_xdf(args)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    nodes = []
    try:
        from lslacq.errors import LslacqError
        from lslacq.rec.rawrecorder import RawRecorder

        from .inlet import LslInlet

        inlets = {}
        used: set = set()
        try:
            for i, name in enumerate(args.lsl):
                inlet = LslInlet(name=f"in{i}")
                nodes.append(inlet)
                # a recorder needs no low latency: everything queued every 0.1 s (few wake-ups)
                inlet.configure(name=name, resolve_timeout=args.timeout, pull_interval=0.1)
                inlets[_file_name(name, used)] = inlet
        except (LslacqError, ValueError) as exc:
            return _fail(str(exc))
        regular = [n for n in inlets.values() if not n.is_markers and n.description.nominal_srate > 0]
        ref = regular[0] if regular else None
        streams = {}
        for key, inlet in inlets.items():
            if inlet.is_markers and ref is not None:
                inlet.reference = ref.name  # event index = sample of the reference signal
                inlet.outputs["signals"].spec["sample_rate"] = ref.description.nominal_srate
                inlet.outputs["signals"].spec["reference"] = ref.description.name
            for out in inlet.outputs.values():
                out.configure(protocol="inproc")
            streams[key] = inlet.outputs["signals"]
            streams[f"{key}_timestamps"] = inlet.outputs["timestamps"]
        recorder = RawRecorder(name="recorder")
        nodes.append(recorder)
        try:
            recorder.configure(streams=streams, dirname=args.output, flush_interval=args.flush_interval)
        except (OSError, ValueError) as exc:
            return _fail(str(exc))
        recorder.add_annotations(
            lsl_streams={
                k: dict(
                    name=n.description.name,
                    type=n.description.type,
                    source_id=n.description.source_id,
                    hostname=n.description.hostname,
                )
                for k, n in inlets.items()
            }
        )
        for node in nodes:
            node.initialize()
        recorder.start()
        for inlet in inlets.values():
            inlet.start()
        print(f"recording {', '.join(repr(n) for n in args.lsl)} to {args.output} (Ctrl-C to stop)", flush=True)
        return _monitor(args, recorder, inlets)
    finally:
        for node in nodes:  # the inlets first; then the recorder drains what they already sent
            try:
                if node.running():
                    node.stop()
            except Exception as exc:  # keep closing the others
                print(f"lslacq record: stopping {node.name} failed: {exc}", file=sys.stderr)
        for node in nodes:
            node.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if Path(args.output).exists():
            if any(node.error is not None for node in nodes):
                print(
                    f"lslacq record: stopped by that error; {args.output} keeps what was written before it "
                    f"(lslacq.rec.read_recording({args.output!r}) reads it)",
                    file=sys.stderr,
                    flush=True,
                )
            else:
                print(f"recording finished: {args.output}", flush=True)


def _progress(t: float, recorder, inlets: dict) -> str:
    counters = recorder.counters()
    parts = []
    for key, inlet in inlets.items():
        # the inlet's indexes skip the samples missing in a gap: the recorder's input counts them with its own
        drops = recorder.inputs[key].lost_samples
        parts.append(f"{key}: {inlet.n_received} {'markers' if inlet.is_markers else 'samples'}, {drops} drops")
    return f"[{t:7.1f} s] " + " | ".join(parts) + f" | {counters['bytes_written'] / 1e6:.2f} MB"


def _wait_until(deadline: float, event: threading.Event, end: float | None) -> None:
    """Sleep until ``deadline`` (or ``end``), waking at once when ``event`` is set (a failure)."""
    now = time.monotonic()
    event.wait(max(0.0, min(deadline, end if end is not None else deadline) - now))


def _monitor(args, recorder, inlets: dict) -> int:
    t0 = time.monotonic()
    next_line = t0 + 1.0
    end = None if args.duration is None else t0 + args.duration
    failure = threading.Event()  # woken by a failure: one wake-up per progress line otherwise
    for node in (recorder, *inlets.values()):
        node.failed.connect(lambda exc: failure.set())
    try:
        while end is None or time.monotonic() < end:
            _wait_until(next_line, failure, end)
            failed = [n for n in (recorder, *inlets.values()) if n.error is not None]
            if failed:  # the node logged its error (one line, above): not repeated here
                print(f"lslacq record: {failed[0].name} failed", file=sys.stderr, flush=True)
                return 1
            if time.monotonic() >= next_line:
                next_line += 1.0
                print(_progress(time.monotonic() - t0, recorder, inlets), flush=True)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    print(_progress(time.monotonic() - t0, recorder, inlets), flush=True)
    return 0


def _run_xdf(args) -> int:
    """``lslacq record --lsl NAME... -o FILE.xdf``."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    recording = None
    try:
        from lslacq.errors import LslacqError

        from .resolve import resolve_stream
        from .xdf_record import LslXdfRecording

        try:
            infos = [resolve_stream(name=name, timeout=args.timeout) for name in args.lsl]
            recording = LslXdfRecording(args.output, infos, flush_interval=args.flush_interval, timeout=args.timeout)
        except (LslacqError, OSError, ValueError) as exc:
            return _fail(str(exc))
        failure = threading.Event()
        recording.on_error = lambda exc: failure.set()  # said once, by the monitor
        print(f"recording {', '.join(repr(n) for n in args.lsl)} to {args.output} (Ctrl-C to stop)", flush=True)
        return _monitor_xdf(args, recording, failure)
    finally:
        if recording is not None:
            try:
                recording.stop()
            except OSError as exc:
                print(f"lslacq record: closing {args.output} failed: {exc}", file=sys.stderr, flush=True)
            else:
                if recording.error is not None:
                    print(
                        f"lslacq record: stopped by that error; {args.output} ends after its last whole chunk "
                        f"(`lslacq xdf check {args.output}` says what it holds)",
                        file=sys.stderr,
                        flush=True,
                    )
                else:
                    print(f"recording finished: {args.output}", flush=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _progress_xdf(t: float, recording) -> str:
    parts = [
        f"{key}: {n} {'markers' if s.is_string else 'samples'}"
        for (key, n), s in zip(recording.counts().items(), recording.streams, strict=True)
    ]
    return f"[{t:7.1f} s] " + " | ".join(parts) + f" | {recording.writer.bytes_written / 1e6:.2f} MB"


def _monitor_xdf(args, recording, failure: threading.Event) -> int:
    t0 = time.monotonic()
    next_line = t0 + 1.0
    end = None if args.duration is None else t0 + args.duration
    try:
        while end is None or time.monotonic() < end:
            _wait_until(next_line, failure, end)
            if recording.error is not None:
                print(f"lslacq record: {recording.error}", file=sys.stderr, flush=True)
                return 1
            if time.monotonic() >= next_line:
                next_line += 1.0
                print(_progress_xdf(time.monotonic() - t0, recording), flush=True)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    print(_progress_xdf(time.monotonic() - t0, recording), flush=True)
    return 0


def _run_rcs(args) -> int:
    """``lslacq record --rcs [PORT]``: LabRecorder's remote control socket."""
    from .rcs import RcsController, RcsServer

    root = args.output or "."
    if Path(root).exists() and not Path(root).is_dir():
        return _fail(f"with --rcs, -o is the study root directory; {root!r} is a file")
    from .xdf_record import LslXdfRecording

    def record(path, infos):
        return LslXdfRecording(path, infos, flush_interval=args.flush_interval, timeout=args.timeout)

    controller = RcsController(
        root=root, names=args.lsl, require=args.require, record=record, say=lambda text: print(text, flush=True)
    )
    try:
        server = RcsServer(controller, port=args.rcs)
    except OSError as exc:
        return _fail(
            f"cannot listen on 127.0.0.1:{args.rcs}: {exc.strerror or exc} (is LabRecorder or another "
            "lslacq record --rcs running? choose another --rcs PORT)"
        )
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    thread = threading.Thread(target=server.serve_forever, kwargs=dict(poll_interval=0.1), name="rcs", daemon=True)
    thread.start()
    print(f"RCS listening on 127.0.0.1:{server.port} (LabRecorder's remote control; Ctrl-C to quit)", flush=True)
    t0 = time.monotonic()
    try:
        while args.duration is None or time.monotonic() - t0 < args.duration:
            time.sleep(0.05)
            recording = controller.recording
            if recording is not None and recording.error is not None:
                print(f"lslacq record: {recording.error}", file=sys.stderr, flush=True)
                return 1
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        server.shutdown()
        server.server_close()
        controller.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
