"""pyacq's ``pyacq/devices/tests/test_mcs_w2100.py``, renamed to lslacq.

Its tests need real hardware, so they are skipped.
"""

from __future__ import annotations

import pytest


@pytest.mark.skip(reason="needs MCS W2100 hardware and its DLL (skipped on pyacq too); no such node in lslacq")
def test_MultiChannelSystemW2100():
    pass
