"""pyacq's ``pyacq/devices/tests/test_measurementcomputing.py``, renamed to lslacq.

Its tests need real hardware, so they are skipped.
"""

from __future__ import annotations

import pytest


@pytest.mark.skip(reason="needs a Measurement Computing board and its Windows library; no such node in lslacq")
def test_measurementcomputing_infodevice():
    pass


@pytest.mark.skip(reason="needs a Measurement Computing USB-1608FS-Plus; no such node in lslacq")
def test_measurementcomputing_USB1608_FS_PLUS():
    pass


@pytest.mark.skip(reason="needs a Measurement Computing USB-2533; no such node in lslacq")
def test_measurementcomputing_USB2533():
    pass
