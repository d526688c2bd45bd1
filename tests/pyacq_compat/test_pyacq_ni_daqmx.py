"""pyacq's ``pyacq/devices/tests/test_ni_daqmx.py``, renamed to lslacq.

Its tests need real hardware, so they are skipped.
"""

from __future__ import annotations

import pytest


@pytest.mark.skip(reason="needs a National Instruments DAQmx device and driver; no such node in lslacq")
def test_ni_daqmx():
    pass
