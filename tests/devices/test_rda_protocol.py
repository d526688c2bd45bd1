"""RDA message framing, parsing and building (no sockets except socketpair)."""

from __future__ import annotations

import random
import socket
import struct
import threading

import numpy as np
import pytest

from lslacq.devices.rda.protocol import (
    HEADER_SIZE,
    MSG_DATA16,
    MSG_DATA32,
    MSG_KEEPALIVE,
    RDA_GUID,
    DataMessage,
    Marker,
    OtherMessage,
    RdaParser,
    RdaProtocolError,
    StartMessage,
    StopMessage,
    build_data,
    build_header,
    build_message,
    build_start,
    build_stop,
    markers_to_array,
)
from lslacq.errors import BrokenStreamError

NAMES = ["Fp1", "Fp2", "Cz", "Oz\u00e9"]
RES = [0.1, 0.1, 0.5, 1.0]


def _start():
    return build_start(1e6 / 500.0, RES, NAMES)


def _session(int16=False):
    """A Recorder-like byte stream and the messages it contains."""
    rng = np.random.default_rng(0)
    blocks = []
    parts = [_start(), build_message(MSG_KEEPALIVE, b"\x01\x02")]
    for b in range(5):
        if int16:
            data = rng.integers(-30000, 30000, size=(10, 4)).astype(np.int16)
        else:
            data = rng.normal(size=(10, 4)).astype(np.float32)
        markers = [Marker(b, 1, -1, "Stimulus", f"S{b:3d}")] if b % 2 else []
        blocks.append((b + 100, data, markers))
        parts.append(build_data(b + 100, data, markers))
        parts.append(build_message(100000, RDA_GUID * 3))  # body that looks like headers
    parts.append(build_stop())
    return b"".join(parts), blocks


def _collect(parser):
    out = []
    for msg in parser.messages():
        if isinstance(msg, DataMessage):  # data may be a view into the receive buffer
            msg.data = None if msg.data is None else msg.data.copy()
        out.append(msg)
    return out


def _check_session(msgs, blocks, int16=False):
    assert isinstance(msgs[0], StartMessage)
    start = msgs[0]
    assert start.n_channels == 4 and start.channel_names == NAMES
    assert start.sample_rate == pytest.approx(500.0)
    np.testing.assert_array_equal(start.resolutions, RES)
    assert isinstance(msgs[1], OtherMessage) and msgs[1].msg_type == MSG_KEEPALIVE
    data = [m for m in msgs if isinstance(m, DataMessage)]
    others = [m for m in msgs if isinstance(m, OtherMessage)]
    assert len(data) == 5 and len(others) == 6
    for msg, (block, values, markers) in zip(data, blocks, strict=True):
        assert msg.block == block and msg.n_points == 10
        assert msg.msg_type == (MSG_DATA16 if int16 else MSG_DATA32)
        np.testing.assert_array_equal(msg.data, values)
        assert msg.markers == markers
    assert isinstance(msgs[-1], StopMessage)


@pytest.mark.parametrize("int16", [False, True])
def test_whole_stream_roundtrip(int16):
    stream, blocks = _session(int16)
    parser = RdaParser()
    parser.feed(stream)
    _check_session(_collect(parser), blocks, int16)
    assert parser.pending_bytes == 0


@pytest.mark.parametrize("int16", [False, True])
def test_byte_by_byte_fragmentation(int16):
    stream, blocks = _session(int16)
    parser = RdaParser(buffer_size=64)  # forces compaction and growth
    msgs = []
    for i in range(len(stream)):
        parser.feed(stream[i : i + 1])
        msgs += _collect(parser)
    _check_session(msgs, blocks, int16)


def test_random_fragmentation_many_seeds():
    stream, blocks = _session()
    for seed in range(20):
        rng = random.Random(seed)
        parser = RdaParser(buffer_size=128)
        msgs, pos = [], 0
        while pos < len(stream):
            n = rng.randint(1, 300)
            parser.feed(stream[pos : pos + n])
            pos += n
            msgs += _collect(parser)
        _check_session(msgs, blocks)


def test_recv_into_from_socket_grows_for_large_messages():
    a, b = socket.socketpair()
    try:
        data = np.arange(2000 * 64, dtype=np.float32).reshape(2000, 64)  # 512 kB message
        stream = build_start(1000.0, [1.0] * 64, [f"c{i}" for i in range(64)]) + build_data(1, data)

        def send():
            a.sendall(stream)
            a.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        parser = RdaParser(buffer_size=4096)
        msgs = []
        while parser.recv_into_from(b, 1000):
            msgs += _collect(parser)
        assert [type(m) for m in msgs] == [StartMessage, DataMessage]
        np.testing.assert_array_equal(msgs[1].data, data)
        sender.join(timeout=10)
        assert parser.bytes_received == len(stream) and parser.pending_bytes == 0
    finally:
        a.close()
        b.close()


def test_data_before_start_has_no_values():
    parser = RdaParser()
    parser.feed(build_data(7, np.zeros((5, 3), np.float32)))
    msg = parser.next_message()
    assert isinstance(msg, DataMessage) and msg.block == 7 and msg.n_points == 5 and msg.data is None


def test_start_repeated_with_new_layout_changes_data_shape():
    parser = RdaParser()
    parser.feed(build_start(1000.0, [1.0] * 2, ["a", "b"]) + build_data(1, np.ones((3, 2), np.float32)))
    parser.feed(build_start(2000.0, [1.0] * 5, list("abcde")) + build_data(1, np.ones((3, 5), np.float32)))
    shapes = [m.data.shape for m in parser.messages() if isinstance(m, DataMessage)]
    assert shapes == [(3, 2), (3, 5)]
    assert parser.start_message.n_channels == 5 and parser.start_message.sample_rate == 500.0


def test_markers_to_array_absolute_positions():
    arr = markers_to_array([Marker(3, 2, 1, "Response", "R  4")], offset=1000)
    assert arr["pos"][0] == 1003 and arr["points"][0] == 2 and arr["channel"][0] == 1
    assert arr["type"][0] == b"Response" and arr["description"][0] == b"R  4"


# -- faults ----------------------------------------------------------------


def _parse_all(data, **kw):
    parser = RdaParser(**kw)
    parser.feed(data)
    return list(parser.messages())


def test_wrong_guid_is_rejected():
    bad = b"\x00" * 16 + struct.pack("<II", 24, 3)
    with pytest.raises(RdaProtocolError, match="GUID") as info:
        _parse_all(_start() + bad)
    assert isinstance(info.value, BrokenStreamError)


def test_wrong_guid_detected_from_first_24_bytes():
    parser = RdaParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length")
    with pytest.raises(RdaProtocolError, match="not an RDA server"):
        parser.next_message()


def test_size_smaller_than_header_is_rejected():
    with pytest.raises(RdaProtocolError, match="nSize=10"):
        _parse_all(build_header(MSG_DATA32, -14))


def test_absurd_size_rejected_before_allocation():
    parser = RdaParser(max_message_size=1 << 20)
    parser.feed(struct.pack("<16sII", RDA_GUID, 0xFFFFFFF0, 4))
    with pytest.raises(RdaProtocolError, match="max_message_size"):
        parser.next_message()
    a, b = socket.socketpair()
    try:  # the receive path checks the header before growing its buffer
        a.sendall(struct.pack("<16sII", RDA_GUID, 0xFFFFFFF0, 4))
        parser = RdaParser(max_message_size=1 << 20)
        parser.recv_into_from(b, 24)
        with pytest.raises(RdaProtocolError, match="max_message_size"):
            parser.recv_into_from(b)
    finally:
        a.close()
        b.close()


def test_absurd_channel_count_is_rejected():
    body = struct.pack("<Id", 10_000_000, 1000.0)
    with pytest.raises(RdaProtocolError, match="10000000 channels"):
        _parse_all(build_message(1, body))


def test_truncated_start_is_rejected():
    start = _start()
    body = start[HEADER_SIZE:]
    with pytest.raises(RdaProtocolError, match="truncated"):
        _parse_all(build_message(1, body[:30]))  # resolutions cut short
    with pytest.raises(RdaProtocolError, match="channel names"):
        _parse_all(build_message(1, body[: 12 + 32 + 4]))  # names cut short
    with pytest.raises(RdaProtocolError, match="sampling interval"):
        _parse_all(build_start(0.0, [1.0], ["a"]))


def test_truncated_data_block_is_rejected():
    msg = build_data(1, np.zeros((10, 4), np.float32))
    cut = build_message(MSG_DATA32, msg[HEADER_SIZE:-8])
    with pytest.raises(RdaProtocolError, match="10 points x 4 channels"):
        _parse_all(_start() + cut)


def test_bad_marker_size_is_rejected():
    msg = bytearray(build_data(1, np.zeros((2, 4), np.float32), [Marker(0, 1, -1, "Stimulus", "S  1")]))
    marker_at = HEADER_SIZE + 12 + 2 * 4 * 4
    struct.pack_into("<I", msg, marker_at, 4)  # nSize smaller than the marker header
    with pytest.raises(RdaProtocolError, match="marker 1/1"):
        _parse_all(_start() + bytes(msg))


def test_incomplete_message_waits_for_more_bytes():
    parser = RdaParser()
    msg = _start()
    parser.feed(msg[:-1])
    assert parser.next_message() is None
    parser.feed(msg[-1:])
    assert isinstance(parser.next_message(), StartMessage)


def test_build_start_rejects_mismatched_names():
    with pytest.raises(ValueError, match="one per channel"):
        build_start(1000.0, [1.0, 1.0], ["a"])
