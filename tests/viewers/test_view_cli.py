"""``lslacq view``: a QOscilloscope on real LSL streams (pylsl outlets on loopback), markers overlaid."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pytest

pylsl = pytest.importorskip("pylsl")

YELLOW = (255, 204, 0)


@pytest.fixture
def lsl_streams():
    """A 4-channel 250 Hz sine stream and a marker stream, pushed live from a thread."""
    name = f"lslacq-view-{uuid.uuid4().hex[:8]}"
    info = pylsl.StreamInfo(name, "EEG", 4, 250.0, "float32", f"{name}-sid")
    markers_info = pylsl.StreamInfo(name + "-markers", "Markers", 1, 0.0, "string", f"{name}-mk-sid")
    outlet = pylsl.StreamOutlet(info)
    marker_outlet = pylsl.StreamOutlet(markers_info)
    stop = threading.Event()

    def push():
        k = 0
        next_marker = time.monotonic() + 0.5
        while not stop.wait(0.02):
            t = (k + np.arange(5)) / 250.0
            chunk = np.sin(2 * np.pi * 3 * t)[:, None] * np.array([1, 2, 3, 4])[None, :]
            outlet.push_chunk(chunk.astype("float32").tolist())
            k += 5
            if time.monotonic() >= next_marker:
                marker_outlet.push_sample([f"stim {k}"])
                next_marker += 0.5

    thread = threading.Thread(target=push, name="lsl-pusher")
    thread.start()
    yield name
    stop.set()
    thread.join(10)


@pytest.mark.slow
def test_view_shows_a_stream_and_its_markers(lsl_streams, tmp_path):
    shot = tmp_path / "view.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "lslacq.cli",
            "view",
            lsl_streams,
            lsl_streams + "-markers",
            "--duration",
            "3",
            "--xsize",
            "2",
            "--screenshot",
            str(shot),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    line = [x for x in run.stdout.splitlines() if x.startswith(f"lslacq view: {lsl_streams}:")][0]
    samples, markers = int(line.split(": ")[2].split()[0]), int(line.split(", ")[1].split()[0])
    assert samples > 250 and markers >= 2, line
    assert "lost 0" in line
    from PIL import Image

    image = np.asarray(Image.open(shot).convert("RGB"))
    diff = np.abs(image.astype(int) - np.array(YELLOW)[None, None, :]).max(axis=2)
    marker_columns = np.flatnonzero((diff <= 40).sum(axis=0) > 50)
    assert marker_columns.size >= 2  # the marker lines are drawn
    assert (image.max(axis=2) > 100).sum() > 1000  # and the traces


@pytest.mark.slow
def test_view_errors_name_the_problem(lsl_streams):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "lslacq.cli",
            "view",
            "no-such-stream-" + uuid.uuid4().hex[:6],
            "--timeout",
            "0.5",
            "--duration",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert run.returncode == 1 and "lslacq lsl list" in run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "lslacq.cli", "view", lsl_streams + "-markers", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert run.returncode == 2 and "signal (numeric) stream" in run.stderr


@pytest.mark.slow
def test_view_without_a_display_screenshots_offscreen_by_itself_or_says_why(lsl_streams, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    shot = tmp_path / "headless.png"
    run = subprocess.run(
        [sys.executable, "-m", "lslacq.cli", "view", lsl_streams, "--duration", "2", "--screenshot", str(shot)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "drawing offscreen for the screenshot" in run.stderr
    from PIL import Image

    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert ((image.max(axis=2) - image.min(axis=2)) > 80).any(axis=1).sum() > 50  # the traces were drawn
    run = subprocess.run(
        [sys.executable, "-m", "lslacq.cli", "view", lsl_streams, "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "cannot open a window" in run.stderr and "DISPLAY is not set" in run.stderr
    assert "--screenshot" in run.stderr and "lslacq doctor" in run.stderr
