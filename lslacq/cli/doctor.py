"""``lslacq doctor``: can this machine run lslacq's viewers, LSL, audio and video? Each check says how to fix it.

::

    $ lslacq doctor
    ok    Qt platform 'xcb': PyQt5 opens windows
    ok    LSL: liblsl 1.16 (pylsl 1.16.2)
    FAIL  PortAudio: PyAudio is not installed
          fix: pip install 'lslacq[audio]'  (and sudo apt-get install portaudio19-dev)
    ...

The Qt check starts Qt in a child process (Qt aborts a process whose
platform plugin cannot load), names the shared libraries the plugin misses
and prints the ``apt-get install`` line (see :mod:`lslacq.qtcheck`).
Exit code 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import importlib.util
import os
import sys
from collections.abc import Callable

__all__ = [
    "Check",
    "add_parser",
    "check_audio",
    "check_lsl",
    "check_network",
    "check_qt",
    "check_video",
    "run_checks",
    "run_doctor",
]


@dataclasses.dataclass
class Check:
    """One line of the report: ``ok``, what was checked, what was found, and the fix when not ok."""

    ok: bool
    name: str
    found: str
    fix: str = ""
    warning: bool = False  # not ok, but optional (e.g. no camera)

    def lines(self) -> list[str]:
        """Return the report lines of the check: the status line, and the fix when there is one."""
        status = "warn" if self.warning else ("ok  " if self.ok else "FAIL")
        out = [f"{status}  {self.name}: {self.found}"]
        if self.fix:
            out.append(f"      fix: {self.fix}")
        return out


def check_qt(platform: str | None = None) -> list[Check]:
    """Qt: the binding, the default platform plugin (a window), and offscreen (screenshots without display)."""
    from ..qtcheck import QT_APT_PACKAGES, check_platform, default_platform, headless_platform

    if importlib.util.find_spec("pyqtgraph") is None:
        return [Check(False, "Qt", "pyqtgraph is not installed", "pip install 'lslacq[qt]'")]
    platform = platform or default_platform()
    result = check_platform(platform)
    checks = []
    if result.ok:
        checks.append(
            Check(
                True,
                f"Qt platform {platform!r}",
                f"{result.binding} opens {'windows' if not headless_platform(platform) else 'offscreen windows'}",
            )
        )
    elif not result.binding:
        checks.append(Check(False, "Qt", result.detail or "no Qt binding", "pip install 'lslacq[qt]'"))
        return checks
    else:
        found = f"Qt cannot start: {result.detail.splitlines()[-1] if result.detail else 'unknown reason'}"
        if not result.has_display:
            found = "no display to open windows on"
        elif result.missing:
            found = f"the plugin cannot load {', '.join(result.missing)}"
        checks.append(Check(False, f"Qt platform {platform!r}", found, result.advice()))
    if platform != "offscreen":
        off = check_platform("offscreen")
        checks.append(
            Check(
                off.ok,
                "Qt platform 'offscreen'",
                "screenshots without a display work" if off.ok else off.detail or "fails",
                "" if off.ok else f"sudo apt-get install {' '.join(QT_APT_PACKAGES)}",
            )
        )
    return checks


def check_lsl() -> list[Check]:
    """Check the LSL library (pylsl and the liblsl it loads) and the LSL configuration in use."""
    if importlib.util.find_spec("pylsl") is None:
        return [Check(False, "LSL", "pylsl is not installed", "pip install 'lslacq[lsl]'")]
    try:
        import pylsl

        version = pylsl.library_version()
    except Exception as exc:  # RuntimeError: liblsl not found
        return [
            Check(
                False,
                "LSL",
                f"pylsl cannot load liblsl ({exc})",
                "pip install --force-reinstall pylsl (its wheel ships liblsl), or install liblsl and set "
                "PYLSL_LIB to it",
            )
        ]
    major, minor = divmod(int(version), 100)
    config = os.environ.get("LSLAPICFG")
    where = f"; config {config}" if config else ""
    return [Check(True, "LSL", f"liblsl {major}.{minor} (pylsl {getattr(pylsl, '__version__', '?')}){where}")]


def check_audio() -> list[Check]:
    """PortAudio through PyAudio, and the input devices it sees."""
    if importlib.util.find_spec("pyaudio") is None:
        return [
            Check(
                False,
                "PortAudio",
                "PyAudio is not installed",
                "pip install 'lslacq[audio]' (building it needs: sudo apt-get install portaudio19-dev)",
                warning=True,
            )
        ]
    try:
        import pyaudio

        from ..devices.listing import list_audio_devices

        with _quiet_stderr():  # PortAudio's probe of JACK/ALSA prints its failures on fd 2
            version = pyaudio.get_portaudio_version_text()
            devices = list_audio_devices()
    except Exception as exc:
        return [
            Check(
                False,
                "PortAudio",
                f"PortAudio does not start ({exc})",
                "sudo apt-get install libportaudio2 (and a sound server: pulseaudio, pipewire or jackd2)",
            )
        ]
    inputs = [d for d in devices if d["inputs"] > 0]
    if not inputs:
        return [
            Check(
                True,
                "PortAudio",
                f"{version}: no input device",
                "connect a microphone, or run `lslacq devices jack-dummy` for a device without hardware",
                warning=True,
            )
        ]
    return [Check(True, "PortAudio", f"{version}: {len(inputs)} input device(s), e.g. {inputs[0]['name']!r}")]


@contextlib.contextmanager
def _quiet_stderr():
    """Send what C libraries write on file descriptor 2 to /dev/null for the ``with`` block."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def check_video() -> list[Check]:
    """Check the video backend (PyAV / FFmpeg) and the V4L2 cameras."""
    if importlib.util.find_spec("av") is None:
        return [Check(False, "video", "PyAV is not installed", "pip install 'lslacq[video]'", warning=True)]
    try:
        import av

        version = av.__version__
        ffmpeg = ".".join(str(v) for v in av.library_versions.get("libavcodec", ()))
    except Exception as exc:
        return [Check(False, "video", f"PyAV does not load ({exc})", "pip install --force-reinstall av")]
    cameras = sorted(glob.glob("/dev/video*"))
    found = f"PyAV {version} (libavcodec {ffmpeg or '?'}), cameras: {', '.join(cameras) or 'none'}"
    return [Check(True, "video", found, "" if cameras or sys.platform != "linux" else "")]


def check_network() -> list[Check]:
    """Check the network interfaces that are up with an IPv4 address (what LSL and remote nodegroups use)."""
    import socket

    import psutil

    stats = psutil.net_if_stats()
    up = []
    for name, addrs in psutil.net_if_addrs().items():
        ipv4 = [a.address for a in addrs if a.family == socket.AF_INET]
        if ipv4 and stats.get(name) is not None and stats[name].isup:
            up.append(f"{name} {', '.join(ipv4)}")
    loopback = any(part.split()[1].startswith("127.") for part in up if len(part.split()) > 1)
    if not loopback:
        return [
            Check(
                False,
                "network",
                f"interfaces up: {'; '.join(up) or 'none'}",
                "bring the loopback interface up (sudo ip link set lo up): local streams use 127.0.0.1",
            )
        ]
    others = [u for u in up if not u.split()[1].startswith("127.")]
    fix = "" if others else "only loopback: LSL streams and nodegroups on other hosts are not reachable"
    return [Check(True, "network", "; ".join(up), fix, warning=not others)]  # ok, with a note


_CHECKS: dict[str, Callable[[], list[Check]]] = {
    "qt": check_qt,
    "lsl": check_lsl,
    "audio": check_audio,
    "video": check_video,
    "network": check_network,
}


def run_checks(only=None, platform: str | None = None) -> list[Check]:
    """Run the checks (all, or those named in ``only``: qt, lsl, audio, video, network)."""
    results: list[Check] = []
    for name, check in _CHECKS.items():
        if only and name not in only:
            continue
        try:
            results.extend(check(platform) if name == "qt" else check())
        except Exception as exc:  # a check that breaks is a finding, not a crash of the doctor
            results.append(Check(False, name, f"the check itself failed: {exc!r}"))
    return results


def run_doctor(args) -> int:
    """Run ``lslacq doctor`` with parsed arguments; return the exit code (1 if a check failed)."""
    results = run_checks(args.only, getattr(args, "platform", None))
    for result in results:
        for line in result.lines():
            print(line, flush=True)
    failed = [r for r in results if not r.ok and not r.warning]
    warned = [r for r in results if r.warning]
    passed = len(results) - len(failed) - len(warned)
    print(f"lslacq doctor: {passed} ok, {len(warned)} warning(s), {len(failed)} failed", flush=True)
    return 1 if failed else 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``doctor`` sub-command (entry point of the ``lslacq.commands`` group)."""
    parser = subparsers.add_parser(
        "doctor",
        help="check Qt (windows), LSL, PortAudio, video and the network on this machine",
        description="Check what lslacq needs from this machine and say how to fix what is missing: the Qt "
        "platform plugin (started in a child process; missing libraries and the apt-get line), "
        "the LSL library, PortAudio, the video backend and the network interfaces.",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(_CHECKS),
        metavar="CHECK",
        help=f"run only these checks ({', '.join(_CHECKS)})",
    )
    parser.add_argument(
        "--platform",
        default=None,
        metavar="NAME",
        help="the Qt platform plugin to check (default: QT_QPA_PLATFORM, else xcb on Linux)",
    )
    parser.set_defaults(func=run_doctor)
    return parser
