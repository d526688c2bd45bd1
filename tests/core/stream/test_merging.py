"""deliver_merged: catch-up batching of queued chunks."""

import numpy as np
import pytest

from lslacq.core.stream.merging import deliver_merged
from lslacq.errors import StreamClosedError


def _collect():
    calls = []
    return calls, lambda index, data: calls.append((index, data.copy()))


def test_a_lone_chunk_is_delivered_as_it_is(pair):
    out, inp = pair(protocol="inproc", dtype="int32", shape=(-1, 2))
    out.send(np.arange(10, dtype="int32").reshape(5, 2))
    index, data = inp.recv(timeout=10_000)
    calls, deliver = _collect()
    deliver_merged(inp, index, data, 1000, deliver)
    assert [c[0] for c in calls] == [5]
    np.testing.assert_array_equal(calls[0][1], np.arange(10).reshape(5, 2))


def test_queued_contiguous_chunks_become_one_and_a_gap_splits_them(pair):
    out, inp = pair(protocol="inproc", dtype="float64", shape=(-1, 3))
    chunks = [np.full((4, 3), k, dtype="float64") for k in range(6)]
    for chunk in chunks[:3]:
        out.send(chunk)
    out.send(chunks[3], index=12 + 4 + 10)  # 10 samples missing before this one
    for chunk in chunks[4:]:
        out.send(chunk)
    index, data = inp.recv(timeout=10_000)
    calls, deliver = _collect()
    deliver_merged(inp, index, data, 1000, deliver)
    assert [c[0] for c in calls] == [12, 34]
    np.testing.assert_array_equal(calls[0][1], np.concatenate(chunks[:3]))
    np.testing.assert_array_equal(calls[1][1], np.concatenate(chunks[3:]))
    assert not inp.poll(0)


def test_max_samples_leaves_the_rest_queued(pair):
    out, inp = pair(protocol="inproc", dtype="int16", shape=(-1,))
    for k in range(5):
        out.send(np.full(10, k, dtype="int16"))
    index, data = inp.recv(timeout=10_000)
    calls, deliver = _collect()
    deliver_merged(inp, index, data, 25, deliver)
    assert [(c[0], len(c[1])) for c in calls] == [(30, 30)]  # stops once 25 are reached
    assert inp.recv(timeout=10_000)[0] == 40


def test_what_arrived_before_the_output_closed_is_delivered_first(pair):
    out, inp = pair(protocol="inproc", dtype="float32", shape=(-1, 1))
    out.send(np.ones((3, 1), "float32"))
    out.send(np.ones((2, 1), "float32"))
    out.close()
    index, data = inp.recv(timeout=10_000)
    calls, deliver = _collect()
    with pytest.raises(StreamClosedError):
        deliver_merged(inp, index, data, 1000, deliver)
    assert [(c[0], len(c[1])) for c in calls] == [(5, 5)]
