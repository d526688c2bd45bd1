"""``lslacq replay FILE``: publish a recorded file's streams on LSL, with their original timing.

A file MNE reads (FIF, EDF/BDF, BrainVision .vhdr...) or a RawRecorder
directory is played by :class:`lslacq.rec.FileReplay`: its signal becomes one
LSL stream and its annotations/events a marker stream whose timestamps are
those of the samples they mark. An ``.xdf`` file is played by
:class:`lslacq.rec.XdfReplay`: every stream (markers included) is published
again, with its recorded type, channel labels, units and types.
Timestamps of regular streams are exactly ``1/rate`` apart (what mne-lsl's
Player does for one stream, here for all of them).

A replay never passes for the live source: XDF streams are published as
NAME-replay (source_id SOURCE_ID-replay), and the streams of other files as
the file's stem (source_id STEM-replay); --suffix changes the "-replay"
("--suffix ''" republishes an XDF's recorded names and source_ids).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

__all__ = ["add_parser", "run_replay", "build_replay", "file_stem"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``replay`` sub-command (entry point of the ``lslacq.commands`` group)."""
    parser = subparsers.add_parser(
        "replay",
        help="publish a recorded file (FIF, EDF/BDF, .vhdr, XDF, lslacq recording) on LSL",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="the file (or RawRecorder directory) to replay")
    parser.add_argument(
        "--name",
        help="LSL stream name (MNE files and recordings; default: the file's stem); the markers stream is NAME-Markers",
    )
    parser.add_argument(
        "--suffix",
        default="-replay",
        help="added to XDF stream names and to every source_id, so a replay is never taken for "
        "the live source (default -replay; '' keeps an XDF's recorded names and source_ids)",
    )
    parser.add_argument("--type", default="EEG", help="LSL type of the signal stream (default EEG)")
    parser.add_argument("--speed", type=float, default=1.0, help="playback speed (default 1.0: real time)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N", help="play N times (default 1)")
    parser.add_argument("--loop", action="store_true", help="play until interrupted")
    parser.add_argument("--start", type=float, default=0.0, metavar="S", help="start at S seconds into the file")
    parser.add_argument("--stream", help="for a recording with several signal streams: which one")
    parser.add_argument(
        "--wait-consumers",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for a consumer (e.g. LabRecorder) on every stream before playing",
    )
    parser.add_argument(
        "--linger",
        type=float,
        default=2.0,
        metavar="S",
        help="keep the outlets open S seconds after the end, for consumers to pull the tail",
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.set_defaults(func=run_replay)
    return parser


def _fail(message: str) -> int:
    print(f"lslacq replay: {message}", file=sys.stderr)
    return 2


def file_stem(path: Path) -> str:
    """Return the file's name without its extension (``.fif.gz`` counts as one): the default LSL stream name."""
    name = path.name
    for ext in (".fif.gz", ".nii.gz"):
        if name.lower().endswith(ext):
            return name[: -len(ext)] or "replay"
    return (path.stem if path.suffix else name) or "replay"


def build_replay(args) -> tuple:
    """Create (not yet initialized) the replay node and one LslOutlet per output; return ``(replay, outlets)``."""
    from .outlet import LslOutlet

    path = Path(args.file)
    n_repeat = None if args.loop else args.repeat
    suffix = getattr(args, "suffix", "-replay")
    outlets = {}
    if path.suffix.lower() == ".xdf":
        from lslacq.rec.xdf_replay import XdfReplay

        replay = XdfReplay(name="replay")
        replay.configure(filename=path, speed=args.speed, n_repeat=n_repeat)
        ref_node = f"out-{replay.reference}" if replay.reference else None
        for out_name, out in replay.outputs.items():
            stream = replay.streams[out_name]
            out.configure(protocol="inproc")
            outlet = LslOutlet(name=f"out-{out_name}")
            # max_clock_drift=None: timestamps follow the sample indexes (the file's spacing), whatever the speed
            kwargs = dict(
                name=f"{stream.name or out_name}{suffix}",
                type=stream.type or None,
                max_clock_drift=None,
                source_id=f"{stream.source_id or stream.name or out_name}{suffix}",
            )
            if stream.is_marker and ref_node:
                kwargs["reference"] = ref_node
            elif not stream.is_marker and not stream.sample_rate:
                kwargs["nominal_srate"] = 0
            outlet.configure(**kwargs)
            outlet.inputs["signals"].connect(out)
            outlets[out_name] = outlet
    else:
        from lslacq.rec.replay import FileReplay

        replay = FileReplay(name="replay")
        replay.configure(filename=path, speed=args.speed, n_repeat=n_repeat, start=args.start, stream=args.stream)
        name = args.name or file_stem(path)
        signals = LslOutlet(name="out-signals")
        signals.configure(name=name, type=args.type, max_clock_drift=None, source_id=f"{name}{suffix}")
        replay.outputs["signals"].configure(protocol="inproc")
        signals.inputs["signals"].connect(replay.outputs["signals"])
        outlets["signals"] = signals
        if len(replay.source.events.samples):
            replay.outputs["events"].configure(protocol="inproc")
            markers = LslOutlet(name="out-events")
            markers.configure(
                name=f"{name}-Markers",
                type="Markers",
                reference="out-signals",
                max_clock_drift=None,
                source_id=f"{name}-Markers{suffix}",
            )
            markers.inputs["signals"].connect(replay.outputs["events"])
            outlets["events"] = markers
    return replay, outlets


def run_replay(args) -> int:
    """Run ``lslacq replay`` with parsed arguments; return the exit code."""
    if not args.speed > 0:
        return _fail(f"--speed must be > 0, got {args.speed}")
    if args.repeat < 1:
        return _fail(f"--repeat must be >= 1, got {args.repeat} (use --loop to play forever)")
    if args.duration is not None and args.duration <= 0:
        return _fail(f"--duration must be > 0 seconds, got {args.duration}")
    previous = None
    if threading.current_thread() is threading.main_thread():  # `kill` stops it as cleanly as Ctrl-C
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        try:
            replay, outlets = build_replay(args)
        except (OSError, ValueError, ImportError) as exc:
            return _fail(str(exc))
        nodes = [replay, *outlets.values()]
        try:
            return _play(args, replay, outlets)
        finally:
            for node in nodes:
                node.close()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def _play(args, replay, outlets) -> int:
    for outlet in outlets.values():
        outlet.initialize()
    replay.initialize()
    for outlet in outlets.values():
        print(
            f"publishing {outlet.stream_name!r} ({'markers' if outlet.is_events else f'{outlet.n_channels} ch'}, "
            f"source_id {outlet.source_id})",
            flush=True,
        )
    try:
        if args.wait_consumers > 0:
            deadline = time.monotonic() + args.wait_consumers
            for outlet in outlets.values():
                if not outlet.wait_for_consumers(max(0.0, deadline - time.monotonic())):
                    print(
                        f"lslacq replay: no consumer on {outlet.stream_name!r} after {args.wait_consumers:g} s; "
                        "playing anyway",
                        file=sys.stderr,
                        flush=True,
                    )
        for outlet in outlets.values():
            outlet.start()
        t0 = time.monotonic()
        replay.start()
        next_line = t0 + 1.0
        while not replay.wait_finished(0.05):
            now = time.monotonic()
            if args.duration is not None and now - t0 >= args.duration:
                break
            failed = [n for n in (replay, *outlets.values()) if n.error is not None]
            if failed:
                print(f"lslacq replay: {failed[0].name} failed: {failed[0].error}", file=sys.stderr)
                return 1
            if now >= next_line:
                next_line += 1.0
                print(
                    f"[{now - t0:6.1f} s] " + "  ".join(f"{o.stream_name}: {o.n_pushed}" for o in outlets.values()),
                    flush=True,
                )
        _wait_pushed(replay, outlets, timeout=10)
        what = "replay finished" if replay.wait_finished(0) else f"replay stopped after {args.duration:g} s"
        print(f"{what}: " + ", ".join(f"{o.stream_name} {o.n_pushed}" for o in outlets.values()), flush=True)
        time.sleep(args.linger)  # consumers (LabRecorder pulls every ~0.5 s) get the tail before the outlets go
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    return 0


def _wait_pushed(replay, outlets, timeout: float) -> None:
    """Wait until every outlet has pushed what the replay sent it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = True
        for key, outlet in outlets.items():
            out = replay.outputs[key]
            sent = int(out.last_index) if not outlet.is_events else None
            if sent is not None and outlet.n_pushed < sent:
                done = False
        if done:
            return
        time.sleep(0.02)
