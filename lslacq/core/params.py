"""Online parameters for processing nodes: ``node.params['threshold'] = 0.5``.

pyacq exposed a pyqtgraph ``Parameter`` tree as ``node.params``; lslacq keeps
the same item syntax without Qt. :class:`Params` is a thread-safe mapping with a
declared set of keys: each assignment is validated (type, choices, limits)
*before* it takes effect, so a bad value raises at the caller and never reaches
the processing thread, and registered listeners are told about the change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Param", "Params"]


@dataclass(frozen=True)
class Param:
    """Declaration of one parameter.

    Parameters
    ----------
    name : str
        Key in :class:`Params`.
    default : object
        Initial value (validated like any assignment).
    type : type, optional
        ``int``, ``float``, ``str`` or ``bool``; values are converted to it
        (``int`` accepts only integral values).
    choices : sequence, optional
        Allowed values.
    limits : (low, high), optional
        Inclusive numeric bounds; either may be None.
    doc : str
        One line shown in error messages and docs.
    """

    name: str
    default: Any
    type: type | None = None
    choices: Sequence | None = None
    limits: tuple | None = None
    doc: str = ""
    validator: Callable[[Any], Any] | None = field(default=None, compare=False)

    def validate(self, value: Any, owner: str = "") -> Any:
        """Return ``value`` converted to the declared type; raise TypeError/ValueError naming the parameter."""
        where = f"{owner}.params[{self.name!r}]" if owner else f"params[{self.name!r}]"
        if self.type is not None and value is not None:
            value = _convert(value, self.type, where)
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{where} = {value!r} is not allowed; choose one of {list(self.choices)}")
        if self.limits is not None and value is not None:
            low, high = self.limits
            if (low is not None and value < low) or (high is not None and value > high):
                raise ValueError(f"{where} = {value!r} is out of range [{low}, {high}]")
        if self.validator is not None:
            value = self.validator(value)
        return value


def _convert(value: Any, typ: type, where: str) -> Any:
    if typ is bool:
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise TypeError(f"{where} must be a bool, got {value!r}")
    if typ is int:
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{where} must be an int, got {value!r}") from None
        if isinstance(value, bool) or not as_float.is_integer():
            raise TypeError(f"{where} must be an int, got {value!r}")
        return int(as_float)
    if typ is float:
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{where} must be a number, got {value!r}") from None
        if out != out:  # NaN
            raise ValueError(f"{where} must not be NaN")
        return out
    if typ is str:
        if not isinstance(value, str):
            raise TypeError(f"{where} must be a str, got {value!r}")
        return value
    return typ(value)


Listener = Callable[[str, Any], None]


class Params(MutableMapping):
    """Thread-safe, validated parameter mapping with change notification.

    Parameters
    ----------
    params : sequence of Param
        The declared parameters; assigning an undeclared key raises KeyError.
    owner : str
        Name used in error messages (usually the node's name).
    check : callable, optional
        ``check(name, value, values) -> value``, called after the
        declaration's own validation, with ``values`` the full set of values
        the update would produce (for checks that depend on the owner's state,
        e.g. the number of channels of a connected stream, or on other keys).

    Notes
    -----
    Keys cannot be deleted. ``snapshot()`` returns a consistent copy for a
    processing thread; ``update(a=..., b=...)`` validates every value first and
    then applies them together, notifying listeners once per key.
    """

    def __init__(self, params: Sequence[Param], owner: str = "", check: Callable[[str, Any, dict], Any] | None = None):
        self._decl = {p.name: p for p in params}
        self._owner = owner
        self._check = check
        self._lock = threading.RLock()
        self._values = {p.name: p.validate(p.default, owner) for p in params}
        self._listeners: list[Listener] = []

    # -- mapping protocol -------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        with self._lock:
            return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        raise TypeError(f"parameters cannot be deleted ({self._owner or 'params'}[{key!r}])")

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._decl))

    def __len__(self) -> int:
        return len(self._decl)

    def __repr__(self) -> str:
        return f"Params({self.snapshot()!r})"

    # -- API ------------------------------------------------------------------------------
    def declaration(self, key: str) -> Param:
        """Return the :class:`Param` declaring ``key``."""
        return self._decl[key]

    def update(self, other=(), /, **kwargs) -> None:
        """Validate all given values, then apply them and notify listeners."""
        new = dict(other, **kwargs)
        checked = {}
        for key, value in new.items():
            decl = self._decl.get(key)
            if decl is None:
                raise KeyError(f"{self._owner or 'params'} has no parameter {key!r}; known: {sorted(self._decl)}")
            checked[key] = decl.validate(value, self._owner)
        if self._check is not None:
            merged = {**self.snapshot(), **checked}
            for key in list(checked):
                checked[key] = self._check(key, checked[key], merged)
        with self._lock:
            self._values.update(checked)
            listeners = list(self._listeners)
        for key, value in checked.items():
            for listener in listeners:
                listener(key, value)

    def snapshot(self) -> dict:
        """Return a consistent copy of all values."""
        with self._lock:
            return dict(self._values)

    def connect(self, listener: Listener) -> None:
        """Call ``listener(name, value)`` after each change (in the caller's thread)."""
        with self._lock:
            self._listeners.append(listener)

    def disconnect(self, listener: Listener) -> None:
        """Remove a listener added with :meth:`connect`."""
        with self._lock:
            self._listeners.remove(listener)
