"""Can Qt open a window here? The platform plugin check behind ``lslacq doctor`` and the viewers' start.

Qt aborts the whole process (SIGABRT, exit code 134 / -6) when its platform
plugin cannot load: a missing system library (``libxcb-icccm4``...) or no
display. Nothing can catch that in the process itself, so
:func:`check_platform` runs the same load in a child Python (the binding the
viewers use, :mod:`lslacq.viewers._qt`) and, when it fails, names the missing
libraries (from Qt's plugin debug output and ``ldd`` of the plugin) and the
``apt-get install`` line that adds them. This module imports no Qt.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys

__all__ = [
    "QT_APT_PACKAGES",
    "QtCheck",
    "apt_packages_for",
    "check_platform",
    "default_platform",
    "headless_platform",
    "preflight",
]

#: the Debian/Ubuntu packages Qt's xcb platform plugin (PyQt5/PySide6 wheels) needs beyond a minimal system
QT_APT_PACKAGES = (
    "libxcb-icccm4",
    "libxcb-image0",
    "libxcb-keysyms1",
    "libxcb-render-util0",
    "libxcb-xinerama0",
    "libxcb-xkb1",
    "libxkbcommon-x11-0",
    "libxcb-randr0",
    "libxcb-shape0",
    "libxcb-xfixes0",
    "libxcb-cursor0",
    "libxcb-shm0",
    "libxcb-sync1",
    "libxcb-util1",
    "libx11-xcb1",
    "libxkbcommon0",
    "libegl1",
    "libgl1",
    "libfontconfig1",
    "libdbus-1-3",
    "libglib2.0-0",
)

# shared library (soname) -> Debian/Ubuntu package
_SONAME_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}

_HEADLESS = ("offscreen", "minimal", "vnc", "linuxfb", "eglfs")

_CHILD = r"""
import sys
from lslacq.viewers._qt import QT_LIB, QtWidgets, mkQApp
app = mkQApp()
print("QTCHECK-OK", QT_LIB, app.platformName(), flush=True)
"""


@dataclasses.dataclass
class QtCheck:
    """Outcome of :func:`check_platform`.

    Attributes
    ----------
    ok : bool
        Qt started with the platform plugin.
    platform : str
        The plugin tried (``'xcb'``, ``'wayland'``, ``'offscreen'``...).
    binding : str
        The Qt binding (``'PyQt5'``...), or ``''`` if it did not load.
    missing : list of str
        Shared libraries the plugin could not load (sonames).
    packages : list of str
        The Debian/Ubuntu packages that provide them.
    detail : str
        Qt's own words (the last lines of its output) when it failed.
    has_display : bool
        Whether the child's environment named a display (DISPLAY, or WAYLAND_DISPLAY for wayland).
    """

    ok: bool
    platform: str
    binding: str = ""
    missing: list = dataclasses.field(default_factory=list)
    packages: list = dataclasses.field(default_factory=list)
    detail: str = ""
    has_display: bool = True

    def advice(self) -> str:
        """Say what to do about a failure, in a sentence or two (empty if ok)."""
        if self.ok:
            return ""
        if self.missing:
            packages = self.packages or list(QT_APT_PACKAGES)
            return (
                f"the Qt platform plugin {self.platform!r} cannot load {', '.join(self.missing)}: "
                f"sudo apt-get install {' '.join(packages)}"
            )
        if self.platform in ("xcb", "wayland") and (
            not self.has_display or "could not connect to display" in self.detail
        ):
            where = "DISPLAY is not set" if not self.has_display else "the display does not answer"
            return (
                f"there is no display for the Qt platform plugin {self.platform!r} ({where}): run on a "
                "desktop, over `ssh -X`, under `xvfb-run`, or headless with QT_QPA_PLATFORM=offscreen "
                "(screenshots only)"
            )
        if "could not find the qt platform plugin" in self.detail.lower():
            return (
                f"Qt finds no {self.platform!r} platform plugin (QT_QPA_PLATFORM_PLUGIN_PATH / QT_PLUGIN_PATH "
                "point elsewhere?); reinstall the binding: pip install --force-reinstall PyQt5"
            )
        return (
            f"Qt could not start with the platform plugin {self.platform!r}; on Debian/Ubuntu install the "
            f"libraries Qt needs: sudo apt-get install {' '.join(QT_APT_PACKAGES)}"
        )


def _has_display(platform: str, env: dict) -> bool:
    if platform == "wayland":
        return bool(env.get("WAYLAND_DISPLAY"))
    return bool(env.get("DISPLAY"))


def default_platform(env: dict | None = None) -> str:
    """Return the platform plugin Qt will use: ``QT_QPA_PLATFORM``, else xcb on Linux (cocoa, windows elsewhere)."""
    env = os.environ if env is None else env
    chosen = (env.get("QT_QPA_PLATFORM") or "").split(":")[0].split(";")[0].strip()
    if chosen:
        return chosen
    if sys.platform == "darwin":
        return "cocoa"
    if sys.platform.startswith("win"):
        return "windows"
    return "xcb"


def headless_platform(platform: str) -> bool:
    """Whether ``platform`` needs no display (offscreen, minimal...)."""
    return platform in _HEADLESS


def apt_packages_for(sonames) -> list[str]:
    """Debian/Ubuntu packages providing the shared libraries ``sonames`` (unknown ones are left out)."""
    out: list[str] = []
    for name in sonames:
        package = _SONAME_PACKAGES.get(name)
        if package and package not in out:
            out.append(package)
    return out


def _plugin_files(platform: str) -> list[pathlib.Path]:
    """List the binding's platform plugin and its Qt platform library, for ``ldd``."""
    files = []
    for binding, qt_dir in (("PyQt5", "Qt5"), ("PySide6", "Qt"), ("PyQt6", "Qt6")):
        spec = importlib.util.find_spec(binding)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = pathlib.Path(list(spec.submodule_search_locations)[0])
        for base in (root / qt_dir, root):
            plugin = base / "plugins" / "platforms" / f"libq{platform}.so"
            if plugin.exists():
                files.append(plugin)
                files.extend(sorted((base / "lib").glob("libQt*XcbQpa.so*"))[:1] if platform == "xcb" else [])
                return files
    return files


def _ldd_missing(files, env: dict) -> list[str]:
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    missing: list[str] = []
    for path in files:
        try:
            run = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=20, env=env)
        except (OSError, subprocess.TimeoutExpired):
            continue
        for line in run.stdout.splitlines():
            if "not found" in line:
                name = line.split("=>")[0].strip()
                if name not in missing:
                    missing.append(name)
    return missing


def check_platform(platform: str | None = None, env: dict | None = None, timeout: float = 60.0) -> QtCheck:
    """Start Qt with ``platform`` in a child Python and report whether it worked, and if not why.

    Parameters
    ----------
    platform : str, optional
        The platform plugin to try (default: the one Qt would choose, :func:`default_platform`).
    env : dict, optional
        The child's environment (default: this process's).
    timeout : float
        Seconds the child may take.

    Returns
    -------
    QtCheck
    """
    env = dict(os.environ if env is None else env)
    platform = platform or default_platform(env)
    env["QT_QPA_PLATFORM"] = platform
    env["QT_DEBUG_PLUGINS"] = "1"
    has_display = _has_display(platform, env)
    try:
        run = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return QtCheck(False, platform, detail=f"Qt did not start within {timeout} s", has_display=has_display)
    for line in run.stdout.splitlines():
        if line.startswith("QTCHECK-OK"):
            parts = line.split()
            return QtCheck(True, platform, binding=parts[1] if len(parts) > 1 else "", has_display=has_display)
    text = run.stderr
    missing: list[str] = []
    for match in re.finditer(r"Cannot load library [^:]*: \(([^:]+): ", text):
        name = os.path.basename(match.group(1).strip())
        if name not in missing and not name.startswith("libq"):
            missing.append(name)
    for name in _ldd_missing(_plugin_files(platform), env):
        if name not in missing:
            missing.append(name)
    lines = [
        ln
        for ln in text.splitlines()
        if ln.strip()
        and not ln.startswith(("QFactoryLoader", "Found metadata", "Got keys", "loaded library", "  ", "{", "}", '"'))
    ]
    binding = ""
    if "ImportError" in text or "ModuleNotFoundError" in text:
        detail = lines[-1] if lines else text[-300:]
    else:
        detail = "\n".join(lines[-4:])
        binding = "?"
    return QtCheck(
        False,
        platform,
        binding=binding,
        missing=missing,
        packages=apt_packages_for(missing),
        detail=detail,
        has_display=has_display,
    )


def preflight(need_window: bool = True) -> str | None:
    """Why Qt cannot open a window in this process, or None if it can (or the platform needs no display).

    Cheap when Qt is already running or the platform is headless; otherwise
    it runs :func:`check_platform` once (a child Python, about a second).
    """
    for binding in ("PyQt5", "PySide6", "PyQt6", "PySide2"):  # a binding this process already runs
        widgets = sys.modules.get(f"{binding}.QtWidgets")
        if widgets is not None and widgets.QApplication.instance() is not None:
            return None
    platform = default_platform()
    if headless_platform(platform) or platform in ("cocoa", "windows"):
        return None
    if platform in ("xcb", "wayland") and not _has_display(platform, os.environ):
        return QtCheck(False, platform, has_display=False).advice()
    result = check_platform(platform)
    if result.ok:
        return None
    said = result.detail.strip().splitlines()[0] if result.detail.strip() else ""
    return result.advice() + (f" (Qt said: {said.strip()})" if said else "")
