"""pyacq-style viewer parameters: a pyqtgraph Parameter tree behind a validating mapping.

``viewer.params['xsize'] = 5`` and ``viewer.by_channel_params['ch0', 'gain'] = 2``
work as in pyacq, and the same tree feeds the parameter dialog
(:class:`ParamDialog`). Unlike a bare pyqtgraph ``Parameter``, assignments are
checked first, by the :class:`lslacq.core.params.Param` that each node of the
tree declares (:func:`declaration`: the processing nodes' parameter model,
the tree is a view of it): a wrong type, a value outside the limits or not
among the choices raises a ``ValueError``/``TypeError`` naming the parameter,
the value and what is allowed, and the viewer keeps its previous value.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

from ..core.params import Param
from ._qt import QtCore, QtWidgets, pg

__all__ = ["ByChannelParams", "ParamDialog", "ParamGroup", "check_range", "declaration", "declarations", "make_group"]

Parameter = pg.parametertree.Parameter


def make_group(name: str, children: Sequence[dict]) -> Any:
    """Create a pyqtgraph group Parameter from pyacq-style dicts (``{'name', 'type', 'value', ...}``)."""
    return Parameter.create(name=name, type="group", children=[dict(c) for c in children])


def check_range(value: Any, where: str) -> list[float]:
    """Return ``value`` as ``[low, high]`` floats with ``low < high``.

    Parameters
    ----------
    value : pair of numbers
        The range to check.
    where : str
        What the value is for, named in the errors (e.g. ``"viewer: levels"``).

    Raises
    ------
    TypeError
        ``value`` is not a pair of numbers.
    ValueError
        ``low >= high``.
    """
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{where} must be a (low, high) pair of numbers, got {value!r}") from None
    if not low < high:
        raise ValueError(f"{where} = {value!r}: low must be smaller than high")
    return [low, high]


# pyqtgraph types validated by core's Param (the one parameter model); 'color' is the viewers' own (a
# pyqtgraph colour), checked by a validator defined here, as (low, high) pairs are by check_range
_TYPES = {"float": float, "int": int, "bool": bool}


def declaration(param: Any, where: str) -> Param:
    """Return the :class:`lslacq.core.params.Param` declaring a pyqtgraph Parameter, from its current opts.

    ``param`` is a pyqtgraph Parameter or its opts as a viewer's defaults
    write them (``{'name': 'xsize', 'type': 'float', 'value': 3., 'limits':
    (0.1, 60.)}``). ``float``/``int``/``bool`` map to Param's ``type`` (and
    ``limits``), ``list`` to its ``choices``, ``color`` to a validator
    (naming ``where`` in its error); other types (``str``...) are not checked.
    """
    opts = param.opts if hasattr(param, "opts") else param
    kind = opts.get("type")
    name = opts["name"]
    if kind in _TYPES:
        limits = opts.get("limits") if kind != "bool" else None
        return Param(
            name,
            opts.get("default", opts.get("value")),
            type=_TYPES[kind],
            limits=None if limits is None else tuple(limits),
        )
    if kind == "list":
        return Param(
            name, opts.get("default", opts.get("value")), choices=list(opts.get("limits") or opts.get("values") or [])
        )
    if kind == "color":
        return Param(name, opts.get("default", opts.get("value")), validator=lambda value: _color(value, where))
    return Param(name, opts.get("default", opts.get("value")))


def declarations(children: Sequence[dict], owner: str, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Param]:
    """Every parameter of a viewer's defaults (pyacq-style dicts, groups flattened), by key path.

    ``{('xsize',): Param(...), ('timefreq', 'f_stop'): Param(...)}``: what a
    graph file's ``params`` table is checked against before anything starts
    (:meth:`lslacq.viewers.WidgetNode.param_declarations`).
    """
    out: dict[tuple[str, ...], Param] = {}
    for opts in children:
        path = (*prefix, opts["name"])
        if opts.get("type") == "group":
            out.update(declarations(opts.get("children", ()), owner, path))
        else:
            out[path] = declaration(opts, f"{owner}[{', '.join(repr(n) for n in path)}]")
    return out


def _color(value: Any, where: str) -> Any:
    try:
        return pg.mkColor(value)
    except Exception:
        raise ValueError(
            f"{where} = {value!r} is not a color; use a name ('r', 'w'), '#rrggbb', an (r, g, b[, a]) tuple or a QColor"
        ) from None


def _check_value(param, value: Any, where: str) -> Any:
    """``value`` validated by the Param declaring ``param``; errors name ``where`` (the viewer's key)."""
    decl = declaration(param, where)
    if value is None and decl.type is not None:  # Param lets None through (an optional value): a tree has none
        kind = "a number" if decl.type in (float, int) else "True or False"
        raise TypeError(f"{where} must be {kind}, got None")
    try:
        return decl.validate(value)
    except (TypeError, ValueError) as exc:
        # Param names the value params['<name>']; the viewer's own key (e.g. viewer.by_channel_params['ch0',
        # 'gain']) says where it is
        prefix, message = f"params[{decl.name!r}]", str(exc)
        if not message.startswith(prefix):
            raise
        raise type(exc)(where + message[len(prefix) :]) from None


class ParamGroup:
    """Validating ``params[...]`` access to a pyqtgraph group Parameter.

    Other attributes (``param()``, ``children()``, ``sigTreeStateChanged``,
    ``blockSignals``...) are those of the underlying Parameter, as in pyacq.

    Parameters
    ----------
    parameter : pyqtgraph Parameter
        A group.
    owner : str
        Name used in error messages (``'viewer.params'``).
    """

    def __init__(self, parameter, owner: str):
        self._parameter = parameter
        self._owner = owner
        #: called as ``on_set(names, value)`` after each assignment through this mapping (code, not the dialog),
        #: even of the value it already had (a viewer tells "set by the user" from "its default" with it)
        self.on_set: Callable[[tuple, Any], None] | None = None

    @property
    def parameter(self):
        """The pyqtgraph Parameter (for a ParameterTree)."""
        return self._parameter

    def _names(self, key) -> tuple:
        # a list is a path too: a tuple key comes out of an RPC call as a list
        return tuple(key) if isinstance(key, (tuple, list)) else (key,)

    def _child(self, names: tuple):
        try:
            return self._parameter.param(*names)
        except KeyError:
            known = [c.name() for c in self._parameter.children()]
            raise KeyError(
                f"{self._owner} has no parameter {names if len(names) > 1 else names[0]!r}; known: {known}"
            ) from None

    def __getitem__(self, key) -> Any:
        return self._child(self._names(key)).value()

    def __setitem__(self, key, value) -> None:
        names = self._names(key)
        param = self._child(names)
        label = ", ".join(repr(n) for n in names)
        param.setValue(_check_value(param, value, f"{self._owner}[{label}]"))
        if self.on_set is not None:
            self.on_set(names, param.value())

    def __contains__(self, key) -> bool:
        try:
            self._parameter.param(*self._names(key))
        except KeyError:
            return False
        return True

    def keys(self) -> list[str]:
        """Return the names of the parameters of this group, in order."""
        return [c.name() for c in self._parameter.children()]

    def update(self, values: dict | None = None, **kwargs) -> None:
        """Set several values (each validated)."""
        for key, value in {**(values or {}), **kwargs}.items():
            self[key] = value

    def __getattr__(self, name: str):
        return getattr(self._parameter, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._owner}: {self.keys()}>"


class ByChannelParams(ParamGroup):
    """Per-channel parameters: ``by_channel_params[channel, key]``.

    ``channel`` is the channel's name (the stream's ``channel_names``), its
    pyacq default name ``'ch<i>'`` or its index.
    """

    def __init__(self, parameter, owner: str, channel_names: Sequence[str]):
        super().__init__(parameter, owner)
        self.channel_names = list(channel_names)
        self._aliases: dict = {}
        for i, name in enumerate(self.channel_names):
            self._aliases[f"ch{i}"] = name
            self._aliases[i] = name
        for name in self.channel_names:  # a real name wins over a 'ch<i>' alias
            self._aliases[name] = name

    def channel_index(self, channel) -> int:
        """Return the index of ``channel`` (name, ``'ch<i>'`` or index)."""
        return self.channel_names.index(self._resolve(channel))

    def _resolve(self, channel):
        if hasattr(channel, "__index__") and not isinstance(channel, str):
            channel = int(channel)
        try:
            return self._aliases[channel]
        except (KeyError, TypeError):
            raise KeyError(
                f"{self._owner}: no channel {channel!r}; use a name among {self.channel_names[:8]}"
                f"{'...' if len(self.channel_names) > 8 else ''}, 'ch<i>' or an index "
                f"0..{len(self.channel_names) - 1}"
            ) from None

    def _names(self, key) -> tuple:
        names = tuple(key) if isinstance(key, (tuple, list)) else (key,)
        return (self._resolve(names[0]),) + names[1:]

    def values(self, key: str) -> list:
        """Return the value of ``key`` for every channel, in channel order."""
        return [child[key] for child in self._parameter.children()]


class ParamDialog(QtWidgets.QWidget):
    """Window with the viewer's global and per-channel parameter trees and an *Auto scale* button.

    Parameters
    ----------
    viewer : WidgetNode
        A viewer with ``params`` (and optionally ``by_channel_params`` and ``auto_scale()``).
    parent : QWidget, optional
    """

    def __init__(self, viewer, parent=None):
        super().__init__(parent)
        self._viewer = weakref.ref(viewer)
        self.setWindowFlags(QtCore.Qt.WindowType.Window)
        self.setWindowTitle(f"Options for {viewer.name}")
        layout = QtWidgets.QHBoxLayout(self)
        self.tree_params = pg.parametertree.ParameterTree()
        self.tree_params.setParameters(viewer.params.parameter, showTop=True)
        self.tree_params.header().hide()
        layout.addWidget(self.tree_params)
        by_channel = getattr(viewer, "by_channel_params", None)
        self.tree_by_channel_params = None
        if by_channel is not None:
            self.tree_by_channel_params = pg.parametertree.ParameterTree()
            self.tree_by_channel_params.setParameters(by_channel.parameter, showTop=True)
            self.tree_by_channel_params.header().hide()
            layout.addWidget(self.tree_by_channel_params)
        buttons = QtWidgets.QVBoxLayout()
        layout.addLayout(buttons)
        for label, method in (("Auto scale", "auto_scale"), ("Show all channels", "show_all_channels")):
            if callable(getattr(viewer, method, None)):
                button = QtWidgets.QPushButton(label)
                button.clicked.connect(self._caller(method))
                buttons.addWidget(button)
        buttons.addStretch()
        self.resize(700, 500)

    def _caller(self, method: str) -> Callable[..., None]:
        def call(*_args):
            viewer = self._viewer()
            if viewer is not None:
                getattr(viewer, method)()

        return call
