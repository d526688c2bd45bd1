"""One serialisable dtype form, shared by StreamSpec and the RPC serializers (issue 12, part 3)."""

import json

import msgpack
import numpy as np
import pytest

from lslacq.core import dtypes
from lslacq.core.rpc import serializer
from lslacq.core.rpc.serializer import JsonSerializer, MsgpackSerializer
from lslacq.core.stream import StreamSpec, spec

PADDED = np.dtype({"names": ["index", "value"], "formats": ["<i8", "<f4"], "offsets": [0, 12], "itemsize": 24})
DTYPES = [
    np.dtype("float32"),
    np.dtype(">i2"),
    np.dtype("U5"),
    np.dtype("M8[ns]"),
    np.dtype([("index", "<i8"), ("type", "<i4")]),
    PADDED,
    np.dtype([("a", "u1"), ("b", "<i4")], align=True),
    np.dtype([("x", [("y", "<i2"), ("z", "u1")]), ("w", ">f8")]),  # nested
    np.dtype([("p", np.dtype({"names": ["q"], "formats": ["u1"], "offsets": [2], "itemsize": 4}))]),
    np.dtype([("a", "<i8"), ("b", "<f4", (3,))]),  # subarray field
    np.dtype({"names": ["a", "b"], "formats": ["<i8", ("<f4", (2, 2))], "offsets": [0, 12], "itemsize": 40}),
    np.dtype([(("a title", "nm"), "<i4")]),
]


def test_stream_spec_and_rpc_use_the_same_functions():
    assert spec.normalize_dtype is dtypes.normalize_dtype and spec.dtype_to_params is dtypes.dtype_to_params
    assert serializer.normalize_dtype is dtypes.normalize_dtype


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_dtype_survives_json_and_msgpack(dtype):
    params = dtypes.dtype_to_params(dtype)
    for wire in (json.loads(json.dumps(params)), msgpack.unpackb(msgpack.packb(params))):
        assert dtypes.normalize_dtype(wire) == dtype


@pytest.mark.parametrize("cls", [MsgpackSerializer, JsonSerializer])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_arrays_of_every_dtype_survive_the_rpc_serializers(cls, dtype):
    """The padded dtype came back with extra void fields ('f1', 'f3'); nested ones failed to decode."""
    arr = np.zeros(4, dtype)
    arr.view(np.uint8)[:] = np.arange(arr.nbytes) % 251
    ser = cls()
    out = ser.loads(ser.dumps({"a": arr}))["a"]
    assert out.dtype == dtype and out.dtype.names == dtype.names
    for name in dtype.names or ():  # padding bytes carry nothing: compare the fields
        assert out[name].tobytes() == arr[name].tobytes()
    if dtype.names is None:
        assert out.tobytes() == arr.tobytes()


def test_spec_with_a_padded_dtype_survives_a_serializer_round_trip():
    original = StreamSpec(dtype=PADDED, shape=(-1,), streamtype="event")
    for cls in (MsgpackSerializer, JsonSerializer):
        ser = cls()
        back = StreamSpec.from_dict(ser.loads(ser.dumps(original.to_dict())))
        assert back.np_dtype == PADDED and back.np_dtype.names == ("index", "value")


def test_bad_dtype_is_a_clear_value_error():
    with pytest.raises(ValueError, match="invalid dtype 'nope'.*float32"):
        dtypes.normalize_dtype("nope")
    with pytest.raises(ValueError, match="invalid dtype"):
        dtypes.normalize_dtype([["a", "not-a-type"]])
