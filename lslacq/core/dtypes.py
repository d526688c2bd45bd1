"""numpy dtypes in a serialisable form, shared by stream specs and RPC messages.

:func:`dtype_to_params` turns any dtype numpy arrays can have (plain,
structured, nested, with padding or subarray fields) into str/list/dict values
that survive msgpack and json; :func:`normalize_dtype` turns them, or anything
``np.dtype()`` accepts, back into the same dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["normalize_dtype", "dtype_to_params"]


def dtype_to_params(dtype: Any) -> str | list | dict:
    """Return a serialisable form of ``dtype`` that :func:`normalize_dtype` turns back into it.

    - a plain dtype: its ``str`` (``'<f4'``);
    - a packed structured dtype: the list ``[[name, format], ...]`` (a third
      item gives a subarray field's shape), formats encoded recursively;
    - a structured dtype with padding or explicit offsets:
      ``{'names', 'formats', 'offsets', 'itemsize'}``;
    - a subarray dtype: ``{'base', 'shape'}``.

    Examples
    --------
    >>> dtype_to_params(np.dtype([("index", "<i8"), ("type", "<i4")]))
    [['index', '<i8'], ['type', '<i4']]
    """
    dtype = np.dtype(dtype)
    if dtype.subdtype is not None and dtype.fields is None:
        base, shape = dtype.subdtype
        return {"base": dtype_to_params(base), "shape": list(shape)}
    if dtype.fields is None:
        return dtype.str
    names = list(dtype.names)
    fields = [dtype.fields[n] for n in names]
    packed = True
    offset = 0
    for field_dtype, field_offset, *_ in fields:
        if field_offset != offset:
            packed = False
            break
        offset += field_dtype.itemsize
    titles = [f[2] if len(f) > 2 else None for f in fields]
    if not packed or offset != dtype.itemsize:
        out_dict = {
            "names": names,
            "formats": [dtype_to_params(f[0]) for f in fields],
            "offsets": [int(f[1]) for f in fields],
            "itemsize": int(dtype.itemsize),
        }
        if any(t is not None for t in titles):
            out_dict["titles"] = titles
        return out_dict
    out: list = []
    for name, title, (field_dtype, *_rest) in zip(names, titles, fields, strict=True):
        key = name if title is None else [title, name]
        if field_dtype.subdtype is not None and field_dtype.fields is None:
            base, shape = field_dtype.subdtype
            out.append([key, dtype_to_params(base), list(shape)])
        else:
            out.append([key, dtype_to_params(field_dtype)])
    return out


def normalize_dtype(value: Any) -> np.dtype:
    """Return the numpy dtype ``value`` describes.

    Accepts anything ``np.dtype()`` accepts, and the forms
    :func:`dtype_to_params` produces after a trip through msgpack or json
    (lists in place of tuples).

    Raises
    ------
    ValueError
        If ``value`` describes no dtype; the message shows valid examples.
    """
    try:
        return np.dtype(_from_params(value))
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(
            f"invalid dtype {value!r}: {exc}. Use a numpy dtype such as 'float32' or "
            "[('index', 'int64'), ('type', 'int32')]"
        ) from None


def _from_params(value: Any) -> Any:
    if isinstance(value, np.dtype):
        return value
    if isinstance(value, Mapping):
        if "names" in value:  # explicit layout (padding, offsets)
            layout: Any = dict(value, formats=[_from_params(f) for f in value["formats"]])
            return np.dtype(layout)
        if "base" in value and "shape" in value:
            return np.dtype((_from_params(value["base"]), tuple(value["shape"])))
        return value
    if isinstance(value, list):
        fields = []
        for field in value:
            if not isinstance(field, (list, tuple)):
                return value  # not a field list: let np.dtype judge it
            name = tuple(field[0]) if isinstance(field[0], list) else field[0]  # (title, name)
            fmt = _from_params(field[1])
            fields.append((name, fmt, tuple(field[2])) if len(field) > 2 else (name, fmt))
        return np.dtype(fields)
    return value
