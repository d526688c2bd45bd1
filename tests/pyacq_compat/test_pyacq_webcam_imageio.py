"""pyacq's ``pyacq/devices/tests/test_webcam_imageio.py``, renamed to lslacq.

Its tests need real hardware, so they are skipped.
"""

from __future__ import annotations

import pytest


@pytest.mark.skip(
    reason="needs a camera (camera_num=0); WebCamImageIO is WebCamAV's configure (docs/porting.md, audio and video)"
)
def test_webcam_imageio():
    pass
