"""RPC frames fed garbage: the serializers raise ValueError naming the problem; a real server keeps serving."""

from __future__ import annotations

import json
import threading

import msgpack
import pytest
import zmq
from fuzz_profiles import PROFILES, check_named, fuzz_settings
from hypothesis import example, given
from hypothesis import strategies as st

from lslacq.core.rpc import RPCClient, RPCServer
from lslacq.core.rpc.serializer import TYPE_KEY, JsonSerializer, MsgpackSerializer
from lslacq.errors import RemoteCallError

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),
    st.text(max_size=12),
    st.binary(max_size=12),
)
_keys = st.one_of(st.text(max_size=8), st.integers(-1000, 1000))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=6,
)
_TYPE_NAMES = ["ndarray", "bytes", "datetime", "date", "none", "exception", "deferred", "proxy", "martian"]
_FIELDS = [
    "data",
    "dtype",
    "shape",
    "type",
    "message",
    "traceback",
    "rpc_addr",
    "obj_id",
    "ref_id",
    "type_str",
    "attributes",
    "server_key",
]
#: dicts that look like encoded objects: a type name and some of the fields, of any value
encoded_objects = st.builds(
    lambda name, fields: {TYPE_KEY: name, **fields},
    st.sampled_from(_TYPE_NAMES),
    st.dictionaries(st.sampled_from(_FIELDS), _values, max_size=4),
)
_shaped = st.one_of(
    encoded_objects, _values, st.dictionaries(st.sampled_from(["obj", "args"]), encoded_objects, max_size=2)
)


def _msgpack_bytes(value) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _json_bytes(value) -> bytes:
    return json.dumps(value, default=lambda b: b.hex()).encode()


def _loads_or_named_error(serializer, raw: bytes) -> None:
    try:
        serializer.loads(raw)
    except ValueError as exc:  # json, msgpack and the decoders: ValueError (JSONDecodeError, UnicodeDecodeError...)
        message = str(exc)
    else:
        return
    # anything else (KeyError, TypeError, IndexError...) fails the test
    assert message, f"a ValueError without a message for {raw!r}"


@pytest.mark.parametrize("profile", PROFILES)
def test_msgpack_loads_gives_a_value_or_a_value_error(profile):
    ser = MsgpackSerializer()

    @fuzz_settings(profile, scale=0.5)
    @given(raw=st.one_of(st.binary(max_size=64), _shaped.map(_msgpack_bytes)))
    @example(raw=_msgpack_bytes({TYPE_KEY: "proxy"}))  # no rpc_addr
    @example(raw=_msgpack_bytes({TYPE_KEY: "proxy", "rpc_addr": "tcp://127.0.0.1:9", "obj_id": 1, "attributes": 5}))
    @example(raw=_msgpack_bytes({TYPE_KEY: "proxy", "rpc_addr": [1], "obj_id": {}}))
    @example(raw=_msgpack_bytes({TYPE_KEY: "ndarray", "data": b"\0" * 8, "dtype": "f8", "shape": [3]}))
    @example(raw=b"\x81\x91\x00\x00")  # a map whose key is a list
    @example(raw=b"\xc1")  # msgpack's reserved byte: a FormatError without a message
    def check(raw):
        _loads_or_named_error(ser, raw)

    check()


@pytest.mark.parametrize("profile", PROFILES)
def test_json_loads_gives_a_value_or_a_value_error(profile):
    ser = JsonSerializer()

    @fuzz_settings(profile, scale=0.5)
    @given(raw=st.one_of(st.binary(max_size=64), _shaped.map(_json_bytes)))
    @example(raw=b'{"___type_name___": "datetime", "data": 5}')
    @example(raw=b'{"___type_name___": "ndarray", "data": "AAAA", "dtype": "f8", "shape": "x"}')
    @example(raw=b"[" * 100_000)
    @example(raw=b'{"___type_name___": "proxy", "rpc_addr": "tcp://127.0.0.1:9", "obj_id": 1, "attributes": 5}')
    def check(raw):
        _loads_or_named_error(ser, raw)

    check()


# -- a real server -----------------------------------------------------------------------------------------------

_ACTIONS = [b"call_obj", b"get_obj", b"get_item", b"delete", b"ping", b"import", b"close", b"frobnicate", b""]
_frames = st.one_of(
    st.lists(st.binary(max_size=24), min_size=1, max_size=7),
    st.builds(
        lambda req, action, rtype, ser, opts: [req, action, rtype, ser, opts],
        st.one_of(st.integers(-3, 10**6).map(lambda i: str(i).encode()), st.binary(max_size=8), st.just(b"9" * 5000)),
        st.sampled_from(_ACTIONS),
        st.sampled_from([b"auto", b"value", b"proxy", b"x"]),
        st.sampled_from([b"json", b"msgpack", b"pickle"]),
        st.one_of(st.binary(max_size=48), _shaped.map(_msgpack_bytes), _shaped.map(_json_bytes)),
    ),
)


def _harmless(frames: list) -> bool:
    """Garbage that cannot legitimately stop or reconfigure the server (a well-formed 'close' would)."""
    return b"close" not in frames and not any(b"import" in f for f in frames)


@pytest.mark.parametrize("profile", PROFILES)
def test_server_answers_a_ping_after_any_garbage(profile):
    srv = RPCServer()
    thread = threading.Thread(target=srv.run_forever, name="fuzzed-rpc", daemon=True)
    thread.start()
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(srv.address)
    state = {"ping": 10**9}
    try:

        @fuzz_settings(profile, scale=0.5)
        @given(garbage=st.lists(_frames.filter(_harmless), min_size=1, max_size=3))
        @example(garbage=[[b"9" * 5000, b"ping", b"auto", b"pickle", b""]])  # a req_id int() refuses
        @example(garbage=[[b"1" + b"0" * 25, b"ping", b"auto", b"msgpack", b"", b"extra"]])  # msgpack cannot pack
        @example(garbage=[[b"1" + b"0" * 25, b"ping", b"auto", b"msgpack", b""]])
        def check(garbage):
            for frames in garbage:
                sock.send_multipart(frames)
            state["ping"] += 1
            sock.send_multipart([str(state["ping"]).encode(), b"ping", b"auto", b"json", b""])
            while True:  # replies to the garbage (errors) come first, each one a well-formed reply
                assert sock.poll(5000), f"no reply to the ping within 5 s after {garbage!r:.300}"
                data = sock.recv()
                reply = json.loads(data) if data[:1] == b"{" else msgpack.unpackb(data, raw=False)
                assert reply["action"] == "return"
                if reply["error"] is not None:
                    error_type, lines = reply["error"]
                    assert isinstance(error_type, str) and "".join(lines).strip()
                if reply["req_id"] == state["ping"]:
                    assert reply["rval"] == "pong" and reply["error"] is None
                    return

        check()
        client = RPCClient(srv.address)  # and a well-behaved client is served normally
        try:
            assert client.ping() == "pong"
        finally:
            client.close()
    finally:
        sock.close()
        srv.close()
        thread.join(5)
    assert not thread.is_alive()


def test_remote_errors_of_garbage_name_the_request():
    """An error reply to a malformed request says which request (action and req_id) it is about."""
    srv = RPCServer()
    thread = threading.Thread(target=srv.run_forever, name="fuzzed-rpc-named", daemon=True)
    thread.start()
    client = RPCClient(srv.address)
    try:
        with pytest.raises(RemoteCallError) as info:
            client.send(
                "get_obj",
                opts={"obj": {TYPE_KEY: "ndarray", "data": b"\0", "dtype": "f8", "shape": [2]}},
                return_type="value",
                sync="sync",
            )
        check_named(info.value, "get_obj")
    finally:
        client.close()
        srv.close()
        thread.join(5)
