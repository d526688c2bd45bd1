"""``lslacq view NAME...``: look at any LSL stream in a QOscilloscope, with its markers.

Each named signal stream (numeric channel format) is read by an
:class:`~lslacq_lsl.LslInlet` into a :class:`~lslacq.viewers.QOscilloscope`;
a named marker stream (string format) is read by a second LslInlet whose
``reference`` is the signal's inlet, so every marker is drawn as a labelled
vertical line at the sample it belongs to. The window's status line shows
the effective rate, the samples the display skipped and the latency.

Qt is imported only when the command runs (``pip install 'lslacq[qt,lsl]'``).
:func:`make_viewer` and :func:`run_qt` are shared with ``lslacq demo --view``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any

__all__ = ["DEFAULT_FPS", "add_parser", "make_viewer", "refresh_interval_ms", "run_qt", "run_view"]

#: frames per second of `lslacq view` and `lslacq demo --view` unless --fps says otherwise
DEFAULT_FPS = 60.0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``view`` sub-command (entry point of the ``lslacq.commands`` group)."""
    parser = subparsers.add_parser(
        "view",
        help="show LSL streams in an oscilloscope, markers overlaid",
        description="Open a QOscilloscope on each named LSL signal stream; a named marker (string) stream is "
        "drawn on them as labelled vertical lines. `lslacq lsl list` shows the stream names.",
    )
    parser.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help="LSL stream names: signal streams (one oscilloscope each) and at most one marker stream",
    )
    parser.add_argument("--xsize", type=float, default=5.0, metavar="S", help="seconds shown (default 5)")
    parser.add_argument(
        "--mode",
        choices=("scroll", "scan"),
        default="scroll",
        help="scroll (newest data on the right, default) or scan (a sweep)",
    )
    parser.add_argument(
        "--scale",
        choices=("by_channel", "same_for_all", "real_scale"),
        default=None,
        help="scale mode (default same_for_all: each channel in its own band, one gain; "
        "by_channel: a gain per channel; real_scale: overlaid in the stream's units)",
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="seconds to wait for each stream (default 5)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="close after S seconds (default: when the window is closed or on Ctrl-C)",
    )
    parser.add_argument(
        "--screenshot",
        metavar="PNG",
        default=None,
        help="save the window to this PNG file when closing (with --duration: a snapshot; "
        "without a display it is drawn offscreen)",
    )
    parser.add_argument(
        "--fps",
        type=float,
        default=DEFAULT_FPS,
        metavar="N",
        help="frames per second (default 60; a full-size frame of 64 channels at 10 kHz takes 5-12 ms)",
    )
    parser.add_argument(
        "--size",
        default=None,
        metavar="WxH",
        help="window size in pixels (default 1600x1000, at most 90%% of the screen; offscreen "
        "1000 wide, 300 + 250 per stream high)",
    )
    parser.set_defaults(func=run_view)
    return parser


def choose_platform(screenshot: str | None) -> str | None:
    """Make sure Qt can start: return why it cannot (and how to fix it), or None.

    Without a usable display (none set, or the platform plugin cannot load),
    a ``--screenshot`` run falls back to the offscreen platform by itself
    (``QT_QPA_PLATFORM=offscreen``); an interactive run gets the reason.
    """
    import os

    from lslacq.qtcheck import default_platform, headless_platform, preflight

    if headless_platform(default_platform()):
        return None
    problem = preflight()
    if problem is None:
        return None
    if screenshot:
        print(
            f"lslacq view: no usable display ({problem.split(':')[0]}); drawing offscreen for the screenshot",
            file=sys.stderr,
            flush=True,
        )
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return None
    return (
        f"cannot open a window: {problem}\n  (`lslacq doctor` checks the whole setup; --screenshot X.png "
        "--duration S works without a display)"
    )


def _fail(message: str, code: int = 2) -> int:
    print(f"lslacq view: {message}", file=sys.stderr, flush=True)
    return code


def refresh_interval_ms(fps: float) -> int:
    """Return the viewer's ``refresh_interval`` for ``fps`` frames per second.

    Whole ms, rounded down so the rate is at least ``fps`` (60 -> 16 ms, 62.5
    fps asked for: a 60 Hz screen shows every frame), 5..1000 ms.
    """
    return int(min(1000, max(5, 1000 // fps)))


def make_viewer(
    signals_output,
    events_output=None,
    name: str = "viewer",
    xsize: float = 5.0,
    mode: str = "scroll",
    scale: str | None = None,
    fps: float | None = DEFAULT_FPS,
):
    """Create, connect and initialize a QOscilloscope on ``signals_output`` (and ``events_output``).

    The QApplication must exist. Returns the viewer (not started, not shown). ``fps``: frames per second
    (:data:`DEFAULT_FPS`; None keeps the viewer's own ``refresh_interval``).
    """
    from lslacq.viewers import QOscilloscope

    viewer = QOscilloscope(name=name)
    viewer.configure(with_user_dialog=True, max_xsize=max(60.0, xsize))
    viewer.input.connect(signals_output)
    if events_output is not None:
        viewer.inputs["events"].connect(events_output)
    viewer.initialize()
    viewer.params.update(xsize=xsize, mode=mode)
    if fps is not None:
        viewer.params["refresh_interval"] = refresh_interval_ms(fps)
    if scale is not None:  # else the default (same_for_all); the viewer scales itself on the first data
        viewer.params["scale_mode"] = scale
    return viewer


def run_qt(
    app,
    window,
    viewers: list,
    duration: float | None = None,
    screenshot: str | None = None,
    rescale_after: tuple = (),
    stop_check=None,
) -> None:
    """Show ``window`` and run the Qt loop until it is closed, Ctrl-C, ``duration`` or ``stop_check()``.

    The viewers scale themselves on their first data; ``rescale_after``
    (seconds after start) forces more :meth:`auto_scale` calls.
    ``screenshot`` saves the window before closing.
    """
    from lslacq.viewers._qt import QtCore

    timers = []

    def every(ms: int, func) -> None:
        timer = QtCore.QTimer()
        timer.timeout.connect(func)
        timer.start(ms)
        timers.append(timer)

    def finish() -> None:
        if screenshot:
            window.grab().save(screenshot)
        app.quit()

    def rescale() -> None:
        for viewer in viewers:
            if viewer.running() and viewer.counters()["samples_in"]:
                viewer.auto_scale()

    for delay in rescale_after:
        QtCore.QTimer.singleShot(int(delay * 1000), rescale)
    if duration is not None:
        QtCore.QTimer.singleShot(int(duration * 1000), finish)
    # Python runs its signal handlers (Ctrl-C, SIGTERM) only between Qt events: tick
    interrupted = []
    every(100, lambda: (stop_check is not None and stop_check()) and finish())
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *a: (interrupted.append(1), finish()))
    try:
        window.show()
        app.exec() if hasattr(app, "exec") else app.exec_()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for timer in timers:
            timer.stop()


def _window_size(app, width: int, height: int, n_viewers: int) -> tuple[int, int]:
    """Return the window size for ``--size`` (0: the default).

    The default is 1600x1000 on a screen (at most 90 % of it), 1000 x (300 +
    250 per viewer) offscreen.
    """
    from lslacq.qtcheck import headless_platform
    from lslacq.viewers.widgetnode import fitted_window_size

    if headless_platform(str(app.platformName())):
        default = (1000, 300 + 250 * n_viewers)
    else:
        area = app.primaryScreen().availableGeometry()
        default = fitted_window_size((1600, 1000), (area.width(), area.height()))
    return width or default[0], height or default[1]


def run_view(args) -> int:
    """Run ``lslacq view`` with parsed arguments; return the exit code."""
    if args.xsize <= 0:
        return _fail(f"--xsize must be > 0 seconds, got {args.xsize}")
    if not args.fps > 0:
        return _fail(f"--fps must be > 0, got {args.fps}")
    if args.duration is not None and args.duration <= 0:
        return _fail(f"--duration must be > 0 seconds, got {args.duration}")
    try:
        width, height = (int(v) for v in (args.size or "0x0").lower().split("x"))
    except ValueError:
        return _fail(f"--size must be WIDTHxHEIGHT in pixels (e.g. 1600x1000), got {args.size!r}")
    problem = choose_platform(args.screenshot)
    if problem:
        return _fail(problem, 1)
    try:
        from lslacq.viewers._qt import QtCore, QtWidgets, mkQApp
    except ImportError as exc:
        return _fail(f"{exc}")
    from lslacq.errors import LslacqError

    from .inlet import LslInlet

    app = mkQApp()
    nodes: list[Any] = []
    try:
        inlets = []
        for k, stream_name in enumerate(args.names):
            inlet = LslInlet(name=f"view-inlet-{k}")
            nodes.append(inlet)
            try:
                inlet.configure(name=stream_name, resolve_timeout=args.timeout)
            except LslacqError as exc:
                return _fail(f"{exc}\n  `lslacq lsl list` shows the streams visible from this host", 1)
            inlets.append(inlet)
        signal_inlets = [i for i in inlets if not i.is_markers]
        marker_inlets = [i for i in inlets if i.is_markers]
        if not signal_inlets:
            return _fail("name at least one signal (numeric) stream; marker streams are drawn on top of one")
        if len(marker_inlets) > 1:
            return _fail(f"give at most one marker stream, got {[i.description.name for i in marker_inlets]}")
        for inlet in marker_inlets:  # the reference inlets give them sample indexes; one reader per viewer
            inlet.close()
            nodes.remove(inlet)
        markers_name = marker_inlets[0].description.name if marker_inlets else None

        viewers, event_inlets = [], []
        window = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        for k, inlet in enumerate(signal_inlets):
            inlet.outputs["signals"].configure(protocol="inproc", transfermode="plaindata")
            events = None
            if markers_name is not None:
                marker_inlet = LslInlet(name=f"view-markers-{k}")
                nodes.append(marker_inlet)
                marker_inlet.configure(name=markers_name, resolve_timeout=args.timeout, reference=inlet.name)
                marker_inlet.outputs["signals"].configure(protocol="inproc", transfermode="plaindata")
                events = marker_inlet.outputs["signals"]
                event_inlets.append(marker_inlet)
            try:
                viewer = make_viewer(
                    inlet.outputs["signals"],
                    events,
                    name=inlet.description.name,
                    xsize=args.xsize,
                    mode=args.mode,
                    scale=args.scale,
                    fps=args.fps,
                )
            except ValueError as exc:
                return _fail(str(exc), 1)
            nodes.append(viewer)
            viewers.append(viewer)
            window.addWidget(viewer)
        for node in signal_inlets + event_inlets:
            node.initialize()
        title = ", ".join(args.names)
        window.setWindowTitle(f"lslacq view: {title}")
        window.resize(*_window_size(app, width, height, len(viewers)))
        print(f"lslacq view: {title} (close the window or Ctrl-C to stop)", flush=True)
        for node in viewers + event_inlets + signal_inlets:
            node.start()
        t0 = time.monotonic()

        def failed() -> bool:
            return any(n.error is not None for n in nodes if hasattr(n, "error"))

        run_qt(app, window, viewers, duration=args.duration, screenshot=args.screenshot, stop_check=failed)
        elapsed = time.monotonic() - t0
        for viewer, inlet in zip(viewers, signal_inlets, strict=True):
            c = viewer.counters()
            print(
                f"lslacq view: {inlet.description.name}: {c['samples_in']} samples in {elapsed:.1f} s, "
                f"{viewer.n_events} markers, {c['frames']} frames, lost {c['lost_samples']}",
                flush=True,
            )
        errors = [n for n in nodes if getattr(n, "error", None) is not None]
        for node in errors:
            print(f"lslacq view: {node.name} failed: {node.error!r}", file=sys.stderr, flush=True)
        return 1 if errors else 0
    finally:
        for node in reversed(nodes):
            try:
                node.close()
            except Exception as exc:  # pragma: no cover - best effort at exit
                print(f"lslacq view: closing {node.name} failed: {exc!r}", file=sys.stderr)
