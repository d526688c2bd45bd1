"""Old path of :mod:`lslacq.devices.emotiv.protocol` (the Emotiv EPOC reports), kept for compatibility.

New code imports from :mod:`lslacq.devices.emotiv.protocol`; this module re-exports its public names.
"""

from .emotiv.protocol import *  # noqa: F403
from .emotiv.protocol import __all__  # noqa: F401
