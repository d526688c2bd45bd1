"""pyacq's ``pyacq/devices/tests/test_blackrock.py``, renamed to lslacq.

Its tests need real hardware, so they are skipped.
"""

from __future__ import annotations

import pytest


@pytest.mark.skip(reason="needs Blackrock hardware and its cbsdk library; no Blackrock node in lslacq")
def test_blackrock():
    pass
