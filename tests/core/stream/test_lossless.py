"""Lossless again (issue 22): a producer that can wait back-pressures a slower reader, a live one never waits.

* A plain OutputStream sending flat out (a script's send loop) and a reader in another process doing some
  work per chunk: every chunk arrives, in order, none lost (tcp, ipc; large and small chunks); the same
  with a writer thread and an inproc reader; three readers at once.
* A reader that stops reading (SIGSTOP) is waited for at most ``max_wait``, then loses only its own oldest
  data, and is waited for again when it reads again.
* A live device (NumpyDeviceBuffer at 10 kHz) never waits: a healthy reader keeps the rate while a reader
  at half the rate loses its own oldest data, counted.
* The writer's wait per reader is in ``out.readers()`` and in the node counters; ``on_full`` is chosen
  by the kind of producer and inherited downstream of a live source.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time

import flow_peers
import numpy as np
import pytest
from helpers import wait_until

from lslacq.core import Node
from lslacq.core.stream import InputStream, OutputStream
from lslacq.errors import StreamClosedError

SPAWN = mp.get_context("spawn")


def _numbered(shape: tuple, k: int) -> np.ndarray:
    chunk = np.zeros(shape, "float32")
    chunk[0, 0] = k
    return chunk


def _flat_out(protocol: str, shape: tuple, n_chunks: int, n_readers: int = 1, work_per_chunk: int = 2):
    out = OutputStream(name="flat")
    out.configure(protocol=protocol, dtype="float32", shape=(-1, shape[1]))  # the defaults a user gets
    assert out.params.on_full == "wait"
    results = SPAWN.Queue()
    readies = [SPAWN.Event() for _ in range(n_readers)]
    procs = [
        SPAWN.Process(
            target=flow_peers.read_every_chunk, args=(out.params.to_dict(), n_chunks, ready, results, work_per_chunk)
        )
        for ready in readies
    ]
    try:
        for proc in procs:
            proc.start()
        for ready in readies:
            assert ready.wait(60), "a reader process did not start"
        out.wait_for_subscribers(n_readers, timeout=30)
        for k in range(n_chunks):
            out.send(_numbered(shape, k))  # a new array each time: large chunks are sent without a copy
        reports = [results.get(timeout=120) for _ in procs]
        rows = out.readers()
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
                proc.join(10)
        out.close()
    return reports, rows


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["tcp", "ipc"])
@pytest.mark.parametrize(("shape", "n_chunks"), [((1024, 64), 1500), ((16, 64), 20000)])
def test_flat_out_writer_and_a_slower_reader_in_another_process_lose_nothing(protocol, shape, n_chunks):
    (report,), rows = _flat_out(protocol, shape, n_chunks)
    assert report == ("ok", n_chunks, 0, None), report
    assert all(row["dropped_samples"] == 0 for row in rows)


@pytest.mark.slow
def test_three_readers_of_a_flat_out_writer_each_get_everything():
    reports, rows = _flat_out("ipc", (1024, 64), 600, n_readers=3)
    assert reports == [("ok", 600, 0, None)] * 3, reports
    assert all(row["dropped_samples"] == 0 for row in rows)


def test_writer_thread_and_inproc_reader_lose_nothing_and_the_wait_is_counted():
    """A reader that does some work per chunk throttles a flat-out writer (and shows it), losing nothing."""
    out = OutputStream(name="flat")
    out.configure(protocol="inproc", dtype="float32", shape=(-1, 64), hwm=8)
    inp = InputStream(name="slowish")
    inp.connect(out)
    n_chunks, got, errors = 400, [], []

    def writer():
        try:
            for k in range(n_chunks):
                out.send(_numbered((256, 64), k))
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(n_chunks):
            _index, data = inp.recv(timeout=10000)
            got.append(int(data[0, 0]))
            time.sleep(0.001)  # the work per chunk: slower than the writer
        thread.join(30)
        assert not errors and not thread.is_alive()
        assert got == list(range(n_chunks)) and inp.lost_samples == 0
        (row,) = out.readers()
        assert row["dropped_samples"] == 0 and not row["stalled"] and row["stalls"] == 0
        # the writer waited for this reader most of the 0.4 s the reader took
        assert row["wait_seconds"] > 0.1 and out.wait_seconds == pytest.approx(row["wait_seconds"])
        assert 0 <= row["in_flight_chunks"] <= 8
    finally:
        inp.close()
        out.close()


@pytest.mark.slow
def test_a_stalled_reader_is_waited_for_at_most_max_wait_then_loses_only_its_own_oldest_data():
    out = OutputStream(name="script")
    out.configure(protocol="ipc", dtype="float32", shape=(-1, 64), sample_rate=1000.0, hwm=16, max_wait=0.5)
    healthy = InputStream(name="healthy")
    ready, results, may_close = SPAWN.Event(), SPAWN.Queue(), SPAWN.Event()
    final = SPAWN.Value("q", 2**62)
    proc = SPAWN.Process(
        target=flow_peers.read_until,
        args=(out.params.to_dict(), {"max_buffered": 2.0}, final, ready, results, may_close),
    )
    received = []
    stop_reading = threading.Event()

    def read_healthy():
        while not stop_reading.is_set() or healthy.poll(0):
            if healthy.poll(100):
                received.append(healthy.recv()[0])

    reader = threading.Thread(target=read_healthy)
    try:
        healthy.connect(out)
        proc.start()
        assert ready.wait(60)
        out.wait_for_subscribers(2, timeout=30)
        reader.start()
        os.kill(proc.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        sent = 0
        while time.monotonic() - t0 < 3.0:  # a script sending flat out (1 kHz stream, 100-sample chunks)
            sent += 100
            out.send(np.zeros((100, 64), "float32"), index=sent)
        elapsed = time.monotonic() - t0
        row = next(r for r in out.readers() if r["name"] == "stalled")
        assert row["stalled"] and row["stalls"] == 1
        # waited for once, about max_wait, then not at all: the script kept going
        assert 0.4 <= row["wait_seconds"] <= 1.5, row
        assert sent / 100 > 10 * (elapsed - row["wait_seconds"])
        assert row["dropped_samples"] > 0  # its backlog bound (2 s of data) was passed: it lost its oldest
        os.kill(proc.pid, signal.SIGCONT)
        final.value = sent
        status, got, lost, gaps, last = results.get(timeout=60)
        assert status == "ok" and last == sent and gaps == 1 and got + lost == sent
        assert lost == next(r for r in out.readers() if r["name"] == "stalled")["dropped_samples"]
        wait_until(
            lambda: not next(r for r in out.readers() if r["name"] == "stalled")["stalled"],
            10,
            what="the reader to be waited for again once it reads",
        )
        stop_reading.set()
        reader.join(30)
        assert received == list(range(100, sent + 1, 100)) and healthy.lost_samples == 0  # the healthy one: all
    finally:
        stop_reading.set()
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGCONT)
        may_close.set()
        proc.join(30)
        if proc.is_alive():
            proc.kill()
        if reader.is_alive():
            reader.join(30)
        healthy.close()
        out.close()


@pytest.mark.slow
def test_live_device_never_waits_for_a_reader_at_half_its_rate():
    from lslacq.devices import NumpyDeviceBuffer

    rate, chunk, duration = 10_000, 100, 10.0
    dev = NumpyDeviceBuffer(name="dev")
    dev.configure(nb_channel=8, sample_interval=1 / rate, chunksize=chunk)
    dev.output.configure(protocol="inproc", hwm=100)  # 1 s in flight per reader (1000 chunks by default: 10 s)
    assert dev.output.params.on_full == "backlog"  # a live source
    healthy, slow = InputStream(name="healthy"), InputStream(name="half")
    stop = threading.Event()
    stats = {"healthy": [0, 0.0], "half": [0, 0.0]}

    def read(inp, key, pause):
        while not stop.is_set():
            if inp.poll(100):
                _index, data = inp.recv()
                stats[key][0] += len(data)
                stats[key][1] = time.monotonic()
                if pause:
                    time.sleep(pause)

    with dev, healthy, slow:
        healthy.connect(dev.output)
        slow.connect(dev.output, max_buffered=1.0)
        dev.initialize()
        threads = [
            threading.Thread(target=read, args=(healthy, "healthy", 0)),
            threading.Thread(target=read, args=(slow, "half", 2 * chunk / rate)),
        ]  # half the device's rate
        for thread in threads:
            thread.start()
        t0 = time.monotonic()
        dev.start()
        try:
            time.sleep(duration)  # the measurement window itself, not a synchronisation
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
            dev.stop()
        rows = {r["name"]: r for r in dev.output.readers()}
    produced = dev.output.last_index
    assert produced >= 0.95 * rate * duration  # the device was not held back
    assert stats["healthy"][0] >= 0.95 * rate * duration and healthy.lost_samples == 0
    assert stats["healthy"][0] / (stats["healthy"][1] - t0) >= 0.95 * rate
    assert rows["healthy"]["dropped_samples"] == 0 and rows["healthy"]["wait_seconds"] == 0
    # the slow reader lost its own oldest data, counted on both sides
    assert slow.lost_samples > 0.2 * produced and rows["half"]["dropped_samples"] > 0
    assert stats["half"][0] < 0.7 * produced
    assert dev.counters()["wait_seconds"] == 0


class _Live(Node):
    live_source = True
    _output_specs = {"signals": {"dtype": "float32", "shape": (-1, 2)}}


class _Filter(Node):
    _input_specs = {"signals": {}}
    _output_specs = {"signals": {"dtype": "float32", "shape": (-1, 2)}}


def test_on_full_follows_the_kind_of_producer_and_is_inherited_downstream():
    live, filt, plain = _Live(name="live"), _Filter(name="filter"), _Filter(name="plain")
    script = OutputStream(name="script")
    try:
        live.configure()
        live.output.configure(protocol="inproc")
        assert live.output.params.on_full == "backlog"
        filt.configure()
        filt.input.connect(live.output)
        filt.output.configure(protocol="inproc")
        assert filt.output.params.on_full == "backlog"  # fed by a live source: never waits either
        script.configure(protocol="inproc", dtype="float32", shape=(-1, 2))
        assert script.params.on_full == "wait"
        plain.configure()
        plain.input.connect(script)
        plain.output.configure(protocol="inproc")
        assert plain.output.params.on_full == "wait"
        plain.output.configure(protocol="inproc", on_full="backlog")  # the user's choice wins
        assert plain.output.params.on_full == "backlog"
        for old, new in (("block", "wait"), ("drop", "latest")):  # lslacq 0.1's spellings
            script.configure(protocol="inproc", dtype="float32", shape=(-1, 2), on_full=old)
            assert script.params.on_full == new
        with pytest.raises(ValueError, match="on_full='never'.*'wait', 'backlog', 'latest'"):
            script.configure(protocol="inproc", on_full="never")
        with pytest.raises(ValueError, match="max_wait"):
            script.configure(protocol="inproc", max_wait=-1)
    finally:
        for node in (live, filt, plain):
            node.close()
        script.close()


def test_closing_the_stream_wakes_a_writer_waiting_for_a_reader():
    out = OutputStream(name="script")
    out.configure(protocol="inproc", dtype="float32", shape=(-1, 1), hwm=2, max_wait=30)
    inp = InputStream(name="never-reads")
    inp.connect(out)
    errors = []

    def writer():
        try:
            for _ in range(10):
                out.send(np.zeros((1, 1), "float32"))
        except StreamClosedError as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_until(lambda: out._writer_waiting, 10, what="the writer to wait for the reader")
        out.close()
        thread.join(5)
        assert not thread.is_alive(), "the waiting writer was not woken by close()"
        assert len(errors) == 1 and "closed while waiting" in str(errors[0])
    finally:
        inp.close()
        out.close()


def test_credit_lost_in_transit_is_resynchronised_and_the_reader_gets_the_rest():
    """The output's SYNC (sent to a reader whose window is full) reopens a window that lost messages.

    Messages lost on the way (a tcp connection that broke and came back) would keep a reader's window full forever.
    """
    out = OutputStream(name="device")
    out.configure(protocol="tcp", dtype="float32", shape=(-1, 1), hwm=10, on_full="backlog")
    inp = InputStream(name="after-a-blip")
    try:
        inp.connect(out)
        (reader,) = out._reader_list
        with out._lock:  # 10 messages the reader will never see: its whole window, lost in transit
            reader.sent_messages += 10
            reader.sent_bytes += 10 * (24 + 4)
        for k in range(50):
            out.send(np.full((1, 1), k, "float32"))
        got = []

        def received_50():
            if inp.poll(100):
                got.append(float(inp.recv()[1][0, 0]))
            return len(got) >= 50

        wait_until(received_50, timeout=10, interval=0, what="50 messages through the reopened window")
        assert got == list(range(50)) and inp.lost_samples == 0
        row = out.readers()[0]
        assert row["lag_chunks"] == 0 and row["in_flight_chunks"] <= 10
    finally:
        inp.close()
        out.close()
