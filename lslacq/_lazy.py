"""Lazy public names for packages (PEP 562), so importing a package stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, names: dict[str, str], namespace: dict, submodules: Iterable[str] = ()
) -> tuple[Callable, Callable, list[str]]:
    """Return ``(__getattr__, __dir__, __all__)`` for a package resolving ``names`` on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__`` (relative module paths resolve against it).
    names : dict
        Public name -> module defining it (absolute, or relative like ``".node"``).
    namespace : dict
        The package's ``globals()``; resolved names are cached there.
    submodules : iterable of str
        Sub-packages or modules reachable as attributes (``lslacq.devices``
        after a bare ``import lslacq``, as pyacq allows), imported on first
        access. They are listed by ``dir()`` but not in ``__all__``, so
        ``from package import *`` stays cheap.

    Examples
    --------
    >>> __getattr__, __dir__, __all__ = lazy_exports(__name__, {"Node": ".node"}, globals())
    """
    subs = frozenset(submodules)

    def __getattr__(name: str):
        if name in subs:
            value = importlib.import_module(f"{package}.{name}")
        else:
            module = names.get(name)
            if module is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(names) | subs | {k for k in namespace if not k.startswith("_")})

    return __getattr__, __dir__, sorted(names)
