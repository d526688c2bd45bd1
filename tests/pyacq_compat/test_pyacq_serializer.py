"""pyacq's ``pyacq/core/rpc/tests/test_serializer.py``, renamed to lslacq."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from lslacq.core.rpc import ProcessSpawner
from lslacq.core.rpc.serializer import HAVE_MSGPACK, JsonSerializer, MsgpackSerializer


@pytest.fixture(scope="module")
def test_data():
    proc = ProcessSpawner()
    try:
        yield {
            "int": 1,
            "float": 1.0,
            "str": "abc",
            "bytes": b"abc",
            "ndarray": np.arange(8).reshape(2, 4).astype("float64"),
            "datetime": datetime.datetime(2015, 1, 1, 12, 0, 0),
            "date": datetime.date(2015, 1, 1),
            # 'tuple': both msgpack and json return tuples as lists (as pyacq notes)
            "list": [1, 2],
            "proxy": proc.client["self"],
        }
    finally:
        proc.stop()


def check_serializer(serializer, test_data):
    d2 = serializer.loads(serializer.dumps(test_data))
    for k, v1 in test_data.items():
        v2 = d2[k]
        assert type(v1) is type(v2)
        if k == "ndarray":
            assert np.all(v1 == v2)
        else:
            assert v1 == v2


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_MSGPACK, reason="msgpack not available")
def test_msgpack(test_data):
    check_serializer(MsgpackSerializer(), test_data)


def test_json(test_data):
    check_serializer(JsonSerializer(), test_data)
