"""A server fed garbage answers an error or drops the message, logs it, and keeps serving."""

from __future__ import annotations

import json
import logging
import random

import msgpack
import pytest
import zmq

from lslacq.core.rpc import RPCClient


def _raw_socket(address: str) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 5000)
    sock.connect(address)
    return sock


def _reply(sock: zmq.Socket, ser: str | None = None) -> dict:
    """Receive one reply; ``ser`` is the serializer it must use (None: either)."""
    data = sock.recv()
    if ser == "json" or (ser is None and data[:1] == b"{"):
        return json.loads(data)
    return msgpack.unpackb(data, raw=False)


def _ping_works(sock: zmq.Socket) -> bool:
    sock.send_multipart([b"999", b"ping", b"auto", b"json", b""])
    while True:  # earlier garbage may have been answered: skip those replies
        reply = _reply(sock)
        if reply["req_id"] == 999:
            return reply["rval"] == "pong" and reply["error"] is None


ANSWERED = [
    # (frames, expected error type) -- the req_id is readable, so an error reply comes back
    ([b"1", b"frobnicate", b"auto", b"json", b"{}"], "ValueError"),
    ([b"2", b"call_obj", b"auto", b"json", b"{not json"], "JSONDecodeError"),
    ([b"3", b"call_obj", b"auto", b"msgpack", b"\xc1\xc1\xc1"], None),
    ([b"4", b"call_obj", b"auto", b"json", b"[1, 2]"], "TypeError"),
    (
        [
            b"5",
            b"call_obj",
            b"auto",
            b"json",
            json.dumps(
                {
                    "obj": {"___type_name___": "proxy", "rpc_addr": "SELF", "obj_id": 123456, "attributes": []},
                    "args": [],
                    "kwargs": {},
                }
            ).encode(),
        ],
        "KeyError",
    ),
    ([b"6", b"get_obj", b"auto", b"json", b"{}"], "KeyError"),
    ([b"7", b"ping", b"sideways", b"json", b""], "ValueError"),
    ([b"8", b"ping", b"auto", b"pickle", b""], "ValueError"),
    ([b"9", b"ping"], "ValueError"),
    ([b"10", b"ping", b"auto", b"json", b"", b"extra"], "ValueError"),
    ([b"11", b"get_obj", b"auto", b"json", json.dumps({"obj": {"___type_name___": "martian"}}).encode()], "ValueError"),
    ([b"12", b"delete", b"auto", b"json", json.dumps({"obj_id": 777, "ref_id": 1}).encode()], "KeyError"),
    (
        [b"13", b"import", b"auto", b"json", json.dumps({"module": "no_such_module_xyz"}).encode()],
        "ModuleNotFoundError",
    ),
    # well-formed JSON with the wrong shapes
    ([b"14", b"call_obj", b"auto", b"json", json.dumps({"obj": 5, "args": [], "kwargs": {}}).encode()], "TypeError"),
    (
        [b"15", b"call_obj", b"auto", b"json", json.dumps({"obj": {"___type_name___": "proxy"}}).encode()],
        "ValueError",
    ),  # "encoded 'proxy' in RPC message lacks 'rpc_addr', 'obj_id'"
    ([b"16", b"get_item", b"auto", b"json", json.dumps({"name": "self"}).encode()], None),
    (
        [
            b"17",
            b"get_obj",
            b"auto",
            b"json",
            json.dumps({"obj": {"___type_name___": "ndarray", "data": "!!", "dtype": "f8", "shape": [3]}}).encode(),
        ],
        None,
    ),
    (
        [
            b"18",
            b"get_obj",
            b"value",
            b"json",
            json.dumps(
                {"obj": {"___type_name___": "ndarray", "data": "", "dtype": "not-a-dtype", "shape": [1]}}
            ).encode(),
        ],
        "ValueError",
    ),  # normalize_dtype: "invalid dtype 'not-a-dtype' ... use a numpy dtype such as ..."
]

DROPPED = [
    [b"not-a-number", b"ping", b"auto", b"json", b""],
    [b"\xff\xfe"],
    [b""],
    [b"-1", b"frobnicate", b"auto", b"json", b""],  # no reply asked
]


def test_garbage_is_answered_or_dropped_and_logged(start_server, caplog):
    srv = start_server()
    sock = _raw_socket(srv.address)
    try:
        with caplog.at_level(logging.WARNING, logger="lslacq.core.rpc"):
            for frames, expected in ANSWERED:
                frames = [f.replace(b"SELF", srv.address.encode()) for f in frames]
                sock.send_multipart(frames)
                ser = "msgpack" if len(frames) > 3 and frames[3] == b"msgpack" else "json"
                reply = _reply(sock, ser)
                assert reply["req_id"] == int(frames[0]), frames
                if frames[0] == b"16":  # a legal request (the server publishes itself as 'self')
                    assert reply["error"] is None and reply["rval"]["___type_name___"] == "proxy"
                    continue
                assert reply["error"] is not None, frames
                if expected:
                    assert reply["error"][0] == expected, (frames, reply["error"])
                assert _ping_works(sock)
            for frames in DROPPED:
                sock.send_multipart(frames)
                assert _ping_works(sock)  # the next reply is the ping's: nothing was answered
        assert "malformed request" in caplog.text and "frobnicate" in caplog.text
    finally:
        sock.close()


def test_huge_frame_and_random_bytes(start_server):
    srv = start_server()
    sock = _raw_socket(srv.address)
    rng = random.Random(1234)
    try:
        sock.send_multipart([b"1", b"call_obj", b"auto", b"msgpack", rng.randbytes(20_000_000)])
        assert _reply(sock, "msgpack")["error"] is not None
        for _ in range(300):
            n = rng.randint(1, 8)
            frames = [rng.randbytes(rng.randint(0, 64)) for _ in range(n)]
            if rng.random() < 0.5 and n >= 5:
                frames[0] = str(rng.randint(-2, 10**6)).encode()
                frames[3] = rng.choice([b"json", b"msgpack"])
            sock.send_multipart(frames)
        assert _ping_works(sock)
        # a well-behaved client is still served normally
        client = RPCClient(srv.address)
        assert client.ping() == "pong"
        client.close()
    finally:
        sock.close()


@pytest.mark.slow
def test_message_size_limit_disconnects_only_the_offender(start_server):
    srv = start_server(max_message_size=1_000_000)
    big = _raw_socket(srv.address)
    big.setsockopt(zmq.RCVTIMEO, 300)
    try:
        big.send_multipart([b"1", b"ping", b"auto", b"json", b"x" * 2_000_000])
        with pytest.raises(zmq.Again):
            big.recv()
        client = RPCClient(srv.address)
        assert client.ping() == "pong"
        client.close()
    finally:
        big.close()
