"""pyacq's ``pyacq/devices/tests/test_eeg_emotiv.py``, renamed to lslacq.

Its tests need real hardware, so they are skipped.
"""

from __future__ import annotations

import pytest


@pytest.mark.skip(
    reason=(
        "needs an Emotiv dongle (pyacq opens the first /dev/hidraw Emotiv device); "
        "emulated in tests/devices/test_emotiv.py"
    )
)
def test_eeg_emotiv_direct():
    pass
