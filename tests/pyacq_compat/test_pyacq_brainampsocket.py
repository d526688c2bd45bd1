"""pyacq's ``pyacq/devices/tests/test_brainampsocket.py``, renamed to lslacq.

Its tests need real hardware, so they are skipped.
"""

from __future__ import annotations

import pytest


@pytest.mark.skip(
    reason=(
        "needs a BrainAmp/Recorder RDA server (skipped on pyacq too); "
        "the RDA emulator runs it in tests/devices/test_rda_brainampsocket.py"
    )
)
def test_brainampsocket():
    pass
