"""Old path of :mod:`lslacq.devices.openbci.emulator` (the OpenBCI Cyton emulator), kept for compatibility.

New code imports from :mod:`lslacq.devices.openbci.emulator`; this module re-exports its public names.
"""

from ..openbci.emulator import *  # noqa: F403
from ..openbci.emulator import __all__  # noqa: F401
