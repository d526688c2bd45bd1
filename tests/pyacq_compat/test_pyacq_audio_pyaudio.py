"""pyacq's ``pyacq/devices/tests/test_audio_pyaudio.py``, renamed to lslacq.

Its tests need real hardware, so they are skipped.
"""

from __future__ import annotations

import pytest


@pytest.mark.skip(
    reason=(
        "needs a real sound card (pyacq uses input/output device 0); "
        "lslacq's PyAudio runs on JACK's dummy backend in tests/devices/test_audio_pyaudio.py"
    )
)
def test_local_app_in_out():
    pass


@pytest.mark.skip(
    reason=(
        "needs a real sound card (pyacq plays to output device 0); "
        "see tests/devices/test_audio_pyaudio.py (JACK dummy backend)"
    )
)
def test_play_sinus():
    pass
