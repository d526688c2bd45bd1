"""pyacq's ``pyacq/devices/tests/test_openephys_gui_relay.py``, renamed to lslacq.

Its tests need real hardware, so they are skipped.
"""

from __future__ import annotations

import pytest


@pytest.mark.skip(
    reason="needs a running Open Ephys GUI with its ZMQ relay plugin on tcp://127.0.0.1:20000; no such node in lslacq"
)
def test_openephys_gui_relay_nogui():
    pass


@pytest.mark.skip(reason="needs a running Open Ephys GUI (skipped on pyacq too); no such node in lslacq")
def test_openephys_gui_relay():
    pass
