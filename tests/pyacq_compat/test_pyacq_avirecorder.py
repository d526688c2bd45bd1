"""pyacq's ``pyacq/rec/tests/test_avirecorder.py``, renamed to lslacq.

Its tests need real hardware, so they are skipped.
"""

from __future__ import annotations

import pytest


@pytest.mark.skip(
    reason=(
        "needs a camera (skipped on pyacq too: 'need Device'); "
        "AviRecorder records synthetic frames in tests/rec/test_avirecorder.py"
    )
)
def test_AviRecorder():
    pass
