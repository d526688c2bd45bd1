"""
Local and remote Nodes

The pyacq manual's example 6.1, ported: the same Nodes used in this process
and in another one; the way we interact with a Node is the same either way.
A WebCamAV device streams frames to an ImageViewer, in one of three layouts:

* ``remote-local`` (the manual's choice): the device in a NodeGroup process
  started by a Manager, the viewer in this process's QApplication;
* ``local-local``: no manager, both Nodes here, controlled directly;
* ``remote-remote``: no QApplication here, both Nodes in one Qt NodeGroup
  (``create_nodegroup(qt=True)``): the window belongs to that process.

Without a camera the device plays FFmpeg's test pattern (lavfi ``testsrc``);
``--camera N`` opens camera N.

    python examples/local_and_remote_nodes.py                       # remote device, local viewer
    python examples/local_and_remote_nodes.py --mode remote-remote  # compare the process ids
    python examples/local_and_remote_nodes.py --duration 3          # quit after 3 s
"""

import argparse
import os
import time

import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

from lslacq import create_manager
from lslacq.devices.webcam_av import WebCamAV
from lslacq.viewers import ImageViewer


def configure_camera(dev, camera):
    if camera is None:
        dev.configure(url="testsrc=size=320x240:rate=30,realtime", format="lavfi")
    else:
        dev.configure(camera_num=camera)
    dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    dev.initialize()


def run_qt(app, duration):
    if duration is not None:
        QtCore.QTimer.singleShot(int(duration * 1000), app.quit)
    pg.exec()


def report(where, viewer, dev_pid, viewer_pid):
    counters = viewer.counters()
    print(
        f"{where}: device in process {dev_pid}, viewer in process {viewer_pid} (this one: {os.getpid()}); "
        f"frames received {counters['samples_in']}, drawn {counters['frames_drawn']}"
    )


def dev_remote_viewer_local(camera, duration):
    man = create_manager()
    # this creates the device in a separate process (NodeGroup)
    nodegroup = man.create_nodegroup()
    dev = nodegroup.create_node("WebCamAV", name="cam0")
    configure_camera(dev, camera)

    # the viewer is a Node in the local QApplication
    app = pg.mkQApp()
    viewer = ImageViewer()
    viewer.configure()
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.show()
    dev.start()
    viewer.start()
    run_qt(app, duration)
    report("remote-local", viewer, nodegroup.health()["pid"], os.getpid())
    viewer.close()
    man.close()


def dev_local_viewer_local(camera, duration):
    # no manager: device and viewer are Nodes of this process, controlled directly
    app = pg.mkQApp()
    dev = WebCamAV()
    configure_camera(dev, camera)
    viewer = ImageViewer()
    viewer.configure()
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.show()
    dev.start()
    viewer.start()
    run_qt(app, duration)
    report("local-local", viewer, os.getpid(), os.getpid())
    viewer.close()
    dev.close()


def dev_remote_viewer_remote(camera, duration):
    # no QApplication here: every Node is remote, even the viewer. Device and
    # viewer are in the same NodeGroup, so in the same process, which runs Qt.
    man = create_manager()
    nodegroup = man.create_nodegroup(qt=True)
    dev = nodegroup.create_node("WebCamAV", name="cam0")
    configure_camera(dev, camera)
    viewer = nodegroup.create_node("ImageViewer", name="viewer0")
    viewer.configure()
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.show()
    dev.start()
    viewer.start()
    try:
        time.sleep(10.0 if duration is None else duration)
    except KeyboardInterrupt:
        pass
    pid = nodegroup.health()["pid"]
    report("remote-remote", viewer, pid, pid)
    man.close()


MODES = {
    "remote-local": dev_remote_viewer_local,
    "local-local": dev_local_viewer_local,
    "remote-remote": dev_remote_viewer_remote,
}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument(
        "--mode",
        choices=sorted(MODES),
        default="remote-local",
        help="where the device and the viewer live (default remote-local)",
    )
    parser.add_argument("--camera", type=int, default=None, help="camera number (default: FFmpeg test pattern)")
    parser.add_argument("--duration", type=float, default=None, help="quit after this many seconds")
    args = parser.parse_args()
    MODES[args.mode](args.camera, args.duration)
