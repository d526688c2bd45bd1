"""``lslacq devices``: the audio devices PortAudio sees and the cameras FFmpeg can open; the JACK dummy rig.

::

    $ lslacq devices list
    audio 0: system (JACK Audio Connection Kit) 2 in / 2 out, 44100 Hz  [default input, default output]
    video /dev/video0: 640x480 at 30 fps (mjpeg, video4linux2)

    $ lslacq devices jack-dummy --rate 48000     # a paced sound card without hardware

The listing itself is :mod:`lslacq.devices.listing` (``list_audio_devices()``, ``list_cameras()``).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..devices import listing

__all__ = ["add_parser", "run_list"]


def _quiet_jack_client() -> None:
    """Keep libjack's "cannot connect to server" lines (no JACK server running) off the listing."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("jack")
    if name is None:
        return
    try:
        lib = ctypes.CDLL(name)
        handler = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(lambda message: None)
        lib.jack_set_error_function(handler)
        lib.jack_set_info_function(handler)
    except (OSError, AttributeError):
        return
    _quiet_jack_client.handler = handler  # keep the callback alive


def run_list(args: argparse.Namespace) -> int:
    """Print one line per audio device and camera (or JSON lines with ``--json``)."""
    rows: list[dict] = []
    notes: list[str] = []
    if not args.video_only:
        _quiet_jack_client()
        try:
            audio = listing.list_audio_devices()
        except ImportError as exc:
            notes.append(f"audio: {exc}")
        else:
            rows += [dict(kind="audio", **d) for d in audio]
            if not audio:
                from ..devices.audio_pyaudio import NO_DEVICE_HINT

                notes.append(f"audio: no device. {NO_DEVICE_HINT}")
    if not args.audio_only:
        if not sys.platform.startswith("linux"):
            notes.append(
                "video: camera listing is implemented for Linux (/dev/video*); elsewhere give WebCamAV "
                "url= and format= (FFmpeg's avfoundation or dshow)"
            )
        else:
            try:
                cameras = listing.list_cameras()
            except ImportError as exc:
                notes.append(f"video: {exc}")
            else:
                rows += [dict(kind="video", **c) for c in cameras if c["ok"] or args.all]
                if not any(c["ok"] for c in cameras):
                    notes.append(
                        "video: no camera ("
                        + (
                            "/dev/video* absent"
                            if not cameras
                            else f"none of {[c['url'] for c in cameras]} can be opened"
                        )
                        + ")"
                    )
    for row in rows:
        if args.json:
            print(json.dumps(row))
        elif row["kind"] == "audio":
            defaults = [k.replace("_", " ") for k in ("default_input", "default_output") if row[k]]
            print(
                f"audio {row['index']}: {row['name']} ({row['host_api']}) {row['inputs']} in / {row['outputs']} "
                f"out, {row['sample_rate']:g} Hz" + (f"  [{', '.join(defaults)}]" if defaults else "")
            )
        elif row["ok"]:
            rate = f" at {row['frame_rate']:g} fps" if row.get("frame_rate") else ""
            print(f"video {row['url']}: {row['width']}x{row['height']}{rate} ({row['codec']}, {row['format']})")
        else:
            print(f"video {row['url']}: unusable: {row['error']}")
    for note in notes:  # with --json, stdout stays JSON lines: a note is {"kind": "note", "about": ..., "message": ...}
        if args.json:
            about, _, message = note.partition(": ")
            print(json.dumps({"kind": "note", "about": about, "message": message}))
        else:
            print(note, file=sys.stderr)
    return 0


def _run_jack(args: argparse.Namespace) -> int:
    from ..devices.emulators.jack import run

    return run(args)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``devices`` sub-command (``list``, ``jack-dummy``) to the ``lslacq`` command."""
    from ..devices.emulators.jack import add_arguments as add_jack_arguments

    parser = subparsers.add_parser(
        "devices",
        help="list audio devices and cameras; run the JACK dummy rig",
        description="Audio devices (PortAudio) and cameras (FFmpeg) on this machine.",
    )
    sub = parser.add_subparsers(dest="devices_command", metavar="ACTION")
    listing = sub.add_parser(
        "list",
        help="the audio devices PortAudio sees and the cameras FFmpeg can open",
        description="One line per audio device (index for PyAudio's input_device_index / "
        "output_device_index) and per camera (url for WebCamAV).",
    )
    listing.add_argument(
        "--json", action="store_true", help='one JSON object per line: each device, and notes as {"kind": "note", ...}'
    )
    listing.add_argument("--all", action="store_true", help="also /dev/video* nodes that cannot be opened, and why")
    group = listing.add_mutually_exclusive_group()
    group.add_argument("--audio", dest="audio_only", action="store_true", help="audio devices only")
    group.add_argument("--video", dest="video_only", action="store_true", help="cameras only")
    listing.set_defaults(func=run_list)
    jack = sub.add_parser(
        "jack-dummy",
        help="run a JACK dummy-backend server: a paced sound card without hardware",
        description="Run `jackd -d dummy` (apt install jackd2) until Ctrl-C; PortAudio then "
        "lists its 'system' device. Clients need JACK_DEFAULT_SERVER=NAME.",
    )
    add_jack_arguments(jack)
    jack.set_defaults(func=_run_jack)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    return parser
