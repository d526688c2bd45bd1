"""Streams fed garbage: JOIN/LEAVE/ACK from hostile readers, data messages from a hostile output.

An output keeps admitting readers and sending to the ones it has; a reader
keeps every good chunk around the bad messages, which raise
:class:`BrokenStreamError` naming the stream, nothing else.
"""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import zmq
from fuzz_profiles import PROFILES, check_named, fuzz_settings
from hypothesis import example, given
from hypothesis import strategies as st

from lslacq.core.stream import InputStream, OutputStream
from lslacq.core.stream.flowcontrol import ReaderState, parse_join
from lslacq.core.stream.plaindata import PlainDataReceiver
from lslacq.core.stream.spec import StreamSpec
from lslacq.core.stream.transport import ACK, ACK_COUNTS, CLOSED, HELLO, JOIN, LEAVE, SYNC, pack_header, pack_shape
from lslacq.errors import BrokenStreamError, StreamClosedError

# JSON values, including what Python's json reads but other peers never send: NaN, Infinity, huge numbers
_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20)
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12,
)
_OPTION_KEYS = ("pid", "host", "name", "slot", "latest_only", "credit", "max_buffered", "max_buffered_bytes")
_join_objects = st.dictionaries(st.sampled_from(_OPTION_KEYS), _json_values, max_size=6)


def _json_bytes(value) -> bytes:
    return json.dumps(value).encode()


#: raw JOIN option payloads: JSON objects of the real keys, any JSON, bytes, and a few pathological texts
join_payloads = st.one_of(
    _join_objects.map(_json_bytes),
    _json_values.map(_json_bytes),
    st.binary(max_size=64),
    st.sampled_from(
        [
            b'{"max_buffered": Infinity}',
            b'{"max_buffered_bytes": Infinity}',
            b'{"max_buffered": -Infinity}',
            b'{"max_buffered": NaN}',
            b'{"max_buffered": 1e400}',
            b'{"max_buffered_bytes": 1e300}',
            b'{"pid": ' + b"9" * 5000 + b"}",
            b"[" * 100_000,
            b'{"a":' * 50_000,
        ]
    ),
)


@pytest.mark.parametrize("profile", PROFILES)
def test_join_options_are_read_or_refused_with_a_named_error(profile):
    @fuzz_settings(profile, scale=0.5)
    @given(raw=join_payloads, rate=st.sampled_from([None, 500.0, 30000.0]))
    def check(raw, rate):
        try:
            options = parse_join(raw)
        except ValueError as exc:
            check_named(exc, "reader options")
            return
        assert isinstance(options, dict)
        try:
            reader = ReaderState(b"id", options, rate, window=(1000, 1 << 26))
        except ValueError as exc:
            check_named(exc, "max_buffered")  # the option named, then the output uses its defaults
            return
        assert reader.max_buffered >= 0 and math.isfinite(reader.max_buffered)
        reader.label  # noqa: B018 -- the log label of any accepted reader formats

    check()


# -- a real output facing hostile readers --------------------------------------------------------------------

_control = st.sampled_from([JOIN, LEAVE, ACK, HELLO, CLOSED, SYNC, b""])
_frame = st.one_of(
    _control,
    join_payloads,
    st.binary(max_size=40),
    st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**63), 2**63 - 1)).map(
        lambda c: ACK + ACK_COUNTS.pack(*c)
    ),
)
#: a message a hostile reader sends: 1..4 frames, often starting like a real one
reader_messages = st.lists(
    st.one_of(st.lists(_frame, min_size=1, max_size=4), st.tuples(st.just(JOIN), join_payloads).map(list)),
    min_size=1,
    max_size=4,
)


def _await_hello(sock: zmq.Socket, timeout_ms: int = 5000) -> None:
    """Skip what the output sent this socket until its HELLO (fails if it never comes)."""
    while True:
        assert sock.poll(timeout_ms), "the output stopped admitting readers: no HELLO within 5 s"
        if sock.recv_multipart() == [HELLO]:
            return


@pytest.mark.parametrize("profile", PROFILES)
def test_output_keeps_admitting_and_sending_whatever_readers_send(profile):
    out = OutputStream(name="fuzzed-out")
    out.configure(protocol="tcp", interface="127.0.0.1", dtype="float32", shape=(-1, 2))
    good = InputStream(name="good-reader")
    good.connect(out)
    ctx = zmq.Context.instance()
    hostile = ctx.socket(zmq.DEALER)
    hostile.setsockopt(zmq.LINGER, 0)
    hostile.connect(out.params["url"])
    state = {"index": 0}
    try:

        @fuzz_settings(profile, scale=0.5)
        @given(messages=reader_messages)
        def check(messages):
            for frames in messages:
                hostile.send_multipart(frames)
            # the same socket's valid JOIN comes after its garbage: its HELLO proves all of it was handled
            hostile.send_multipart([JOIN, b"{}"])
            _await_hello(hostile)
            # the writer's own admission path (send looks for JOINs too) and the good reader are unaffected
            chunk = np.full((3, 2), state["index"], np.float32)
            out.send(chunk)
            state["index"] += 3
            index, data = good.recv(timeout=5000)
            assert index == state["index"] and np.array_equal(data, chunk)

        check()
        late = InputStream(name="late-reader")  # a reader joining after all that is admitted at once
        late.connect(out, timeout=5)
        out.send(np.zeros((1, 2), np.float32))
        assert late.recv(timeout=5000)[0] == state["index"] + 1
        late.close()
        assert good.lost_samples == 0
    finally:
        hostile.close()
        good.close()
        out.close()


# -- a reader facing a hostile output --------------------------------------------------------------------------

_SPEC = {"dtype": "float32", "shape": (-1, 3), "name": "fuzzed-in", "transfermode": "plaindata"}


def _header_messages() -> st.SearchStrategy:
    """Messages that start like data messages: headers with any fields, payloads of any size."""
    ints = st.integers(-(2**63), 2**63 - 1)
    small = st.integers(-4, 64)
    header = st.builds(
        lambda i, n, o, e, f: pack_header(i, n, o, e, f),
        st.one_of(ints, small),
        st.one_of(ints, small),
        st.sampled_from([b"C", b"F", b"X", b"\0"]),
        st.integers(0, 255),
        st.one_of(st.just(0), st.integers(0, 255)),
    )
    shape = st.lists(st.one_of(st.integers(-3, 5), st.integers(-(2**63), 2**63 - 1)), max_size=70).map(
        lambda dims: pack_shape(tuple(dims))
    )
    carried = st.builds(
        lambda i, n, s, extra: pack_header(i, n, b"C", 0, s[0]) + s[1] + extra,
        small,
        small,
        shape,
        st.binary(max_size=48),
    )
    packed = st.builds(lambda h, p: h + p, header, st.binary(max_size=96))
    two = st.tuples(st.one_of(header, carried, st.binary(max_size=40)), st.binary(max_size=96))
    return st.one_of(packed.map(lambda m: (m, None)), carried.map(lambda m: (m, None)), two)


data_messages = st.one_of(_header_messages(), st.binary(max_size=64).map(lambda m: (m, None)))


@pytest.mark.parametrize("profile", PROFILES)
def test_plaindata_decode_gives_a_chunk_or_a_named_error(profile):
    receiver = PlainDataReceiver(StreamSpec.from_dict(_SPEC))

    def carried(dims, n, payload=b""):
        flag, packed = pack_shape(dims)
        return pack_header(n, n, b"C", 0, flag) + packed + payload, None

    @fuzz_settings(profile)
    @given(message=data_messages)
    @example(message=carried((1,) * 70, 1, b"\0" * 4))  # more dimensions than numpy has
    @example(message=carried((2**32, 2**32), 0))  # an empty chunk of frames too big to exist
    @example(message=carried((2**62, 4), 0))
    @example(message=carried((2**32, 2**32), 1))  # int64 product wraps to 0 bytes
    def check(message):
        head, payload = message
        try:
            index, n, _epoch, data = receiver.decode(head, payload)
        except BrokenStreamError as exc:
            check_named(exc, "fuzzed-in")
            return
        assert n >= 0 and data.shape[0] == n and data.dtype == np.float32

    check()


def _garbage_messages():
    """What a hostile output sends between two good chunks (never its CLOSED: that ends a stream legitimately)."""
    return st.lists(data_messages.filter(lambda m: not (m[1] is None and m[0] == CLOSED)), max_size=4)


@pytest.mark.parametrize("profile", PROFILES)
def test_reader_keeps_every_good_chunk_around_garbage(profile):
    real = OutputStream(name="fuzzed-in")  # its params, at the address of a hand-driven ROUTER
    real.configure(protocol="tcp", interface="127.0.0.1", dtype="float32", shape=(-1, 3))
    params = dict(real.params)
    real.close()
    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    params["url"] = f"tcp://127.0.0.1:{port}"
    params.pop("credit_window", None)  # no ACK bookkeeping: this fake output never reads them
    reader = InputStream(name="victim")
    state = {"index": 0}

    def answer_join():
        assert router.poll(5000)
        identity, kind, *_ = router.recv_multipart()
        assert kind == JOIN
        for junk in (b"xx", b"\0" * 30):  # garbage before the HELLO is kept for recv(), which refuses it
            router.send_multipart([identity, junk])
        router.send_multipart([identity, HELLO])
        state["identity"] = identity

    joiner = threading.Thread(target=answer_join)
    joiner.start()
    try:
        reader.connect(params, timeout=5)
        joiner.join(5)
        identity = state["identity"]
        for _ in range(2):
            with pytest.raises(BrokenStreamError, match="fuzzed-in"):
                reader.recv(timeout=5000)

        @fuzz_settings(profile, scale=0.5)
        @given(garbage=_garbage_messages())
        def check(garbage):
            for head, payload in garbage:
                router.send_multipart([identity, head] + ([payload] if payload is not None else []))
            state["index"] += 2
            chunk = np.arange(6, dtype=np.float32).reshape(2, 3) + state["index"]
            router.send_multipart([identity, pack_header(state["index"], 2) + chunk.tobytes()])
            for _ in range(len(garbage) + 1):
                try:
                    index, data = reader.recv(timeout=5000)
                except BrokenStreamError as exc:
                    check_named(exc, "fuzzed-in")
                    continue
                except StreamClosedError:
                    pytest.fail("a data message was taken for CLOSED")
                if np.array_equal(data, chunk) and index == state["index"]:
                    return
            pytest.fail(f"the good chunk ending at {state['index']} never came out after {garbage!r:.300}")

        check()
    finally:
        reader.close()
        router.close()
