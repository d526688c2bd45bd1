"""
Local and remote Nodes

The pyacq manual's example 6.1, ported: Node instances in the local process and
in a remote one (a NodeGroup); either way, we interact with a Node the same
way. The device is WebCamAV playing FFmpeg's test pattern (``--camera N`` for a
real camera), the viewer an ImageViewer.

    python examples/local_remote_nodes.py                          # device remote, viewer local
    python examples/local_remote_nodes.py --mode local             # both local, no manager
    python examples/local_remote_nodes.py --mode remote            # both in one NodeGroup (a Qt one)
    python examples/local_remote_nodes.py --mode all --duration 2  # the three, 2 s each

Each mode prints the process ids of the device and the viewer: compare them.
"""

import argparse
import os
import time

import pyqtgraph as pg
from pyqtgraph.Qt import QtCore

from lslacq import create_manager
from lslacq.devices.webcam_av import WebCamAV
from lslacq.viewers import ImageViewer

TEST_PATTERN = dict(url='testsrc=size=320x240:rate=30,realtime', format='lavfi')


def configure_camera(dev, camera):
    if camera is None:
        dev.configure(**TEST_PATTERN)
    else:
        dev.configure(camera_num=camera)


def run_app(app, duration):
    if duration is not None:
        QtCore.QTimer.singleShot(int(duration * 1000), app.quit)
    pg.exec()


def report(mode, dev_pid, viewer_pid, counters):
    print(f"{mode}: device in process {dev_pid}, viewer in process {viewer_pid} (this one: {os.getpid()}); "
          f"frames drawn: {counters['frames_drawn']}")


def dev_remote_viewer_local(camera, duration):
    man = create_manager()
    # this creates the dev in a separate process (NodeGroup)
    nodegroup = man.create_nodegroup()
    dev = nodegroup.create_node('WebCamAV', name='cam0')
    configure_camera(dev, camera)
    dev.output.configure(protocol='tcp', interface='127.0.0.1', transfermode='plaindata')
    dev.initialize()

    # the viewer is a Node in the local QApp
    app = pg.mkQApp()
    viewer = ImageViewer()
    viewer.configure()
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.show()
    dev.start()
    viewer.start()
    run_app(app, duration)
    report('device remote, viewer local', nodegroup._client()._import('os').getpid(), os.getpid(),
           viewer.counters())
    viewer.close()
    dev.stop()
    man.close()


def dev_local_viewer_local(camera, duration):
    # no manager: device and viewer are Nodes in the local QApp, controlled directly
    app = pg.mkQApp()
    dev = WebCamAV()
    configure_camera(dev, camera)
    dev.output.configure(protocol='tcp', interface='127.0.0.1', transfermode='plaindata')
    dev.initialize()
    viewer = ImageViewer()
    viewer.configure()
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.show()
    dev.start()
    viewer.start()
    run_app(app, duration)
    report('both local', os.getpid(), os.getpid(), viewer.counters())
    viewer.close()
    dev.close()


def dev_remote_viewer_remote(camera, duration):
    # no QApp here: all Nodes are remote, even the viewer. Device and viewer are in the same
    # NodeGroup, so in the same process; the NodeGroup runs a QApplication (qt=True)
    man = create_manager()
    nodegroup = man.create_nodegroup(qt=True)
    dev = nodegroup.create_node('WebCamAV', name='cam0')
    configure_camera(dev, camera)
    dev.output.configure(protocol='tcp', interface='127.0.0.1', transfermode='plaindata')
    dev.initialize()
    viewer = nodegroup.create_node('ImageViewer', name='viewer0')
    viewer.configure()
    viewer.input.connect(dev.output)
    viewer.initialize()
    viewer.show()
    dev.start()
    viewer.start()
    time.sleep(10. if duration is None else duration)
    pid = nodegroup._client()._import('os').getpid()
    report('both remote', pid, pid, viewer.counters())
    viewer.close()
    dev.stop()
    man.close()


MODES = {'remote-device': dev_remote_viewer_local, 'local': dev_local_viewer_local,
         'remote': dev_remote_viewer_remote}


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--mode', choices=[*MODES, 'all'], default='remote-device')
    parser.add_argument('--camera', type=int, default=None, help='camera number (default: FFmpeg test pattern)')
    parser.add_argument('--duration', type=float, default=None, help='seconds per mode')
    args = parser.parse_args()
    for name in (MODES if args.mode == 'all' else [args.mode]):
        MODES[name](args.camera, args.duration)
