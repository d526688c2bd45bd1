"""``lslacq doctor`` and the Qt platform preflight: a missing plugin library or display is named, with the fix."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lslacq.qtcheck import QT_APT_PACKAGES, apt_packages_for, check_platform


def _doctor(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "lslacq.cli", "doctor", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def _broken_library_env(tmp_path, soname="libxcb-icccm.so.4"):
    """LD_LIBRARY_PATH with an empty file in place of one of the xcb plugin's libraries: it cannot load."""
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / soname).write_bytes(b"")
    return dict(os.environ, LD_LIBRARY_PATH=str(libs), DISPLAY=os.environ.get("DISPLAY", ":0"))


@pytest.mark.slow
def test_doctor_names_the_library_the_xcb_plugin_misses_and_the_apt_line(tmp_path):
    run = _doctor("--only", "qt", "--platform", "xcb", env=_broken_library_env(tmp_path))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL  Qt platform 'xcb': the plugin cannot load libxcb-icccm.so.4" in run.stdout
    assert "sudo apt-get install libxcb-icccm4" in run.stdout
    assert "ok    Qt platform 'offscreen'" in run.stdout  # screenshots still work
    assert "1 failed" in run.stdout


@pytest.mark.slow
def test_check_platform_without_a_display_says_so():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = check_platform("xcb", env=env)
    assert not result.ok and not result.has_display
    assert "DISPLAY is not set" in result.advice() and "QT_QPA_PLATFORM=offscreen" in result.advice()
    assert check_platform("offscreen", env=env).ok
    run = _doctor("--only", "qt", "--platform", "xcb", env=env)
    assert run.returncode == 1 and "FAIL  Qt platform 'xcb': no display to open windows on" in run.stdout, run.stdout
    assert "xvfb-run" in run.stdout and "ok    Qt platform 'offscreen'" in run.stdout


@pytest.mark.slow
def test_doctor_reports_every_check():
    run = _doctor()
    assert run.returncode in (0, 1), run.stderr
    for name in ("Qt platform", "LSL:", "PortAudio", "video", "network: lo 127.0.0.1"):
        assert name in run.stdout, (name, run.stdout)
    assert "lslacq doctor:" in run.stdout.splitlines()[-1]
    assert "jack" not in run.stderr.lower(), run.stderr  # PortAudio's probe of JACK is kept off the terminal


@pytest.mark.slow
def test_a_qt_nodegroup_without_display_fails_with_the_reason_and_the_fix():
    from lslacq.core.rpc import ProcessSpawner

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    code = (
        "from lslacq.core.rpc import ProcessSpawner\n"
        "try:\n    ProcessSpawner(qt=True, name='gui').stop()\nexcept RuntimeError as exc:\n    print(exc)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert "cannot open Qt windows" in run.stdout and "DISPLAY is not set" in run.stdout, run.stdout + run.stderr
    assert "xvfb-run" in run.stdout
    assert ProcessSpawner is not None


@pytest.mark.slow
def test_lslacq_run_of_a_graph_with_a_viewer_without_display_says_why_and_how_to_fix():
    """The shipped graph whose QOscilloscope lives in a Qt nodegroup, no DISPLAY, no QT_QPA_PLATFORM.

    One sentence with the reason and the fixes, not Qt's abort ('exited with code -6') nor a child's traceback.
    """
    import pathlib

    graph = pathlib.Path(__file__).resolve().parents[2] / "examples" / "graphs" / "lsl_filter_scope.toml"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    run = subprocess.run(
        [sys.executable, "-m", "lslacq.cli", "run", str(graph), "--set", "stream=no-such-stream", "--duration", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "process 'gui' cannot open Qt windows (its viewers): there is no display" in run.stderr, run.stderr
    assert "DISPLAY is not set" in run.stderr and "xvfb-run" in run.stderr
    assert "QT_QPA_PLATFORM=offscreen" in run.stderr
    assert "Traceback" not in run.stderr and "code -6" not in run.stderr
    assert "parent process is gone" not in run.stderr  # the child gave up by itself: no watchdog warning


@pytest.mark.slow
def test_a_qt_nodegroup_missing_a_library_names_it_and_the_apt_line(tmp_path):
    """A graph's viewer process on a desktop that lacks one of the xcb plugin's libraries.

    The library and the apt line, not Qt's abort.
    """
    env = _broken_library_env(tmp_path)
    env.pop("QT_QPA_PLATFORM", None)
    code = (
        "from lslacq.core.rpc import ProcessSpawner\n"
        "try:\n    ProcessSpawner(qt=True, name='gui').stop()\nexcept RuntimeError as exc:\n    print(exc)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert "process 'gui' cannot open Qt windows (its viewers)" in run.stdout, run.stdout + run.stderr
    assert "cannot load libxcb-icccm.so.4" in run.stdout and "sudo apt-get install libxcb-icccm4" in run.stdout


def test_apt_packages_for_the_plugins_libraries():
    assert apt_packages_for(["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-xinerama.so.0", "libfoo.so"]) == [
        "libxcb-icccm4",
        "libxcb-keysyms1",
        "libxcb-xinerama0",
    ]
    assert {"libxcb-icccm4", "libxcb-keysyms1", "libxcb-xinerama0", "libxkbcommon-x11-0"} <= set(QT_APT_PACKAGES)


def test_ci_installs_the_packages_qt_needs():
    import pathlib

    run_script = (pathlib.Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    block = run_script.split("APT_PACKAGES=(")[1].split("\n)")[0]
    apt = [word for line in block.splitlines() for word in line.split("#")[0].split()]
    assert set(QT_APT_PACKAGES) <= set(apt) and "xvfb" in apt
