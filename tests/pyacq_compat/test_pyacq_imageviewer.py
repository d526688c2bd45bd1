"""pyacq's ``pyacq/viewers/test/test_imageviewer.py``, renamed to lslacq.

Adapted where lslacq deliberately differs (docs/porting.md, ImageViewer row):
the camera's output is an ``image/video`` stream whose chunks carry a frame
axis, ``(1, H, W, 3)``. pyacq's FakeCamera declares ``analogsignal`` with
shape ``(720, 600, 3)`` but sends ``(600, 720, 3)`` frames and restarts its
index at 0 every 10 frames; lslacq checks shapes and keeps indexes
increasing, so this camera sends what it declares. pyacq's test only shows
the viewers for 2 s; this one runs until every viewer drew, then checks what
each cell shows and where the grid puts it.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyqtgraph")

from pyacq_viewer_checks import assert_rendered, run_until
from pyqtgraph.Qt import QtCore

from lslacq.core import Node
from lslacq.viewers._qt import mkQApp, qimage_to_array
from lslacq.viewers.imageviewer import ImageViewer

NUM_VIDEO = 3


class FakeCamera(Node):
    _output_specs = {
        "video": {
            "streamtype": "image/video",
            "shape": (-1, 600, 720, 3),
            "compression": "",
            "sample_rate": 5,
            "dtype": "uint8",
        }
    }

    def _configure(self, buffer=None, sample_rate=5):
        self.sample_rate = sample_rate
        self.output.spec["sample_rate"] = sample_rate
        self.buffer = buffer

    def _initialize(self):
        self.head = 0
        self.timer = QtCore.QTimer(singleShot=False, interval=int(1000 / self.sample_rate))
        self.timer.timeout.connect(self.send_data)

    def _start(self):
        self.timer.start()

    def _stop(self):
        self.timer.stop()

    def _close(self):
        self.buffer = None

    def send_data(self):
        frame = self.buffer[self.head % self.buffer.shape[0]]
        self.head += 1
        self.output.send(frame[None], index=self.head)


@pytest.mark.slow
def test_imageviewer():
    app = mkQApp()
    cameras, viewers = [], []
    for i in range(NUM_VIDEO):
        buffer = np.random.default_rng().integers(0, 255, size=(10, 600, 720, 3), dtype="uint8")
        buffer[:, :, :, i % 3] = 255
        camera = FakeCamera()
        camera.configure(buffer=buffer, sample_rate=5)
        camera.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        camera.initialize()
        cameras.append(camera)
    for i in range(NUM_VIDEO):
        viewer = ImageViewer()
        viewer.configure()
        viewer.input.connect(cameras[i].output)
        viewer.initialize()
        viewer.show()
        viewers.append(viewer)
    multi = ImageViewer()
    multi.configure(num_video=NUM_VIDEO, nb_column=2)
    for i in range(NUM_VIDEO):
        multi.inputs[f"video{i}"].connect(cameras[i].output)
    multi.initialize()
    multi.show()
    try:
        for i in range(NUM_VIDEO):
            cameras[i].start()
            viewers[i].start()
        multi.start()
        assert run_until(
            app,
            lambda: (
                all(v.frames >= 2 and v.counters()["samples_in"] >= 2 for v in viewers)
                and all(c["frames_drawn"] >= 2 for c in multi.video_counters())
            ),
        )
        for i, viewer in enumerate(viewers):
            image = assert_rendered(viewer)
            # channel i % 3 of every camera frame is saturated: the drawn image is dominated by it
            mean = image[..., :3].reshape(-1, 3).mean(axis=0)
            assert np.argmax(mean) == i % 3
        assert_rendered(multi)
        for i, cell in enumerate(multi.cells):  # camera i in cell i, dominated by the same channel
            image = qimage_to_array(cell.graphicsview.grab().toImage())
            assert np.argmax(image[..., :3].reshape(-1, 3).mean(axis=0)) == i % 3
        # two columns, filled row by row: camera 1 right of camera 0, camera 2 below camera 0
        cell0, cell1, cell2 = (cell.widget.geometry() for cell in multi.cells)
        assert cell1.left() > cell0.right() and cell1.top() == cell0.top()
        assert cell2.top() > cell0.bottom() and cell2.left() == cell0.left()
    finally:
        for camera in cameras:
            camera.stop()
        for viewer in viewers:
            viewer.stop()
            viewer.close()
        multi.stop()
        multi.close()
        for camera in cameras:
            camera.close()
