"""
Several video streams in one window

Two video sources in a NodeGroup process (FFmpeg test patterns through
WebCamAV: a colour test card at 320x240 and SMPTE bars at 160x120, or real
cameras with ``--cameras``) shown side by side by one ImageViewer, pyacq's
multi-video grid: ``configure(num_video=N, nb_column=C)`` makes the inputs
``video0`` ... ``video<N-1>``, one cell each, with a status line per video.

    python examples/multi_video_viewer.py                  # two test patterns, until the window is closed
    python examples/multi_video_viewer.py --cameras 0 1    # cameras 0 and 1
    python examples/multi_video_viewer.py --duration 3     # quit after 3 s (headless with QT_QPA_PLATFORM=offscreen)
    python examples/multi_video_viewer.py --duration 3 --screenshot grid.png   # and save the window first
"""

import argparse

# lslacq.viewers first: it picks PyQt5 (the qt extra's binding) when several are installed
from lslacq import create_manager
from lslacq.viewers import ImageViewer

# isort: split
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

TEST_PATTERNS = ["testsrc=size=320x240:rate=30,realtime", "smptebars=size=160x120:rate=25,realtime"]


def main(cameras, duration, screenshot=None):
    man = create_manager()
    nodegroup = man.create_nodegroup()  # the sources run in their own process
    sources = []
    for i, camera in enumerate(cameras or [None] * len(TEST_PATTERNS)):
        dev = nodegroup.create_node("WebCamAV", name=f"cam{i}")
        if camera is None:
            dev.configure(url=TEST_PATTERNS[i], format="lavfi")
        else:
            dev.configure(camera_num=camera)
        dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        dev.initialize()
        sources.append(dev)

    app = pg.mkQApp()
    viewer = ImageViewer()
    viewer.configure(num_video=len(sources), nb_column=len(sources))  # one row
    for i, dev in enumerate(sources):
        viewer.inputs[f"video{i}"].connect(dev.output)
    viewer.initialize()
    viewer.resize(900, 400)
    viewer.show()
    for dev in sources:
        dev.start()
    viewer.start()

    def finish():
        if screenshot:
            viewer.grab().save(screenshot)
        app.quit()

    if duration is not None:
        QtCore.QTimer.singleShot(int(duration * 1000), finish)
    pg.exec()

    for cell, counters in zip(viewer.cells, viewer.video_counters(), strict=True):
        height, width = cell.frame_shape[:2]
        print(
            f"{counters['input']}: frames received: {counters['frames_received']}, "
            f"drawn: {counters['frames_drawn']}, frame size {width}x{height}"
        )
    viewer.close()
    for dev in sources:
        dev.stop()
    man.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument(
        "--cameras", type=int, nargs="+", default=None, help="camera numbers (default: two FFmpeg test patterns)"
    )
    parser.add_argument("--duration", type=float, default=None, help="quit after this many seconds")
    parser.add_argument("--screenshot", default=None, help="with --duration: save the window to this PNG first")
    args = parser.parse_args()
    main(args.cameras, args.duration, args.screenshot)
