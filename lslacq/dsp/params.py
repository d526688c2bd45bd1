"""Online parameters of processing nodes (the model lives in :mod:`lslacq.core.params`)."""

from ..core.params import Param, Params

__all__ = ["Param", "Params"]
