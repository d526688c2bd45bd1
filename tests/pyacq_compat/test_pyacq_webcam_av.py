"""pyacq's ``pyacq/devices/tests/test_webcam_av.py``, renamed to lslacq.

Its tests need real hardware, so they are skipped.
"""

from __future__ import annotations

import pytest


@pytest.mark.skip(
    reason="needs a camera (camera_num=0); WebCamAV on FFmpeg lavfi input in tests/devices/test_webcam_av.py"
)
def test_webcam_opencv():
    pass
