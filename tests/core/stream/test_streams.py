import logging
import multiprocessing as mp
import socket
import threading
import time

import numpy as np
import pytest
import stream_peers
import zmq
from helpers import wait_until

from lslacq.core.stream import InputStream, OutputStream, available_codecs
from lslacq.core.stream.transport import HEADER
from lslacq.errors import BrokenStreamError, StreamClosedError, StreamTimeoutError

SPAWN = mp.get_context("spawn")
PROTOCOLS = ["tcp", "ipc", "inproc"]
MODES = ["plaindata", "sharedmem"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("mode", MODES)
def test_every_protocol_and_mode_between_threads(pair, protocol, mode):
    out, inp = pair(protocol=protocol, transfermode=mode, dtype="float32", shape=(-1, 8), buffer_size=4096)
    chunks = [np.random.default_rng(k).normal(size=(n, 8)).astype("float32") for k, n in enumerate([5, 64, 1, 300])]
    received = []

    def reader():
        for _ in chunks:
            received.append(inp.recv(with_data=True, timeout=10000))

    thread = threading.Thread(target=reader)
    thread.start()
    for chunk in chunks:
        out.send(chunk)
    thread.join(30)
    assert not thread.is_alive()
    expected_index = np.cumsum([len(c) for c in chunks])
    assert [i for i, _ in received] == list(expected_index)
    for (_, data), chunk in zip(received, chunks, strict=True):
        np.testing.assert_array_equal(data, chunk)
    assert inp.lost_samples == 0


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["tcp", "ipc"])
@pytest.mark.parametrize("mode", MODES)
def test_every_protocol_and_mode_across_spawned_processes(protocol, mode):
    out = OutputStream(name="out")
    out.configure(protocol=protocol, transfermode=mode, dtype="int16", shape=(-1, 4), buffer_size=10000)
    chunks = [np.full((100, 4), k, "int16") for k in range(20)]
    ready, results = SPAWN.Event(), SPAWN.Queue()
    proc = SPAWN.Process(
        target=stream_peers.receive_and_report, args=(out.params.to_dict(), len(chunks), ready, results)
    )
    proc.start()
    try:
        assert ready.wait(60), "reader process did not start"
        out.wait_for_subscribers(1, timeout=30)
        for chunk in chunks:
            out.send(chunk)
        status, received, lost = results.get(timeout=60)
        assert status == "ok", received
        assert lost == 0
        assert [i for i, _ in received] == [100 * (k + 1) for k in range(20)]
        for (_, data), chunk in zip(received, chunks, strict=True):
            np.testing.assert_array_equal(data, chunk)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
        out.close()


@pytest.mark.slow
def test_reader_in_parent_of_a_spawned_sender():
    params_q, go, done = SPAWN.Queue(), SPAWN.Event(), SPAWN.Event()
    chunks = [np.arange(k * 30, (k + 1) * 30, dtype="float64").reshape(10, 3) for k in range(10)]
    proc = SPAWN.Process(
        target=stream_peers.send_from_child,
        args=(dict(protocol="tcp", dtype="float64", shape=(-1, 3)), chunks, params_q, go, done),
    )
    proc.start()
    inp = InputStream()
    try:
        inp.connect(params_q.get(timeout=60))
        go.set()
        got = np.concatenate([inp.recv(timeout=20000)[1] for _ in chunks])
        np.testing.assert_array_equal(got, np.concatenate(chunks))
    finally:
        done.set()
        inp.close()
        proc.join(30)


def test_inproc_output_refuses_a_reader_in_another_process(pair):
    out, _ = pair(protocol="inproc")
    params = out.params.to_dict()
    params["pid"] = params["pid"] + 1
    with pytest.raises(ValueError, match="inproc.*ipc' or 'tcp"):
        InputStream().connect(params)


@pytest.mark.parametrize("layout", ["fortran", "strided", "transposed"])
def test_non_contiguous_arrays_arrive_intact(pair, layout):
    out, inp = pair(protocol="inproc", dtype="float64", shape=(-1, 5))
    base = np.arange(200, dtype="float64").reshape(40, 5)
    data = {"fortran": np.asfortranarray(base), "strided": base[::2], "transposed": np.arange(200.0).reshape(5, 40).T}[
        layout
    ]
    out.send(data)
    _, got = inp.recv(timeout=5000)
    np.testing.assert_array_equal(got, data)


def test_mixed_layouts_and_sizes_in_one_run_arrive_in_order(pair):
    """send/recv's inlined plaindata path and the general one take turns without losing count."""
    out, inp = pair(protocol="inproc", dtype="float32", shape=(-1, 64))
    rng = np.random.default_rng(3)
    small, large = rng.normal(size=(16, 64)).astype("float32"), rng.normal(size=(1024, 64)).astype("float32")
    chunks = [small, np.asfortranarray(small), large, np.asfortranarray(large), small[::2], large, small]
    for chunk in chunks:
        out.send(chunk)
    index = 0
    for chunk in chunks:
        index += len(chunk)
        got_index, got = inp.recv(timeout=5000)
        assert got_index == index
        np.testing.assert_array_equal(got, chunk)
        assert got.flags.writeable  # the array views the received zmq frame, as before
    assert inp.lost_samples == 0 and inp.bad_messages == 0
    assert out.readers()[0]["in_flight_chunks"] <= len(chunks)


def test_structured_event_stream(pair):
    dtype = np.dtype([("index", "<i8"), ("type", "<i4"), ("label", "S12")])
    out, inp = pair(protocol="tcp", streamtype="event", dtype=dtype, shape=(-1,))
    events = np.zeros(3, dtype)
    events["index"] = [10, 250, 999]
    events["type"] = [1, 2, 1]
    events["label"] = [b"go", b"stop", b"go"]
    out.send(events, index=1000)
    index, got = inp.recv(timeout=5000)
    assert index == 1000
    np.testing.assert_array_equal(got, events)


def test_video_frames_in_sharedmem(pair):
    out, inp = pair(
        protocol="ipc",
        transfermode="sharedmem",
        streamtype="image/video",
        dtype="uint8",
        shape=(-1, 48, 64, 3),
        buffer_size=16,
    )
    frames = np.random.default_rng(0).integers(0, 255, size=(3, 48, 64, 3), dtype="uint8")
    for frame in frames:
        out.send(frame[None])
    for k in range(3):
        index, data = inp.recv(timeout=5000)
        assert data is None and index == k + 1
    np.testing.assert_array_equal(inp[0:3], frames)
    np.testing.assert_array_equal(inp.get_data(1, 3), frames[1:])


@pytest.mark.parametrize("codec", available_codecs())
def test_compression_round_trip(pair, codec):
    out, inp = pair(protocol="tcp", dtype="float32", shape=(-1, 16), compression=codec)
    data = np.cumsum(np.random.default_rng(1).normal(size=(512, 16)), axis=0).astype("float32")
    out.send(np.asfortranarray(data))
    _, got = inp.recv(timeout=5000)
    np.testing.assert_array_equal(got, data)


def test_unknown_compression_lists_valid_names():
    with pytest.raises(ValueError, match=r"valid names|expected one of") as info:
        OutputStream().configure(compression="snappy-9000")
    assert "zlib" in str(info.value)


def test_configure_cannot_contradict_the_node_spec():
    out = OutputStream(spec={"shape": (-1, 4), "dtype": "float32"}, name="sig")
    with pytest.raises(ValueError, match="node fixes shape"):
        out.configure(shape=(-1, 8))
    out.configure(shape=[-1, 4], dtype=np.float32, protocol="inproc")
    out.close()


def test_input_spec_requirements_are_checked(pair):
    out = OutputStream()
    out.configure(protocol="inproc", streamtype="event", dtype="int64", shape=(-1,))
    try:
        with pytest.raises(ValueError, match="requires streamtype='analogsignal'"):
            InputStream(spec={"streamtype": "analogsignal"}).connect(out)
    finally:
        out.close()


def test_send_checks_dtype_and_shape(pair):
    out, _ = pair(protocol="inproc", dtype="float32", shape=(-1, 2))
    with pytest.raises(ValueError, match=r"astype\('float32'\)"):
        out.send(np.zeros((3, 2), "float64"))
    with pytest.raises(ValueError, match="does not match"):
        out.send(np.zeros((3, 3), "float32"))


def test_explicit_index_and_gap_accounting(pair, caplog):
    out, inp = pair(protocol="inproc", dtype="float32", shape=(-1, 1))
    out.send(np.zeros((10, 1), "float32"), index=10)
    out.send(np.zeros((10, 1), "float32"), index=35)  # 15 samples never sent
    with caplog.at_level(logging.WARNING):
        assert inp.recv(timeout=5000)[0] == 10
        assert inp.recv(timeout=5000)[0] == 35
    assert inp.lost_samples == 15
    assert "15 samples lost" in caplog.text


def test_slow_reader_is_buffered_for_not_blocking_the_sender_and_loses_nothing(pair):
    """Per-reader flow control (issue 12).

    A reader that does not read gets a backlog in the output (within its bound: 50 MiB < 256 MiB); the sender is never
    held back; nothing is lost.
    """
    out, inp = pair(protocol="tcp", dtype="float32", shape=(-1, 256), hwm=4)
    n_chunks = 200
    sent = threading.Event()

    def sender():
        for _ in range(n_chunks):
            out.send(np.ones((256, 256), "float32"))
        sent.set()

    thread = threading.Thread(target=sender)
    thread.start()
    assert sent.wait(30), "the sender was held back by a reader that does not read"
    thread.join(30)
    (row,) = out.readers()
    assert row["lag_chunks"] > 0 and row["backlog_bytes"] >= row["lag_chunks"] * 256 * 256 * 4
    assert row["dropped_samples"] == 0
    indices = [inp.recv(timeout=10000)[0] for _ in range(n_chunks)]
    assert indices == [256 * (k + 1) for k in range(n_chunks)]
    assert inp.lost_samples == 0
    assert out.readers()[0]["lag_chunks"] == 0


def test_drop_mode_lets_a_slow_reader_miss_chunks_but_counts_them(pair):
    out, inp = pair(protocol="inproc", dtype="float32", shape=(-1, 4), on_full="drop", hwm=2)
    for _ in range(50):
        out.send(np.ones((10, 4), "float32"))
    received = 0
    while inp.poll(200):
        inp.recv()
        received += 1
    assert received < 50
    # the loss is noticed (and counted) with the next chunk that gets through
    out.send(np.ones((10, 4), "float32"))
    assert inp.recv(timeout=5000)[0] == 510
    received += 1
    assert inp.lost_samples == 510 - received * 10


def test_sharedmem_writer_waits_briefly_for_a_reader_that_keeps_up(pair):
    """A reader that reads (slowly) while a flat-out writer fills a small ring loses nothing.

    The writer waits for it (at most MAX_WAIT_S per stall, far longer than each read takes).
    """
    out, inp = pair(protocol="tcp", transfermode="sharedmem", dtype="float32", shape=(-1, 1), buffer_size=100)
    sent = threading.Event()

    def sender():
        for k in range(30):
            out.send(np.full((10, 1), k, "float32"))
        sent.set()

    thread = threading.Thread(target=sender)
    thread.start()
    values = []
    for _ in range(30):
        values.append(inp.recv(with_data=True, timeout=10000)[1][0, 0])
        time.sleep(0.002)
    thread.join(30)
    assert values == list(range(30))
    assert inp.lost_samples == 0


@pytest.mark.slow
def test_sharedmem_writer_forgets_a_reader_whose_process_died():
    out = OutputStream(name="out")
    out.configure(protocol="ipc", transfermode="sharedmem", dtype="float32", shape=(-1, 1), buffer_size=100)
    ready, results = SPAWN.Event(), SPAWN.Queue()
    proc = SPAWN.Process(target=stream_peers.receive_and_report, args=(out.params.to_dict(), 1000, ready, results))
    proc.start()
    try:
        assert ready.wait(60)
        out.wait_for_subscribers(1, timeout=30)
        proc.kill()  # the reader dies holding its slot, without reading
        proc.join(30)
        for _ in range(50):  # would block forever if the dead reader still counted
            out.send(np.zeros((10, 1), "float32"))
    finally:
        out.close()


def test_sharedmem_reader_that_falls_a_buffer_behind_counts_overwritten_samples(pair):
    out, inp = pair(
        protocol="inproc", transfermode="sharedmem", dtype="float32", shape=(-1, 1), buffer_size=100, on_full="drop"
    )
    for _ in range(30):
        out.send(np.ones((10, 1), "float32"))
    # samples 0..199 were overwritten before being read: the reader jumps to the newest chunk (one gap)
    index, data = inp.recv(with_data=True, timeout=5000)
    assert index == 300 and data.shape == (10, 1)
    assert inp.lost_samples == 290
    assert not inp.poll(100)
    out.send(np.ones((10, 1), "float32"))
    assert inp.recv(with_data=True, timeout=5000)[0] == 310
    assert inp.lost_samples == 290


def test_closing_output_while_reader_waits_raises_closed(pair):
    out, inp = pair(protocol="tcp", dtype="float32", shape=(-1, 1))
    errors = []

    def reader():
        try:
            inp.recv(timeout=20000)
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    out.close()
    thread.join(30)
    assert len(errors) == 1 and isinstance(errors[0], StreamClosedError)
    with pytest.raises(StreamClosedError):
        out.send(np.zeros((1, 1), "float32"))


def test_closing_reader_does_not_block_sender(pair):
    out, inp = pair(protocol="tcp", dtype="float32", shape=(-1, 64), hwm=2)
    inp.close()
    for _ in range(50):  # would block forever if the dead reader still counted
        out.send(np.zeros((64, 64), "float32"))


def test_malformed_message_is_rejected_and_stream_keeps_working(pair, caplog):
    out, inp = pair(protocol="inproc", dtype="float32", shape=(-1, 2))
    with out._lock:  # raw messages on the output's ROUTER socket, routed to the reader
        out.socket.send_multipart([inp.identity, b"garbage", b"x"])
        out.socket.send_multipart([inp.identity, b"\x00" * HEADER.size, b"123"])
        out.socket.send_multipart([inp.identity, b"\x00" * HEADER.size, b"1", b"2"])
        out.socket.send_multipart([inp.identity, b"short"])
    out.send(np.ones((4, 2), "float32"))
    with caplog.at_level(logging.ERROR):
        with pytest.raises(BrokenStreamError, match="malformed"):
            inp.recv(timeout=5000)
        with pytest.raises(BrokenStreamError, match="carries 3 bytes"):
            inp.recv(timeout=5000)
        for _ in range(2):
            with pytest.raises(BrokenStreamError, match="malformed"):
                inp.recv(timeout=5000)
    assert inp.bad_messages == 4
    index, data = inp.recv(timeout=5000)
    assert index == 4 and data.shape == (4, 2)


def test_recv_timeout_and_poll(pair):
    out, inp = pair(protocol="inproc")
    assert inp.poll(10) is False
    with pytest.raises(StreamTimeoutError):
        inp.recv(timeout=10)


@pytest.mark.slow
def test_connect_to_dead_output_times_out():
    out = OutputStream()
    out.configure(protocol="tcp")
    params = out.params.to_dict()
    out.close()
    # the dead output's address: a port held by a socket that is bound but does not listen, so connections are
    # refused as by a dead process and no other process's output can take the port meanwhile (it did under load)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        params["url"] = f"tcp://127.0.0.1:{held.getsockname()[1]}"
        with pytest.raises(StreamTimeoutError, match="no answer from the output"):
            InputStream().connect(params, timeout=0.3)


def test_empty_queue_and_set_buffer(pair):
    out, inp = pair(protocol="inproc", dtype="float32", shape=(-1, 2))
    for _ in range(5):
        out.send(np.zeros((3, 2), "float32"))
    assert inp.empty_queue() == 5
    inp.set_buffer(size=50)
    for k in range(4):
        out.send(np.full((10, 2), k, "float32"))
        inp.recv(timeout=5000)
    np.testing.assert_array_equal(inp.get_data(15, 55)[:, 0], np.repeat([0, 1, 2, 3], 10))
    with pytest.raises(IndexError):
        inp.get_data(0, 10)


def test_reset_buffer_index_restarts_count(pair):
    out, inp = pair(protocol="inproc", transfermode="sharedmem", dtype="float32", shape=(-1, 1))
    out.send(np.zeros((5, 1), "float32"))
    assert inp.recv(timeout=5000)[0] == 5
    out.reset_buffer_index()
    inp.reset_buffer_index()
    out.send(np.zeros((3, 1), "float32"))
    assert inp.recv(timeout=5000)[0] == 3
    assert inp.lost_samples == 0


def test_several_readers_get_every_chunk(pair):
    out, first = pair(protocol="tcp", dtype="int32", shape=(-1, 1))
    second = InputStream()
    second.connect(out)
    try:
        assert out.subscriber_count() == 2
        out.send(np.arange(6, dtype="int32")[:, None])
        for inp in (first, second):
            np.testing.assert_array_equal(inp.recv(timeout=5000)[1][:, 0], np.arange(6))
    finally:
        second.close()


def test_bind_conflict_is_a_clear_error():
    ctx_sock = zmq.Context.instance().socket(zmq.PUB)
    port = ctx_sock.bind_to_random_port("tcp://127.0.0.1")
    try:
        with pytest.raises(OSError, match="cannot bind"):
            OutputStream().configure(protocol="tcp", port=port)
    finally:
        ctx_sock.close(0)


@pytest.mark.parametrize("protocol", ["tcp", "ipc"])
def test_connect_with_params_dict_is_ready_when_it_returns(protocol):
    """Data sent right after connect(dict) arrives (no slow-joiner loss), every time.

    Even from an output that was idle when the reader connected.
    """
    out = OutputStream()
    out.configure(protocol=protocol, dtype="int32", shape=(-1, 1))
    try:
        for k in range(100):
            inp = InputStream()
            inp.connect(out.params.to_dict())
            out.send(np.array([[k]], "int32"))
            assert inp.recv(timeout=5000)[1][0, 0] == k
            inp.close()
    finally:
        out.close()


@pytest.mark.parametrize("mode", MODES)
def test_sender_restart_discards_stale_chunks_and_readers_restart_their_count(pair, mode):
    out, inp = pair(protocol="inproc", transfermode=mode, dtype="float32", shape=(-1, 1), buffer_size=1000)
    inp.set_buffer(size=100)
    for k in range(3):  # queued, unread when the sender restarts
        out.send(np.full((10, 1), k, "float32"))
    out.reset_buffer_index()
    for k in range(2):
        out.send(np.full((10, 1), 100 + k, "float32"))
    got = []
    while inp.poll(200):
        index, data = inp.recv(with_data=True)
        got.append((index, float(data[0, 0])))
    if mode == "sharedmem":  # the old run's data is overwritten: its messages are dropped
        assert got == [(10, 100.0), (20, 101.0)]
    else:  # plaindata messages carry their data: the old run arrives, then the new one
        assert got == [(10, 0.0), (20, 1.0), (30, 2.0), (10, 100.0), (20, 101.0)]
    np.testing.assert_array_equal(inp.get_data(0, 20)[:, 0], [100] * 10 + [101] * 10)
    assert inp.lost_samples == 0


def test_an_index_going_back_starts_a_new_run(pair):
    out, inp = pair(protocol="inproc", transfermode="sharedmem", dtype="float32", shape=(-1, 1), buffer_size=100)
    out.send(np.zeros((10, 1), "float32"), index=50)
    out.send(np.ones((10, 1), "float32"), index=10)  # e.g. forwarding a restarted upstream node
    assert inp.recv(with_data=True, timeout=5000)[0] == 10
    assert inp.lost_samples == 0


def test_sharedmem_ring_wraps_with_chunks_larger_than_half_the_buffer(pair):
    out, inp = pair(protocol="tcp", transfermode="sharedmem", dtype="float32", shape=(-1, 1), buffer_size=100)
    sent = threading.Event()

    def sender():
        for k in range(20):
            out.send(np.full((60, 1), k, "float32"))
        sent.set()

    thread = threading.Thread(target=sender)
    thread.start()
    indices = [inp.recv(timeout=10000)[0] for _ in range(20)]
    thread.join(30)
    assert sent.is_set() and indices == [60 * (k + 1) for k in range(20)]
    with pytest.raises(ValueError, match="larger buffer_size"):
        out.send(np.zeros((101, 1), "float32"))


def test_datetime_and_padded_structured_dtypes(pair):
    out, inp = pair(protocol="tcp", streamtype="event", dtype="M8[ns]", shape=(-1,))
    stamps = np.array(["2026-11-21T05:33:00", "2026-11-21T05:34:00"], dtype="M8[ns]")
    out.send(stamps)
    np.testing.assert_array_equal(inp.recv(timeout=5000)[1], stamps)
    padded = np.dtype({"names": ["a", "b"], "formats": ["u1", "<f8"], "offsets": [0, 8], "itemsize": 16})
    out2, inp2 = pair(protocol="inproc", transfermode="sharedmem", streamtype="event", dtype=padded, shape=(-1,))
    events = np.zeros(2, padded)
    events["a"], events["b"] = [1, 2], [0.5, 1.5]
    out2.send(events)
    got = inp2.recv(with_data=True, timeout=5000)[1]
    assert got.dtype == padded
    np.testing.assert_array_equal(got, events)


@pytest.mark.slow
def test_data_received_stays_readable_after_close():
    """Arrays handed out keep their shared memory mapped (no segfault after close)."""
    code = (
        "import numpy as np\n"
        "from lslacq.core.stream import InputStream, OutputStream\n"
        "out = OutputStream(); out.configure(protocol='inproc', transfermode='sharedmem', dtype='float32', "
        "shape=(-1, 4), buffer_size=100)\n"
        "inp = InputStream(); inp.connect(out)\n"
        "out.send(np.full((10, 4), 7, 'float32'))\n"
        "_, data = inp.recv(with_data=True, timeout=5000)\n"
        "inp.close(); out.close()\n"
        "print(float(data.sum()))\n"
    )
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr}"
    assert run.stdout.strip() == "280.0"


def test_close_while_another_thread_sends_raises_closed(pair):
    out, inp = pair(protocol="inproc", dtype="float32", shape=(-1, 8), hwm=2)
    errors, attempts = [], []

    def sender():
        try:
            while len(attempts) < 1_000_000:
                attempts.append(1)
                out.send(np.ones((8, 8), "float32"))
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=sender)
    thread.start()
    # the reader never reads: the sender keeps going (the reader's backlog grows, within its bound)
    wait_until(
        lambda: len(attempts) >= 50,
        timeout=10,
        what="50 sends (the sender was held back by a reader that does not read)",
    )
    out.close()
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], StreamClosedError)


@pytest.mark.parametrize("dtype", ["bool", "float16", "complex64", "uint64"])
@pytest.mark.parametrize("n_samples", [3, 40_000])  # one packed frame; a second, zero-copy frame
def test_plain_numeric_dtypes_small_and_large_chunks(pair, dtype, n_samples):
    out, inp = pair(protocol="inproc", dtype=dtype, shape=(-1, 2))
    data = (np.arange(n_samples * 2) % 7).astype(dtype).reshape(n_samples, 2)
    out.send(data)
    index, got = inp.recv(timeout=10_000)
    assert index == n_samples and got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, data)
