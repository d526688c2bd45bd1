"""Serializers: every documented type round-trips through msgpack and json."""

from __future__ import annotations

import base64
import datetime
import json

import msgpack
import numpy as np
import pytest

from lslacq.core.rpc import ObjectProxy, RPCServer
from lslacq.core.rpc.serializer import (
    TYPE_KEY,
    JsonSerializer,
    MsgpackSerializer,
    get_serializer,
)
from lslacq.errors import RemoteCallError

SERIALIZERS = [MsgpackSerializer, JsonSerializer]


@pytest.mark.parametrize("cls", SERIALIZERS)
@pytest.mark.parametrize(
    "arr",
    [
        np.arange(12, dtype="float32").reshape(3, 4),
        np.arange(10, dtype=">i2"),
        np.array(3.5),
        np.zeros((0, 3)),
        np.arange(20).reshape(4, 5)[:, 1:3],  # non-contiguous
        np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "i4"), ("b", "f8")]),
        np.array([1 + 2j, 3 - 1j]),
    ],
)
def test_ndarray_round_trip(cls, arr):
    ser = cls()
    out = ser.loads(ser.dumps({"a": arr}))["a"]
    assert isinstance(out, np.ndarray)
    assert out.dtype == arr.dtype and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)
    out[...] = 0 if out.dtype.fields is None else out  # decoded arrays are writeable copies


@pytest.mark.parametrize("cls", SERIALIZERS)
def test_basic_and_special_types(cls):
    ser = cls()
    value = {
        "int": 3,
        "float": 1.5,
        "str": "é",
        "none": None,
        "bool": True,
        "list": [1, [2, 3]],
        "tuple": (1, 2),
        "bytes": b"\x00\xffraw",
        "dt": datetime.datetime(2024, 5, 6, 7, 8, 9, 123456),
        "date": datetime.date(2024, 5, 6),
        "npint": np.int64(7),
        "npfloat": np.float32(0.5),
        "nested": {"x": {"y": [None, b"z"]}},
    }
    out = ser.loads(ser.dumps(value))
    assert out["tuple"] == [1, 2]  # tuples become lists, as documented
    assert out["bytes"] == b"\x00\xffraw"
    assert out["dt"] == value["dt"] and out["date"] == value["date"]
    assert out["npint"] == 7 and type(out["npint"]) is int
    assert out["nested"] == {"x": {"y": [None, b"z"]}}
    assert {k: out[k] for k in ("int", "float", "str", "none", "bool", "list")} == {
        k: value[k] for k in ("int", "float", "str", "none", "bool", "list")
    }


def test_wire_formats_match_the_manual():
    arr = np.arange(3, dtype="int16")
    js = json.loads(JsonSerializer().dumps({"a": arr, "b": b"hi"}))
    assert js["a"][TYPE_KEY] == "ndarray" and TYPE_KEY == "___type_name___"
    assert base64.b64decode(js["a"]["data"]) == arr.tobytes() and js["a"]["shape"] == [3]
    assert js["b"] == {TYPE_KEY: "bytes", "data": base64.b64encode(b"hi").decode()}
    mp = msgpack.unpackb(MsgpackSerializer().dumps({"a": arr, "b": b"hi"}), raw=False)
    assert mp["a"]["data"] == arr.tobytes() and mp["b"] == b"hi"  # msgpack sends bytes natively
    # the old explicit None encoding is still understood
    for ser in (JsonSerializer(), MsgpackSerializer()):
        assert ser.loads(ser.dumps({"x": {TYPE_KEY: "none"}})) == {"x": None}


@pytest.mark.parametrize("name", ["msgpack", "json"])
def test_proxy_encoding(name):
    proxy = ObjectProxy("tcp://127.0.0.1:1234", 5, 9, "<class 'X'>", ("a", "b"))
    ser = get_serializer(name)
    out = ser.loads(ser.dumps([proxy]))[0]
    assert isinstance(out, ObjectProxy) and out == proxy
    assert (out._obj_id, out._ref_id, out._attributes, out._type_str) == (5, 9, ("a", "b"), "<class 'X'>")


def test_unserializable_without_server_names_the_fix():
    with pytest.raises(TypeError, match="run_lazy"):
        MsgpackSerializer().dumps({"x": object()})


def test_unserializable_with_server_becomes_proxy_and_unwraps_locally():
    with RPCServer() as server:
        ser = MsgpackSerializer(server=server)
        obj = object()
        data = ser.dumps({"x": obj})
        assert ser.loads(data)["x"] is obj  # the owning server gets its object back
        other = MsgpackSerializer().loads(data)["x"]  # anyone else gets a proxy
        assert isinstance(other, ObjectProxy) and other._rpc_addr == server.address
        with pytest.raises(TypeError, match="by value"):
            ser.dumps({"x": obj}, allow_proxy=False)


@pytest.mark.parametrize("cls", SERIALIZERS)
def test_exceptions_travel_by_value(cls):
    """An exception (a node's ``error``) arrives as a RemoteCallError, never as a proxy, even with a server."""
    try:
        raise ValueError("gain must be positive, got -1")
    except ValueError as exc:
        raised = exc
    with RPCServer() as server:
        ser = cls(server=server)
        back = cls().loads(ser.dumps({"error": raised, "plain": KeyError("ch9")}, allow_proxy=False))
    error = back["error"]
    assert isinstance(error, RemoteCallError) and isinstance(error, ValueError)
    assert (error.remote_type, error.remote_message) == ("ValueError", "gain must be positive, got -1")
    assert "test_exceptions_travel_by_value" in "".join(error.remote_traceback)
    assert isinstance(back["plain"], KeyError) and back["plain"].remote_traceback == []
    # forwarded once more (a manager relaying a node's error): same type, message and traceback
    again = cls().loads(cls().dumps(error))
    assert (again.remote_type, again.remote_message, again.remote_traceback) == (
        "ValueError",
        "gain must be positive, got -1",
        error.remote_traceback,
    )


def test_unknown_serializer_and_type():
    with pytest.raises(ValueError, match="msgpack"):
        get_serializer("pickle")
    with pytest.raises(ValueError, match="unknown encoded type"):
        JsonSerializer().loads(json.dumps({TYPE_KEY: "martian"}))


def test_padded_structured_dtype_survives_a_real_rpc_round_trip(start_server):
    """Issue 12: a padded dtype survived StreamSpec but came back from RPC with extra void fields."""
    from lslacq.core.rpc import RPCClient
    from lslacq.core.stream import StreamSpec

    padded = np.dtype({"names": ["index", "value"], "formats": ["<i8", "<f4"], "offsets": [0, 12], "itemsize": 24})
    srv = start_server()
    client = RPCClient(srv.address)
    try:
        rnp = client._import("numpy")
        arr = np.zeros(3, padded)
        arr["index"] = [1, 2, 3]
        echoed = rnp.asarray(arr)
        assert echoed.dtype == padded and echoed.dtype.names == ("index", "value")
        np.testing.assert_array_equal(echoed["index"], [1, 2, 3])
        rcopy = client._import("copy")
        params = rcopy.deepcopy(StreamSpec(dtype=padded, shape=(-1,)).to_dict())
        assert StreamSpec.from_dict(params).np_dtype == padded
    finally:
        client.close()
