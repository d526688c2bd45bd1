"""pyacq's ``pyacq/devices/tests/test_eeg_openBCI.py``, renamed to lslacq.

Its tests need real hardware, so they are skipped.
"""

from __future__ import annotations

import pytest


@pytest.mark.skip(reason="needs an OpenBCI board on /dev/ttyUSB0; emulated on a pty in tests/devices/test_openbci.py")
def test_eeg_OpenBCI():
    pass
