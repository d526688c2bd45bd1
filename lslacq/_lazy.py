"""Lazy public names for packages (PEP 562), so importing a package stays cheap."""

from __future__ import annotations

import importlib
from typing import Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: dict[str, str], namespace: dict) -> tuple[Callable, Callable, list[str]]:
    """Return ``(__getattr__, __dir__, __all__)`` for a package resolving ``names`` on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__`` (relative module paths resolve against it).
    names : dict
        Public name -> module defining it (absolute, or relative like ``".node"``).
    namespace : dict
        The package's ``globals()``; resolved names are cached there.

    Examples
    --------
    >>> __getattr__, __dir__, __all__ = lazy_exports(__name__, {"Node": ".node"}, globals())
    """

    def __getattr__(name: str):
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(names) | {k for k in namespace if not k.startswith("_")})

    return __getattr__, __dir__, sorted(names)
