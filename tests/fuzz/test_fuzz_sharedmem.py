"""A sharedmem reader facing a hostile output: messages that announce any span of the shared ring.

A sharedmem message carries no data, only ``(index, n, epoch)`` of samples the
writer put in the shared ring. Whatever a peer announces, the reader returns
samples that are in the ring or raises :class:`BrokenStreamError` naming the
stream (never an IndexError from the ring), and the good chunks announced
after the garbage still come out.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import zmq
from fuzz_profiles import PROFILES, check_named, fuzz_settings
from hypothesis import example, given
from hypothesis import strategies as st

from lslacq.core.stream import InputStream, OutputStream
from lslacq.core.stream.transport import HELLO, JOIN, pack_header
from lslacq.errors import BrokenStreamError, StreamClosedError

RING = 1000  # samples the shared ring keeps


def _announcements(head: int):
    """``(index, n, epoch)`` near the ring's head, far from it, negative, huge, with any epoch."""
    near = st.integers(-2 * RING, 2 * RING).map(lambda d: head + d)
    anywhere = st.integers(-(2**62), 2**62)
    return st.tuples(
        st.one_of(near, anywhere),
        st.one_of(st.integers(-4, 2 * RING), anywhere),
        st.one_of(st.just(0), st.integers(0, 255)),
    )


@pytest.fixture
def hostile_output():
    """A real sharedmem output (its ring and params) whose messages come from a hand-driven ROUTER instead."""
    real = OutputStream(name="fuzzed-shm")
    real.configure(
        protocol="tcp",
        interface="127.0.0.1",
        dtype="float32",
        shape=(-1, 3),
        transfermode="sharedmem",
        buffer_size=RING,
    )
    params = dict(real.params)
    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    params["url"] = f"tcp://127.0.0.1:{router.bind_to_random_port('tcp://127.0.0.1')}"
    params.pop("credit_window", None)  # this fake output never reads ACKs
    reader = InputStream(name="victim")
    joined = {}

    def answer_join():
        if router.poll(5000):
            identity, kind, *_ = router.recv_multipart()
            if kind == JOIN:
                joined["identity"] = identity
                router.send_multipart([identity, HELLO])

    joiner = threading.Thread(target=answer_join)
    joiner.start()
    try:
        reader.connect(params, timeout=5)
        joiner.join(5)
        yield real, router, joined["identity"], reader
    finally:
        joiner.join(5)
        reader.close()
        router.close()
        real.close()


@pytest.mark.parametrize("profile", PROFILES)
def test_reader_returns_ring_samples_or_a_named_error_whatever_is_announced(profile, hostile_output):
    real, router, identity, reader = hostile_output
    state = {"index": 0}

    @fuzz_settings(profile, scale=0.5)
    @given(garbage=st.lists(_announcements(0), max_size=4))
    @example(garbage=[(10**6, 2, 0)])  # beyond what the writer wrote (was an IndexError from the ring)
    @example(garbage=[(0, -5, 0)])  # a negative count (was an IndexError)
    @example(garbage=[(2**62, 2**62, 0)])
    def check(garbage):
        state["index"] += 2
        chunk = np.arange(6, dtype=np.float32).reshape(2, 3) + state["index"]
        real.send(chunk, index=state["index"])  # into the ring (the real output has no reader)
        epoch = reader.receiver.ring.epoch() % 256
        for index, n, e in garbage:
            router.send_multipart([identity, pack_header(state["index"] + index, n, b"C", e)])
        router.send_multipart([identity, pack_header(state["index"], 2, b"C", epoch)])
        for _ in range(len(garbage) + 1):
            try:
                index, data = reader.recv(timeout=5000, return_data=True)
            except BrokenStreamError as exc:
                check_named(exc, "victim")
                continue
            except StreamClosedError:
                pytest.fail("a data message was taken for CLOSED")
            ring = reader.receiver.ring
            assert index <= ring.index() and data.shape[1:] == (3,) and data.shape[0] <= RING
            if index == state["index"] and np.array_equal(data, chunk):
                return
        pytest.fail(f"the good chunk ending at {state['index']} never came out after {garbage!r:.300}")

    check()
