"""The audio test rig: one JACK dummy server per test session (a paced sound card without hardware).

Import the fixture into a test module (``from jack_rig import jack_server_fixture``); tests then
take a ``jack_server`` argument. The server has
a name of its own (``JACK_DEFAULT_SERVER`` is set while it runs, so PortAudio in this process and
in processes started meanwhile uses it), is started by PID and is always stopped.
"""

from __future__ import annotations

import shutil

import pytest

from lslacq.devices.emulators.jack import JackDummyServer

RATE = 44100


@pytest.fixture(scope="session", name="jack_server")
def jack_server_fixture():
    """A running ``jackd -d dummy -r 44100 -p 1024`` (2 in / 2 out), or a skip naming what is missing."""
    pytest.importorskip(
        "pyaudio", reason="PyAudio is not installed: pip install 'lslacq[audio]' (needs apt portaudio19-dev)"
    )
    if shutil.which("jackd") is None or shutil.which("jack_wait") is None:
        pytest.skip("jackd is not installed (apt install jackd2): no audio rig")
    with JackDummyServer(rate=RATE, period=1024) as server:
        yield server
