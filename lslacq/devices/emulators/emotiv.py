"""Old path of :mod:`lslacq.devices.emotiv.emulator` (the Emotiv dongle emulator), kept for compatibility.

New code imports from :mod:`lslacq.devices.emotiv.emulator`; this module re-exports its public names.
"""

from ..emotiv.emulator import *  # noqa: F403
from ..emotiv.emulator import __all__  # noqa: F401
