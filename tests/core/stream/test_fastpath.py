"""The streams' C accelerator (lslacq/core/stream/_fastpath.c) against the Python path it stands in for.

Both paths must put the same bytes on the wire, count the same credit, decode the same chunks and hand
everything they do not handle (another dtype, a strided array, a large chunk, a new run, a control message)
to the Python path. Every other stream test runs on whichever path is loaded (the accelerator when it was
built; ``.ci/run`` runs tests/core/stream once more with ``LSLACQ_NO_EXT=1``).
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from helpers import wait_until

from lslacq.core.stream import InputStream, OutputStream, fastpath
from lslacq.errors import StreamClosedError, StreamTimeoutError

accelerated = pytest.mark.skipif(fastpath.accelerator is None, reason=f"no C accelerator: {fastpath.why_not}")


@pytest.fixture(params=["accelerator", "python"])
def path(request, monkeypatch):
    """Each test once with the accelerator (when built) and once on the Python path."""
    if request.param == "accelerator" and fastpath.accelerator is None:
        pytest.skip(f"no C accelerator: {fastpath.why_not}")
    monkeypatch.setattr(fastpath, "enabled", request.param == "accelerator")
    return request.param


def _pair(protocol: str = "tcp", n_readers: int = 1, **config):
    out = OutputStream(name="out")
    out.configure(protocol=protocol, dtype="float32", shape=(-1, 4), **config)
    inputs = []
    for k in range(n_readers):
        inp = InputStream(name=f"in{k}")
        inp.connect(out)
        inputs.append(inp)
    return out, inputs


def _chunks() -> list[tuple[np.ndarray, int | None]]:
    rng = np.random.default_rng(7)
    return [
        (rng.standard_normal((16, 4)).astype("float32"), None),
        (rng.standard_normal((1, 4)).astype("float32"), None),
        (np.zeros((0, 4), "float32"), None),  # an empty chunk
        (rng.standard_normal((3, 4)).astype("float32"), 100),  # a gap: samples [20, 97) never sent
        (rng.standard_normal((16, 4)).astype("float32"), None),
        (rng.standard_normal((2, 4)).astype("float32"), 5),  # the index goes back: a new run
        (rng.standard_normal((5, 4)).astype("float32"), None),
    ]


def test_the_accelerator_is_there_where_a_compiler_was():
    """CI builds it (``pip install -e``, gcc; ``.ci/run`` sets LSLACQ_EXPECT_EXT=1): a missing one is a broken build."""
    if os.environ.get(fastpath.DISABLE_VARIABLE, "") not in ("", "0"):
        assert fastpath.accelerator is None and fastpath.DISABLE_VARIABLE in fastpath.why_not
    elif os.environ.get("LSLACQ_EXPECT_EXT"):
        assert fastpath.accelerator is not None, fastpath.why_not
        assert fastpath.ReaderCounters is fastpath.accelerator.ReaderCounters
    else:
        assert (fastpath.accelerator is None) == bool(fastpath.why_not)


def test_both_paths_put_the_same_bytes_on_the_wire_and_count_the_same_credit(monkeypatch):
    seen = {}
    for mode in ("python", "accelerator") if fastpath.accelerator is not None else ("python",):
        monkeypatch.setattr(fastpath, "enabled", mode == "accelerator")
        out, (inp,) = _pair()
        try:
            assert (out._fast is not None) == (mode == "accelerator")
            for data, index in _chunks():
                out.send(data, index=index)
            raw = [inp.socket.recv_multipart() for _ in _chunks()]  # the frames as they came, not decoded
            (reader,) = out._reader_list
            seen[mode] = (raw, reader.sent_messages, reader.sent_bytes, out.last_index, out._epoch)
        finally:
            inp.close()
            out.close()
    raw, messages, nbytes, last_index, epoch = seen["python"]
    assert messages == len(_chunks()) and nbytes == sum(len(b"".join(m)) for m in raw)
    assert (last_index, epoch) == (10, 1)  # the new run: 5 + 5 samples
    if "accelerator" in seen:
        assert seen["accelerator"] == seen["python"]


def test_chunks_gaps_and_new_runs_arrive_the_same_way(path):
    out, (inp,) = _pair()
    try:
        for data, index in _chunks():
            out.send(data, index=index)
        got = [inp.recv(timeout=5000) for _ in _chunks()]
        assert (inp._fast is not None) == (path == "accelerator")
        assert [i for i, _ in got] == [16, 17, 17, 100, 116, 5, 10]
        for (data, _), (_, received) in zip(_chunks(), got, strict=True):
            assert received.dtype == np.float32 and received.shape == data.shape
            np.testing.assert_array_equal(received, data)
        assert got[0][1].flags.writeable  # as pyzmq's frames: a node may filter a chunk in place
        assert inp.lost_samples == 100 - 3 - 17
        with pytest.raises(StreamTimeoutError, match="no data within 50 ms"):
            inp.recv(timeout=50)
    finally:
        inp.close()
        out.close()


def test_what_the_accelerator_leaves_to_the_python_path_still_arrives(path):
    out, (inp,) = _pair()
    try:
        strided = np.arange(32, dtype="float32").reshape(4, 8)[:, ::2]  # not C-contiguous
        fortran = np.asfortranarray(np.arange(12, dtype="float32").reshape(3, 4))
        large = np.arange(4 * 20000, dtype="float32").reshape(-1, 4)  # 320 kB: two frames, no copy
        as_bytes = np.arange(8, dtype="float32").tobytes()  # two samples
        for data in (strided, fortran, large, as_bytes):
            out.send(data)
        for data in (strided, fortran, large, np.arange(8, dtype="float32").reshape(2, 4)):
            _, received = inp.recv(timeout=5000)
            np.testing.assert_array_equal(received, data)
        with pytest.raises(ValueError, match=r"chunk of dtype float64 .* does not match the stream"):
            out.send(np.zeros((2, 4)))
        with pytest.raises(ValueError, match=r"shape \(2, 3\) does not match"):
            out.send(np.zeros((2, 3), "float32"))
        assert inp.lost_samples == 0
    finally:
        inp.close()
        out.close()


def test_a_closed_output_and_a_closed_stream_are_named(path):
    out, (inp,) = _pair()
    out.send(np.ones((2, 4), "float32"))
    out.close()
    with pytest.raises(StreamClosedError, match="closed"):
        out.send(np.ones((2, 4), "float32"))
    assert inp.recv(timeout=5000)[0] == 2
    with pytest.raises(StreamClosedError, match="output 'out' was closed"):
        inp.recv(timeout=5000)
    inp.close()


@pytest.mark.slow
def test_three_readers_flat_out_get_every_chunk(path):
    n_chunks = 3000
    out, inputs = _pair(n_readers=3)
    results: dict[int, list] = {}

    def read(k: int, inp: InputStream) -> None:
        indexes = [inp.recv(timeout=10000)[0] for _ in range(n_chunks)]
        results[k] = [indexes, inp.lost_samples]

    threads = [threading.Thread(target=read, args=(k, inp), daemon=True) for k, inp in enumerate(inputs)]
    try:
        for t in threads:
            t.start()
        chunk = np.ones((16, 4), "float32")
        for _ in range(n_chunks):
            out.send(chunk)
        for t in threads:
            t.join(60)
        expected = list(range(16, 16 * n_chunks + 1, 16))
        assert results == {k: [expected, 0] for k in range(3)}
    finally:
        for inp in inputs:
            inp.close()
        out.close()


def test_a_reader_that_vanished_is_let_go_and_the_others_keep_getting_everything(path):
    """Its routing id refused (EHOSTUNREACH) after another reader got the chunk: the Python path lets it go."""
    out, (kept_input, vanished) = _pair(n_readers=2)
    try:
        assert [r.name for r in out._reader_list] == ["in0", "in1"]
        vanished.socket.close(0)  # gone without a LEAVE (a killed process)
        vanished.socket = None
        sent = 0

        def send_one() -> bool:
            nonlocal sent
            out.send(np.full((2, 4), sent, "float32"))
            sent += 1
            return len(out._reader_list) == 1

        wait_until(send_one, timeout=10, what="the output to notice the vanished reader")
        got = [kept_input.recv(timeout=5000) for _ in range(sent)]
        assert [int(d[0, 0]) for _, d in got] == list(range(sent))
        assert kept_input.lost_samples == 0
    finally:
        kept_input.close()
        vanished.close()
        out.close()


@accelerated
def test_a_receiver_whose_stream_was_closed_meanwhile_touches_no_socket(monkeypatch):
    """The stream dropped its receiver (close() in another thread): ENOTSOCK, as pyzmq says for a closed socket."""
    monkeypatch.setattr(fastpath, "enabled", True)
    out, (inp,) = _pair()
    try:
        receiver = inp._fast
        inp.close()
        assert inp._fast is None and receiver.recv(inp) == errno.ENOTSOCK
    finally:
        out.close()


def test_no_ext_turns_the_accelerator_off():
    env = dict(os.environ, **{fastpath.DISABLE_VARIABLE: "1"})
    code = "from lslacq.core.stream import fastpath; print(fastpath.accelerator is None, '|', fastpath.why_not)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == f"True | turned off by {fastpath.DISABLE_VARIABLE}=1", result.stderr


@accelerated
def test_a_module_built_from_another_source_is_not_used(tmp_path, monkeypatch, caplog):
    """An editable install whose _fastpath.c changed since it was built: the Python path, and how to rebuild."""
    edited = tmp_path / "_fastpath.c"
    edited.write_text(fastpath._SOURCE.read_text() + "\n/* edited */\n")
    monkeypatch.setattr(fastpath, "_SOURCE", edited)
    with caplog.at_level(logging.WARNING, logger=fastpath.__name__):
        module, why = fastpath._load()
    assert module is None and "rebuild: pip install -e ." in why
    assert "was built from another version of _fastpath.c" in caplog.text
