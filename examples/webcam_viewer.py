"""
Simple webcam viewer

The pyacq manual's example 6.3, ported: video frames from a WebCamAV node
(in a NodeGroup process started by a Manager) shown by an ImageViewer in this
process. Without a camera it plays FFmpeg's test pattern (lavfi ``testsrc``);
``--camera N`` opens camera N instead.

    python examples/webcam_viewer.py                # test pattern, until the window is closed
    python examples/webcam_viewer.py --camera 0     # the first camera
    python examples/webcam_viewer.py --duration 3   # quit after 3 s (headless with QT_QPA_PLATFORM=offscreen)
"""

import argparse

# lslacq.viewers first: it picks PyQt5 (the qt extra's binding) when several are installed
from lslacq import create_manager
from lslacq.viewers import ImageViewer

# isort: split
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore


def main(camera, duration):
    man = create_manager()
    # this creates the device in a separate process (NodeGroup)
    nodegroup = man.create_nodegroup()
    dev = nodegroup.create_node("WebCamAV", name="cam0")
    if camera is None:
        dev.configure(url="testsrc=size=320x240:rate=30,realtime", format="lavfi")
    else:
        dev.configure(camera_num=camera)
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    dev.initialize()

    # the viewer is a Node in the local QApplication
    app = pg.mkQApp()
    viewer = ImageViewer()
    viewer.configure()
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.show()
    dev.start()
    viewer.start()
    if duration is not None:
        QtCore.QTimer.singleShot(int(duration * 1000), app.quit)
    pg.exec()

    counters = viewer.counters()
    height, width = viewer.frame_shape[:2]
    print(
        f"frames received: {viewer.frames_received}, drawn: {counters['frames_drawn']}, "
        f"skipped by the display: {counters['skipped_frames']}, frame size {width}x{height}"
    )
    viewer.close()
    dev.stop()
    man.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--camera", type=int, default=None, help="camera number (default: FFmpeg test pattern)")
    parser.add_argument("--duration", type=float, default=None, help="quit after this many seconds")
    args = parser.parse_args()
    main(args.camera, args.duration)
