"""StreamSpec: the typed description of a stream, with a dict-like view.

Node code keeps pyacq's idiom (``output.spec['shape'] = (-1, 8)`` in
``_configure``, ``input.params['sample_rate']`` after connecting) while the
values are validated in one place and errors name the bad value and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..dtypes import dtype_to_params, normalize_dtype  # one copy, shared with the RPC serializer

__all__ = [
    "StreamSpec",
    "PROTOCOLS",
    "STREAMTYPES",
    "normalize_dtype",
    "dtype_to_params",
]

PROTOCOLS = ("tcp", "ipc", "inproc")
STREAMTYPES = ("analogsignal", "digitalsignal", "event", "image/video")
TRANSFERMODES = ("plaindata", "sharedmem")
# what an output does when a reader has no room (see flowcontrol.py): wait for it (a producer that
# can wait), give it a bounded backlog then drop its oldest (a live source), or send it only the newest
ON_FULL = ("wait", "backlog", "latest")
ON_FULL_ALIASES = {"block": "wait", "drop": "latest"}  # the spellings of lslacq 0.1


@dataclasses.dataclass
class StreamSpec:
    """Complete, validated description of a stream.

    The fields are pyacq's ``OutputStream.configure()`` parameters; keys that
    are not fields (channel names, device metadata...) are kept in ``extra``.
    The object behaves like a dict for reading and writing (``spec['shape']``,
    ``spec.get('units')``, ``dict(spec)``...).
    """

    protocol: str = "tcp"
    interface: str = "127.0.0.1"
    port: str | int = "*"
    transfermode: str = "plaindata"
    streamtype: str = "analogsignal"
    dtype: Any = "float32"
    shape: tuple = (-1, 1)
    compression: str = ""
    scale: float | None = None
    offset: float | None = None
    units: str = ""
    sample_rate: float | None = None
    # sharedmem
    buffer_size: int | None = None
    double: bool = True
    axisorder: tuple | None = None
    fill: float | None = None
    # flow control
    on_full: str | None = None  # None: chosen by the node ('backlog' for live sources, else 'wait')
    hwm: int = 1000
    max_buffered: float = 30.0  # default per-reader backlog bound, seconds of data (see flowcontrol.py)
    max_buffered_bytes: int = 256 * 2**20
    max_wait: float = 1.0  # on_full='wait': seconds a reader may read nothing before it is not waited for
    extra: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self._explicit: set[str] = set()

    def explicit_keys(self) -> set[str]:
        """Keys set through the dict view (``spec[key] = v``, ``update``, ``from_dict``).

        An OutputStream treats these keys of its ``spec`` as fixed by its node.
        """
        return set(self._explicit)

    # -- dict-like view -------------------------------------------------
    def _is_field(self, key: str) -> bool:
        return key in _FIELD_NAMES

    def __getitem__(self, key: str) -> Any:
        if self._is_field(key):
            return getattr(self, key)
        try:
            return self.extra[key]
        except KeyError:
            raise KeyError(f"stream spec has no key {key!r}") from None

    def __setitem__(self, key: str, value: Any) -> None:
        self._explicit.add(key)
        if self._is_field(key):
            setattr(self, key, value)
        else:
            self.extra[key] = value

    def __contains__(self, key: object) -> bool:
        return (isinstance(key, str) and self._is_field(key)) or key in self.extra

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def keys(self) -> list[str]:
        """Return the field names, then the extra keys."""
        return list(_FIELD_NAMES) + list(self.extra)

    def items(self):
        """Return ``(key, value)`` pairs, as :meth:`keys` orders them."""
        return [(k, self[k]) for k in self.keys()]

    def values(self):
        """Return the values, as :meth:`keys` orders them."""
        return [self[k] for k in self.keys()]

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value of ``key``, or ``default`` if the spec has no such key."""
        return self[key] if key in self else default

    def update(self, other: Mapping | StreamSpec | None = None, **kwargs) -> None:
        """Set the keys of ``other`` and ``kwargs`` (as :meth:`dict.update`; unknown keys go to ``extra``)."""
        for source in (other or {}), kwargs:
            for key, value in dict(source).items():
                self[key] = value

    def copy(self) -> StreamSpec:
        """Return an independent copy (through :meth:`to_dict`)."""
        return StreamSpec.from_dict(self.to_dict())

    # -- conversion ------------------------------------------------------
    def to_dict(self) -> dict:
        """Return a plain, serialisable dict (dtype as str/descr, tuples as lists kept as tuples)."""
        out = {k: getattr(self, k) for k in _FIELD_NAMES}
        out["dtype"] = dtype_to_params(self.np_dtype)
        out["shape"] = tuple(self.shape)
        if self.axisorder is not None:
            out["axisorder"] = tuple(self.axisorder)
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, params: Mapping | StreamSpec) -> StreamSpec:
        """Return a spec holding ``params`` (a dict, a StreamSpec or any mapping)."""
        spec = cls()
        spec.update(params)
        return spec

    # -- derived values --------------------------------------------------
    @property
    def np_dtype(self) -> np.dtype:
        """The stream's dtype as a numpy dtype."""
        return normalize_dtype(self.dtype)

    @property
    def frame_shape(self) -> tuple:
        """Shape of one sample (the shape without the time axis)."""
        return tuple(int(x) for x in tuple(self.shape)[1:])

    @property
    def nb_channel(self) -> int:
        """Number of channels for 2-D signal streams (1 for 1-D streams)."""
        fs = self.frame_shape
        return int(fs[0]) if fs else 1

    def validate(self, owner: str = "stream") -> StreamSpec:
        """Check (and normalise) every value; raise ValueError naming ``owner``, the key and the fix.

        Extra keys that look like a misspelt field (``transfermod``) are
        rejected too, since they would otherwise be silently ignored.
        """
        from .compression import get_codec  # local: avoid an import cycle

        def bad(key, expected):
            raise ValueError(f"{owner}: invalid {key}={self[key]!r}; expected {expected}")

        for key in self.extra:
            close = difflib.get_close_matches(key, _FIELD_NAMES, n=1, cutoff=0.85)
            if close:
                raise ValueError(f"{owner}: unknown parameter {key!r}; did you mean {close[0]!r}?")
        if self.streamtype == "events":  # the spelling pyacq's own trigger nodes use
            self.streamtype = "event"
        if self.transfermode == "sharedarray":  # the pyacq manual's spelling (5.4.2)
            self.transfermode = "sharedmem"
        if self.on_full is None:
            self.on_full = "wait"
        self.on_full = (
            ON_FULL_ALIASES.get(self.on_full, self.on_full) if isinstance(self.on_full, str) else self.on_full
        )
        for key, allowed in (
            ("protocol", PROTOCOLS),
            ("transfermode", TRANSFERMODES),
            ("streamtype", STREAMTYPES),
            ("on_full", ON_FULL),
        ):
            if self[key] not in allowed:
                bad(key, f"one of {allowed}")
        get_codec(self.compression)  # raises, naming the valid codecs and what to install
        if self.np_dtype.hasobject:
            raise ValueError(f"{owner}: dtype {self.np_dtype} holds Python objects, which cannot be streamed")
        try:
            shape = tuple(int(x) for x in self.shape)
        except (TypeError, ValueError):
            bad("shape", "a tuple of ints such as (-1, 8)")
        if not shape or shape[0] == 0 or shape[0] < -1 or any(x <= 0 for x in shape[1:]):
            bad(
                "shape",
                "-1 or a positive chunk length for the first (time) axis and positive sizes for the "
                "others, e.g. (-1, 8)",
            )
        self.shape = shape
        if self.streamtype == "image/video" and len(shape) not in (3, 4):
            bad("shape", "(-1, H, W) or (-1, H, W, C) for an image/video stream")
        if self.sample_rate is not None:
            self.sample_rate = self._positive("sample_rate", float, owner)
        if self.axisorder is not None:
            try:
                axisorder = tuple(int(x) for x in self.axisorder)
            except (TypeError, ValueError):
                axisorder = ()
            if sorted(axisorder) != list(range(len(shape))):
                bad("axisorder", f"a permutation of {tuple(range(len(shape)))}")
            self.axisorder = axisorder
        if self.buffer_size is not None:
            self.buffer_size = self._positive("buffer_size", int, owner)
        self.hwm = self._positive("hwm", int, owner)
        for key, kind in (("max_buffered", float), ("max_buffered_bytes", int), ("max_wait", float)):
            value = self[key]
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value >= 0:
                bad(key, "a number >= 0")
            setattr(self, key, kind(value))
        return self

    def _positive(self, key: str, kind: type, owner: str):
        value = self[key]
        try:
            number = kind(value)
        except (TypeError, ValueError):
            number = None
        if number is None or isinstance(value, bool) or not number > 0:
            raise ValueError(
                f"{owner}: invalid {key}={value!r}; expected a positive {'number' if kind is float else 'integer'}"
            )
        return number


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(StreamSpec) if f.name != "extra")

# StreamSpec implements the mapping protocol; let isinstance(spec, Mapping) say so.
from collections.abc import MutableMapping  # noqa: E402

MutableMapping.register(StreamSpec)
