"""Render the viewers' screenshots of docs/viewers.md in real windows (docs/img/*.png).

Each shot feeds a viewer deterministic data through a real stream, draws a
frame in a real window and saves what the X server shows of it as a small
palette PNG. Without ``QT_QPA_PLATFORM``, the windows open on ``$DISPLAY``,
else on an Xvfb server the script starts (96 dpi, so one pixel is one pixel);
``QT_QPA_PLATFORM=offscreen`` renders without any display (the tests do):

    python docs/make_screenshots.py                                      # every shot, real windows
    python docs/make_screenshots.py qoscilloscope --out /tmp/shots       # some, elsewhere
    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py            # no X server at all

Add a shot: a function ``shot_<name>(app) -> widget`` (the widget is closed
after the grab) registered in ``SHOTS``.
"""

from __future__ import annotations

import argparse
import atexit
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
SIZE = (800, 450)


def _choose_display() -> str:
    """Where the windows open: ``QT_QPA_PLATFORM`` if set, else ``$DISPLAY``, else a new Xvfb, else offscreen."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return os.environ["QT_QPA_PLATFORM"]
    if os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "xcb"
        return f"xcb on {os.environ['DISPLAY']}"
    if shutil.which("Xvfb") is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return "offscreen (no DISPLAY and no Xvfb: apt-get install xvfb for real windows)"
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-dpi", "96", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    atexit.register(lambda: (xvfb.terminate(), xvfb.wait(10)))
    os.environ.update(DISPLAY=f":{number}", QT_QPA_PLATFORM="xcb")
    return f"xcb on Xvfb :{number}"


def _pump(app, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for the viewer to receive its data")
        app.processEvents()
        time.sleep(0.005)


def _run_until(app, when: float) -> None:
    """Run the Qt event loop until ``time.monotonic()`` reaches ``when``: the viewers draw at their own rate
    meanwhile (their refresh timers fire on time, so the status line shows the frame rate a user gets).
    """
    from lslacq.viewers._qt import QtCore

    left_ms = int((when - time.monotonic()) * 1000)
    if left_ms <= 0:
        app.processEvents()
        return
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(left_ms, loop.quit)
    loop.exec() if hasattr(loop, "exec") else loop.exec_()


def _send(output, data: np.ndarray, chunk: int, start: int = 0, pause: float = 0.0) -> int:
    index = start
    for i in range(0, len(data), chunk):
        part = data[i : i + chunk]
        index += len(part)
        output.send(part, index=index)
        if pause:
            time.sleep(pause)
    return index


def shot_qoscilloscope(app):
    """16 channels of simulated EEG in uV with DC offsets of tens of mV and stimulus markers: the defaults."""
    from lslacq.core.stream import OutputStream
    from lslacq.devices.simulated_eeg import EEGSimulator
    from lslacq.dsp.events import EVENT_STREAM_SPEC
    from lslacq.viewers import QOscilloscope

    sim = EEGSimulator(nb_channel=16, sample_rate=500.0, event_interval=1.0, seed=3)
    data, events = sim.generate(3500)
    data = data + np.random.default_rng(3).uniform(-50000, 50000, 16).astype("float32")  # DC-coupled amplifier
    signals = OutputStream(name="eeg")
    signals.configure(
        protocol="inproc",
        dtype="float32",
        shape=(-1, 16),
        sample_rate=500.0,
        channel_names=sim.channel_names,
        units="microvolts",
    )
    markers = OutputStream(name="markers")
    markers.configure(protocol="inproc", **EVENT_STREAM_SPEC)
    viewer = QOscilloscope(name="QOscilloscope")
    viewer.configure(with_user_dialog=False)
    viewer.input.connect(signals)
    viewer.inputs["events"].connect(markers)
    viewer.initialize()
    viewer.params.update(xsize=5.0, mode="scroll")
    viewer.resize(*SIZE)
    viewer.show()
    viewer.start()
    markers.send(events)
    last = _send(signals, data[:2000], 50)
    t0 = time.monotonic()
    for start in range(2000, len(data), 50):  # the last 3 s in real time: the status line shows the rate
        last = _send(signals, data[start : start + 50], 50, start=start)
        _pump(app, lambda last=last: viewer.counters()["last_index"] == last)
        _run_until(app, t0 + (start - 1950) / 500.0)
    _pump(app, lambda: viewer.counters()["last_index"] == last and viewer.n_events == len(events))
    viewer.refresh()
    viewer._keep = (signals, markers)
    return viewer


def shot_qoscilloscopemultiplot(app):
    """4 channels of simulated EEG, one scaled up 50x, each in its plot fitted by auto_scale."""
    from lslacq.core.stream import OutputStream
    from lslacq.devices.simulated_eeg import EEGSimulator
    from lslacq.viewers import QOscilloscopeMultiPlot

    sim = EEGSimulator(nb_channel=4, sample_rate=500.0, seed=5)
    data, _ = sim.generate(2500)
    data[:, 3] *= 50.0  # another unit: its own y range
    signals = OutputStream(name="eeg")
    signals.configure(
        protocol="inproc",
        dtype="float32",
        shape=(-1, 4),
        sample_rate=500.0,
        channel_names=sim.channel_names[:4],
        units="microvolts",
    )
    viewer = QOscilloscopeMultiPlot(name="QOscilloscopeMultiPlot")
    viewer.configure(with_user_dialog=False)
    viewer.input.connect(signals)
    viewer.initialize()
    viewer.params.update(xsize=5.0, mode="scroll", show_status=False)
    viewer.resize(*SIZE)
    viewer.show()
    viewer.start()
    last = _send(signals, data.astype("float32"), 50)
    _pump(app, lambda: viewer.counters()["last_index"] == last)
    viewer.auto_scale()
    viewer._keep = (signals,)
    return viewer


def shot_qtriggeredoscilloscope(app):
    """Noisy evoked responses stacked on their trigger: 10 sweeps and their mean."""
    from lslacq.core.stream import OutputStream
    from lslacq.viewers import QTriggeredOscilloscope

    rate = 1000.0
    n = 12000
    rng = np.random.default_rng(7)
    data = np.zeros((n, 2), "float32")
    data[:, 0] = rng.standard_normal(n) * 0.6
    t = np.arange(300) / rate
    response = 4 * np.exp(-(((t - 0.08) / 0.03) ** 2)) - 2.5 * np.exp(-(((t - 0.18) / 0.05) ** 2))
    onsets = np.arange(700, n - 600, 1000) + rng.integers(-150, 150, size=len(range(700, n - 600, 1000)))
    for onset in onsets:
        data[onset : onset + 300, 0] += response
        data[onset : onset + 50, 1] = 5.0  # the stimulus channel the trigger watches
    signals = OutputStream(name="erp")
    signals.configure(
        protocol="inproc",
        dtype="float32",
        shape=(-1, 2),
        sample_rate=rate,
        channel_names=["Cz", "stim"],
        units="microvolts",
    )
    viewer = QTriggeredOscilloscope(name="QTriggeredOscilloscope")
    viewer.configure(with_user_dialog=False, max_stack_size=20)
    viewer.input.connect(signals)
    viewer.initialize()
    viewer.trigger.params.update(channel=1, threshold=2.5, front="+")
    viewer.triggeraccumulator.params.update(left_sweep=-0.1, right_sweep=0.4, stack_size=10)
    viewer.by_channel_params["stim", "visible"] = False
    viewer.resize(*SIZE)
    viewer.show()
    viewer.start()
    _send(signals, data, 100, pause=0.01)  # 10x real time: the trigger keeps up with the accumulator
    _pump(app, lambda: viewer.triggeraccumulator.total_trig == len(onsets))
    viewer._drawn = None
    viewer.refresh()
    viewer._keep = (signals,)
    return viewer


def shot_qtimefreq(app, freq_scale: str = "linear"):
    """Morlet scalograms: a chirp (5 to 45 Hz) and alpha bursts in noise, two columns, axes and colour bars."""
    from lslacq.core.stream import OutputStream
    from lslacq.viewers import QTimeFreq

    rate, seconds = 500.0, 12.0
    n = int(rate * seconds)
    t = np.arange(n) / rate
    rng = np.random.default_rng(5)
    data = np.empty((n, 2), "float32")
    data[:, 0] = np.sin(2 * np.pi * (5 * t + 40 / (2 * seconds) * t**2))  # 5 Hz -> 45 Hz
    bursts = (np.sin(2 * np.pi * 0.35 * t) > 0.3).astype(float)
    data[:, 1] = bursts * np.sin(2 * np.pi * 10 * t) + 0.3 * rng.standard_normal(n)
    signals = OutputStream(name="tf")
    signals.configure(
        protocol="inproc",
        dtype="float32",
        shape=(-1, 2),
        sample_rate=rate,
        channel_names=["chirp", "alpha"],
        units="microvolts",
    )
    viewer = QTimeFreq(name="QTimeFreq")
    viewer.configure(with_user_dialog=False, max_xsize=10.0)
    viewer.input.connect(signals)
    viewer.initialize()
    viewer.params.update({"xsize": 8.0, "nb_column": 2, "colormap": "viridis", "freq_scale": freq_scale})
    for key, value in dict(f_start=2.0, f_stop=50.0, deltafreq=1.0).items():
        viewer.params["timefreq", key] = value
    for name in ("chirp", "alpha"):
        viewer.by_channel_params[name, "clim"] = 1.3
    _pump(app, lambda: not viewer._rebuild_pending and viewer.freqs.max() < 50)
    viewer.resize(*SIZE)
    viewer.show()
    viewer.start()
    last = _send(signals, data, 100)
    _pump(app, lambda: all(w.head == last for w in viewer.workers))
    drawn = viewer.maps_drawn
    viewer.refresh()
    _pump(app, lambda: viewer.maps_drawn >= drawn + 2)
    viewer._keep = (signals,)
    return viewer


def shot_qtimefreq_log(app):
    """Render the same scalograms with freq_scale='log'."""
    return shot_qtimefreq(app, freq_scale="log")


def _colour_bars(height: int = 240, width: int = 320) -> np.ndarray:
    frame = np.zeros((height, width, 3), np.uint8)
    bars = [
        (255, 255, 255),
        (255, 255, 0),
        (0, 255, 255),
        (0, 255, 0),
        (255, 0, 255),
        (255, 0, 0),
        (0, 0, 255),
        (40, 40, 40),
    ]
    for k, colour in enumerate(bars):
        frame[: height * 3 // 4, k * width // 8 : (k + 1) * width // 8] = colour
    frame[height * 3 // 4 :] = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
    return frame


def _imageviewer(app, frames, **configure):
    """Render an ImageViewer showing ``frames`` (one per video), each sent once through its own stream."""
    from lslacq.core.stream import OutputStream
    from lslacq.viewers import ImageViewer

    viewer = ImageViewer(name="ImageViewer")
    viewer.configure(num_video=len(frames), **configure)
    streams = []
    for i, frame in enumerate(frames):
        video = OutputStream(name=f"video{i}")
        video.configure(
            protocol="inproc",
            streamtype="image/video",
            dtype=frame.dtype.name,
            shape=(-1,) + frame.shape,
            sample_rate=30.0,
        )
        viewer.inputs[f"video{i}"].connect(video)
        streams.append(video)
    viewer.initialize()
    viewer.resize(*SIZE)
    viewer.show()
    viewer.start()
    for video, frame in zip(streams, frames, strict=True):
        video.send(frame[np.newaxis])
    _pump(app, lambda: viewer.frames_received == len(frames))
    viewer._keep = tuple(streams)
    return viewer


def shot_imageviewer(app):
    """Render an RGB test frame (colour bars over a grey ramp)."""
    return _imageviewer(app, [_colour_bars()])


def shot_imageviewer_grid(app):
    """Four videos in two columns: colour bars, a grey uint8 checkerboard, smaller RGB quadrants, a float disc."""
    y, x = np.mgrid[0:240, 0:240]
    checkers = ((x // 30 + y // 30) % 2 * 128 + x // 2).astype(np.uint8)
    quadrants = np.zeros((120, 160, 3), np.uint8)
    quadrants[:60, :80], quadrants[:60, 80:] = (255, 0, 0), (0, 255, 0)
    quadrants[60:, :80], quadrants[60:, 80:] = (0, 0, 255), (255, 255, 255)
    dy, dx = np.mgrid[-100:100, -100:100]
    disc = np.clip(1.0 - np.hypot(dx, dy) / 90.0, 0.0, 1.0).astype(np.float32)
    return _imageviewer(app, [_colour_bars(), checkers, quadrants, disc], nb_column=2)


def shot_qdigitaloscilloscope(app):
    """Eight TTL lines packed in one uint8 word: clocks, a strobe, a burst."""
    from lslacq.core.stream import OutputStream
    from lslacq.viewers import QDigitalOscilloscope

    rate, n = 1000.0, 2000
    i = np.arange(n)
    lines = [
        (i // 50) % 2,
        (i // 100) % 2,
        (i // 200) % 2,
        (i % 250) < 5,
        (i % 400) < 120,
        ((i > 600) & (i < 700)) | ((i > 1500) & (i < 1540)),
        (i // 25) % 2 * (i > 1000),
        (i % 700) == 0,
    ]
    words = np.zeros((n, 1), np.uint8)
    for bit, line in enumerate(lines):
        words[:, 0] |= np.asarray(line, dtype=np.uint8) << bit
    ttl = OutputStream(name="ttl")
    ttl.configure(protocol="inproc", streamtype="digitalsignal", dtype="uint8", shape=(-1, 1), sample_rate=rate)
    viewer = QDigitalOscilloscope(name="QDigitalOscilloscope")
    viewer.configure(with_user_dialog=False)
    viewer.input.connect(ttl)
    viewer.initialize()
    viewer.params.update(xsize=2.0, mode="scroll", show_bottom_axis=True)
    viewer.resize(*SIZE)
    viewer.show()
    viewer.start()
    last = _send(ttl, words[:1000], 100)
    t0 = time.monotonic()
    for start in range(1000, n, 50):  # the last second in real time: the status line shows the rate
        last = _send(ttl, words[start : start + 50], 50, start=start)
        _pump(app, lambda last=last: viewer.counters()["last_index"] == last)
        _run_until(app, t0 + (start - 950) / rate)
    viewer._keep = (ttl,)
    return viewer


SHOTS = {
    "qoscilloscope": shot_qoscilloscope,
    "qoscilloscopemultiplot": shot_qoscilloscopemultiplot,
    "qtriggeredoscilloscope": shot_qtriggeredoscilloscope,
    "qtimefreq": shot_qtimefreq,
    "qtimefreq_log": shot_qtimefreq_log,
    "imageviewer": shot_imageviewer,
    "imageviewer_grid": shot_imageviewer_grid,
    "qdigitaloscilloscope": shot_qdigitaloscilloscope,
}


def save_png(widget, path: pathlib.Path, colors: int = 128) -> int:
    """Grab ``widget`` and save it as a palette PNG; return its size in bytes."""
    from PIL import Image

    from lslacq.viewers._qt import QtWidgets, qimage_to_array

    app = QtWidgets.QApplication.instance()
    if app.platformName() == "xcb":  # what the X server shows of the window
        pixmap = widget.screen().grabWindow(int(widget.winId()))
    else:
        pixmap = widget.grab()
    image = Image.fromarray(qimage_to_array(pixmap.toImage())[..., :3])
    if image.size != SIZE:  # a screen with a device pixel ratio other than 1
        image = image.resize(SIZE, Image.Resampling.LANCZOS)
    image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path.stat().st_size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"shots to make (default all: {', '.join(SHOTS)})")
    parser.add_argument("--out", default=str(HERE / "img"), help="output folder (default docs/img)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(SHOTS))
    if unknown:
        parser.error(f"unknown shots {unknown}; known: {sorted(SHOTS)}")
    where = _choose_display()
    from lslacq.viewers._qt import mkQApp

    app = mkQApp()
    print(f"windows: {where} (platform {app.platformName()})", flush=True)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.names or list(SHOTS):
        widget = SHOTS[name](app)
        try:
            timer = getattr(widget, "_refresh_timer", None)
            if timer is not None:  # the frames drawn while the window settles get no data: the status
                timer.stop()  # line would show the rate dropping; the shot is the frame of the last data
            app.processEvents()
            widget.grab()  # the first grab lays the window out
            app.processEvents()
            if hasattr(widget, "refresh"):
                widget.refresh()
            deadline = time.monotonic() + 0.5  # let the window system show the last frame
            while time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.01)
            size = save_png(widget, out / f"{name}.png")
        finally:
            widget.close()
            for stream in getattr(widget, "_keep", ()):
                stream.close()
        print(f"{out / (name + '.png')}: {size // 1024} KiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
