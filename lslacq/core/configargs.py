"""The arguments a node's ``configure()`` accepts: one declaration, checked by ``configure()`` and ``lslacq check``.

A node's ``_configure`` signature gives the argument names and defaults; its
class attribute ``configure_args`` adds the type and range of those that need
more than Python checks::

    class SimulatedEEG(Node):
        configure_args = {
            "nb_channel": Arg(int, ge=1, doc="EEG channels"),
            "sample_rate": Arg(float, gt=0, doc="Hz"),
        }

        def _configure(self, nb_channel: int = 32, sample_rate: float = 500.0, ...): ...

:func:`check_arguments` checks a ``{name: value}`` against both (unknown
names with the accepted list and a "did you mean", missing required
arguments, types, ranges, choices) and returns every problem at once;
``Node.configure()`` raises them (:func:`checked_arguments`) and
``lslacq check`` reports them with their file line, before anything runs.
"""

from __future__ import annotations

import difflib
import inspect
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Arg", "ArgProblem", "accepted_arguments", "check_arguments", "checked_arguments"]

_TYPE_NAMES = {
    int: "an int",
    float: "a number",
    str: "a string",
    bool: "a bool (true/false)",
    list: "a list",
    tuple: "a tuple",
    dict: "a table/dict",
}


@dataclass(frozen=True)
class Arg:
    """Type and range of one ``configure()`` argument.

    Parameters
    ----------
    type : type or tuple of types, optional
        Accepted types. ``int`` accepts any integer but not a bool; ``float`` any real number
        (int included) but not a bool; other types are ``isinstance`` checks.
    gt, ge, lt, le : float, optional
        Bounds of a number (greater than, greater or equal, less than, less or equal).
    choices : sequence, optional
        The allowed values.
    none : bool, optional
        Whether None is accepted; by default, when the signature's default is None.
    doc : str
        What the argument is (shown in its error messages).
    """

    type: type | tuple[type, ...] | None = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    choices: Sequence | None = None
    none: bool | None = None
    doc: str = ""

    def problem(self, name: str, value: Any, default: Any = inspect.Parameter.empty) -> tuple[str, str] | None:
        """Say why ``value`` is not acceptable for argument ``name``.

        Returns ``(kind, why)`` (kind ``'type'`` or ``'value'``), None when it is acceptable; ``default`` is
        the signature's default.
        """
        if value is None:
            allowed = self.none if self.none is not None else default is None
            return None if allowed else ("type", f"{name} must not be None{self._doc()}")
        if self.type is not None and not _is_instance(value, self.type):
            return "type", f"{name} must be {self._type_text()}, got {value!r} ({type(value).__name__}){self._doc()}"
        if self.choices is not None and value not in self.choices:
            return "value", f"{name} = {value!r} is not one of {list(self.choices)}{self._doc()}"
        bounds = (
            ("gt", ">", lambda v, b: v > b),
            ("ge", ">=", lambda v, b: v >= b),
            ("lt", "<", lambda v, b: v < b),
            ("le", "<=", lambda v, b: v <= b),
        )
        for attr, sign, ok in bounds:
            bound = getattr(self, attr)
            if bound is not None:
                try:
                    good = bool(ok(value, bound))
                except TypeError:
                    return "type", f"{name} must be a number {sign} {bound:g}, got {value!r}{self._doc()}"
                if not good:
                    return "value", f"{name} must be {sign} {bound:g}, got {value!r}{self._doc()}"
        return None

    def _type_text(self) -> str:
        types = self.type if isinstance(self.type, tuple) else () if self.type is None else (self.type,)
        text = " or ".join(_TYPE_NAMES.get(t, f"a {t.__name__}") for t in types)
        return text + (" (or None)" if self.none else "")

    def _doc(self) -> str:
        return f" ({self.doc})" if self.doc else ""


def _is_instance(value: Any, types: type | tuple[type, ...]) -> bool:
    for typ in types if isinstance(types, tuple) else (types,):
        if typ is int and isinstance(value, numbers.Integral) and not _is_bool(value):
            return True
        if typ is float and isinstance(value, numbers.Real) and not _is_bool(value):
            return True
        if typ is bool and _is_bool(value):
            return True
        if typ not in (int, float, bool) and isinstance(value, typ):
            return True
    return False


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"  # numpy's bool without importing numpy


@dataclass(frozen=True)
class ArgProblem:
    """One problem of a ``configure()`` call.

    Attributes
    ----------
    name : str or None
        The argument (None for a problem of the call as a whole).
    kind : str
        ``'unknown'``, ``'missing'``, ``'type'`` or ``'value'``.
    message : str
        What is wrong and how to fix it.
    """

    name: str | None
    kind: str
    message: str


def accepted_arguments(cls: type) -> tuple[dict[str, Any], bool]:
    """``({name: default}, takes_any_keyword)`` of ``cls._configure`` (``inspect.Parameter.empty``: required)."""
    configure = getattr(cls, "_configure", None)
    if configure is None:
        return {}, True
    if getattr(configure, "params_only", False):  # ProcessingNode's default: the declared online parameters
        return {param.name: param.default for param in getattr(cls, "_param_decl", ())}, False
    try:
        signature = inspect.signature(configure)
    except (TypeError, ValueError):
        return {}, True
    names: dict[str, Any] = {}
    any_keyword = False
    for name, param in signature.parameters.items():
        if name == "self":
            continue
        if param.kind is param.VAR_KEYWORD:
            any_keyword = True
        elif param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            names[name] = param.default
    return names, any_keyword


def check_arguments(cls: type, kwargs: Mapping[str, Any]) -> list[ArgProblem]:
    """Every problem of ``cls().configure(**kwargs)`` that can be seen without running it.

    Parameters
    ----------
    cls : type
        A Node subclass (its ``_configure`` signature and ``configure_args``).
    kwargs : mapping
        The arguments.

    Returns
    -------
    list of ArgProblem
        Empty when the call is acceptable; otherwise one entry per unknown, missing or bad argument,
        in the order of ``kwargs``.
    """
    accepted, any_keyword = accepted_arguments(cls)
    declared: Mapping[str, Arg] = getattr(cls, "configure_args", None) or {}
    problems = []
    for name, value in kwargs.items():
        if name in declared:
            found = declared[name].problem(name, value, accepted.get(name, inspect.Parameter.empty))
            if found is not None:
                problems.append(ArgProblem(name, *found))
        elif name not in accepted and not any_keyword:
            close = (
                difflib.get_close_matches(name, list(accepted), n=1)
                or sorted((n for n in accepted if len(n) > 2 and (n in name or name in n)), key=len, reverse=True)[:1]
            )
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(
                ArgProblem(
                    name,
                    "unknown",
                    f"{cls.__name__}.configure() has no argument {name!r}; "
                    f"{hint}its arguments: {', '.join(accepted) or 'none'}",
                )
            )
    missing = [name for name, default in accepted.items() if default is inspect.Parameter.empty and name not in kwargs]
    if missing:
        problems.append(ArgProblem(None, "missing", f"{cls.__name__}.configure() needs {', '.join(missing)}"))
    return problems


def checked_arguments(node: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` unchanged when :func:`check_arguments` finds nothing; else raise every problem at once.

    Raises
    ------
    TypeError
        An unknown or missing argument, or a value of the wrong type (among other problems, if any).
    ValueError
        Only values out of their range or choices.
    """
    problems = check_arguments(type(node), kwargs)
    if not problems:
        return kwargs
    cls = ValueError if all(p.kind == "value" for p in problems) else TypeError
    text = "; ".join(p.message for p in problems)
    raise cls(f"{getattr(node, 'name', type(node).__name__)}: {text}")
