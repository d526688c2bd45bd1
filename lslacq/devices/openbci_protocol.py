"""Old path of :mod:`lslacq.devices.openbci.protocol` (the OpenBCI Cyton protocol), kept for compatibility.

New code imports from :mod:`lslacq.devices.openbci.protocol`; this module re-exports its public names.
"""

from .openbci.protocol import *  # noqa: F403
from .openbci.protocol import __all__  # noqa: F401
