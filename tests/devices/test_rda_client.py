"""rda.Client against the RDA emulator and against hand-written byte streams."""

from __future__ import annotations

import logging
import re
import socket
import struct

import numpy as np
import pytest

from lslacq.core.stream import RingBuffer
from lslacq.devices.rda import Client, RdaEmulator, RdaProtocolError
from lslacq.devices.rda.protocol import (
    RDA_GUID,
    Marker,
    build_data,
    build_message,
    build_start,
    build_stop,
)
from lslacq.errors import BrokenStreamError, NodeStateError, StreamTimeoutError

TIMEOUT = 20.0


def _emulator(**kw):
    params = dict(
        port=0,
        n_channels=6,
        sample_rate=1000,
        block_duration=0.01,
        marker_interval=0.1,
        keepalive_interval=0.05,
        other_interval=0.08,
    )
    params.update(kw)
    return RdaEmulator(**params)


def _wait_stopped(client, timeout=TIMEOUT):
    with client._cond:
        assert client._cond.wait_for(lambda: not client.is_streaming, timeout)
    assert client._receiver.wait(timeout)  # its thread ended: a failure is logged by now


def _check_against_emulator(client, emu, n):
    data = client.wait(0, n, timeout=TIMEOUT)
    assert data is not None and data.shape == (n, emu.layout.n_channels) and data.dtype == np.float32
    first = int(data[0, 0])  # channel 0 counts absolute samples
    np.testing.assert_allclose(data, emu.signal(first, first + n), rtol=1e-6, atol=1e-3)
    expected = emu.expected_markers(first, first + n)
    expected["pos"] -= first
    np.testing.assert_array_equal(client.get_markers(0, n), expected)
    return first


@pytest.mark.slow
@pytest.mark.parametrize(("int16", "fragment"), [(False, False), (True, False), (False, True)])
def test_streams_microvolts_and_markers(int16, fragment):
    with _emulator(int16=int16, fragment=fragment) as emu, Client(buffer_size=5000) as client:
        client.connect(emu.address)
        client.start_streaming(timeout=TIMEOUT)
        assert client.is_streaming and client.data_dtype == "float32"
        assert client.buffer_size == 5000 and client.buffer_window == 1
        start = client.start_msg
        assert start.n_channels == 6 and start.sample_rate == 1000 and start.channel_names[0] == "Counter"
        np.testing.assert_array_equal(start.resolutions, emu.layout.resolutions)
        # rdaclient's field names keep working for ported code
        assert start.nChannels == 6 and start.dSamplingInterval == 1000.0
        assert start.sChannelNames == start.channel_names and start.dResolutions is start.resolutions
        _check_against_emulator(client, emu, 600)
        # views, not copies, into the project's RingBuffer
        assert isinstance(client.buffer, RingBuffer)
        assert np.shares_memory(client.get_data(10, 400), client.buffer.buffer)
        newest = client.poll(50, timeout=TIMEOUT)
        assert newest.shape == (50, 6)
        np.testing.assert_array_equal(np.diff(newest[:, 0]), 1)
        assert client.lost_blocks == 0 and client.skipped_messages > 0  # keep-alives etc. skipped
        client.stop_streaming()
        assert not client.is_streaming


@pytest.mark.slow
def test_get_data_and_wait_when_unavailable():
    with _emulator() as emu, Client(buffer_size=200) as client:
        assert client.get_data(0, 10) is None and client.last_sample == 0
        client.connect(emu.address)
        client.start_streaming(timeout=TIMEOUT)
        assert client.wait(0, 300, timeout=TIMEOUT) is None  # sample 0 is overwritten before 300 arrive
        client.wait(500, 510, timeout=TIMEOUT)
        assert client.wait(0, 10, timeout=0.1) is None  # overwritten
        assert client.get_data(0, 10) is None
        last = client.last_sample
        assert client.wait(last + 10**6, last + 10**6 + 1, timeout=0.05) is None  # timeout
        client.stop_streaming()
        with pytest.raises(NodeStateError, match="not streaming"):
            client.wait(client.last_sample, client.last_sample + 1)
        with pytest.raises(NodeStateError, match="not streaming"):
            client.stop_streaming()


@pytest.mark.slow
def test_stop_and_resume_loses_nothing():
    with _emulator(marker_interval=None) as emu, Client() as client:
        client.connect(emu.address)
        client.start_streaming(timeout=TIMEOUT)
        client.wait(0, 100, timeout=TIMEOUT)
        client.stop_streaming()
        paused_at = client.last_sample
        assert emu.wait_for_samples(emu.samples_sent + 200, timeout=TIMEOUT)  # data piles up in TCP meanwhile
        client.start_streaming(timeout=TIMEOUT)  # no START comes: resumes on data
        data = client.wait(0, paused_at + 300, timeout=TIMEOUT)
        np.testing.assert_array_equal(np.diff(data[:, 0]), 1)
        assert client.lost_blocks == 0


def test_server_stop_then_restart_same_layout():
    with _emulator(marker_interval=None) as emu, Client() as client:
        client.connect(emu.address)
        client.start_streaming(timeout=TIMEOUT)
        client.wait(0, 100, timeout=TIMEOUT)
        emu.send_stop()
        _wait_stopped(client)
        assert "STOP" in client.stop_reason and client.error is None
        with pytest.raises(NodeStateError, match="STOP"):
            client.wait(client.last_sample, client.last_sample + 1)
        before = client.last_sample
        emu.restart()
        client.start_streaming(timeout=TIMEOUT)
        data = client.wait(0, before + 100, timeout=TIMEOUT)  # same buffer, indices continue
        np.testing.assert_array_equal(np.diff(data[:, 0]), 1)


@pytest.mark.slow
def test_new_layout_mid_stream():
    with _emulator() as emu, Client() as client:
        client.connect(emu.address)
        client.start_streaming(timeout=TIMEOUT)
        client.wait(0, 100, timeout=TIMEOUT)
        emu.restart(n_channels=3, sample_rate=500)
        _wait_stopped(client)
        assert "layout" in client.stop_reason and client.error is None
        assert client.get_data(0, 100).shape == (100, 6)  # old data still readable
        client.start_streaming(timeout=TIMEOUT)
        assert client.start_msg.n_channels == 3 and client.start_msg.sample_rate == 500
        data = client.wait(0, 100, timeout=TIMEOUT)
        assert data.shape == (100, 3)
        np.testing.assert_array_equal(np.diff(data[:, 0]), 1)


def test_server_closes_mid_stream_then_reconnect(caplog):
    failures = []
    with _emulator() as emu, Client() as client:
        client.failed.connect(failures.append)
        client.connect(emu.address)
        client.start_streaming(timeout=TIMEOUT)
        client.wait(0, 100, timeout=TIMEOUT)
        with caplog.at_level(logging.ERROR, logger="lslacq.devices.rda.client"):
            emu.drop_clients()
            _wait_stopped(client)
        assert isinstance(client.error, BrokenStreamError) and "closed the connection" in str(client.error)
        assert failures == [client.error]
        assert "closed the connection" not in caplog.text  # a listener (the owner) reports it, not the client
        counters = client.counters()
        assert counters["samples_in"] == client.last_sample == counters["last_index"] >= 100
        assert counters["lost_samples"] == 0
        kept = client.last_sample
        assert client.get_data(0, kept) is not None  # buffered data survives
        with pytest.raises(BrokenStreamError, match="closed the connection"):
            client.wait(kept, kept + 1)
        with pytest.raises(BrokenStreamError, match="disconnect"):
            client.start_streaming(timeout=1)
        client.disconnect()
        client.connect(emu.address)
        client.start_streaming(timeout=TIMEOUT)
        assert client.wait(kept, kept + 100, timeout=TIMEOUT) is not None
        assert client.is_streaming and client.error is None


def test_failure_is_logged_by_the_client_when_nobody_listens(caplog):
    with _emulator() as emu, Client() as client:
        client.connect(emu.address)
        client.start_streaming(timeout=TIMEOUT)
        client.wait(0, 100, timeout=TIMEOUT)
        with caplog.at_level(logging.ERROR, logger="lslacq.devices.rda.client"):
            emu.drop_clients()
            _wait_stopped(client)
        assert isinstance(client.error, BrokenStreamError)
        logged = [r for r in caplog.records if "closed the connection" in r.getMessage()]
        assert len(logged) == 1 and logged[0].exc_info[1] is client.error


@pytest.mark.slow
def test_shared_memory_buffer_readable_by_another_ring():
    with _emulator() as emu, Client(buffer_size=2000, shmem=True) as client:
        client.connect(emu.address)
        client.start_streaming(timeout=TIMEOUT)
        mine = client.wait(0, 300, timeout=TIMEOUT)
        reader = RingBuffer((2000, 6), "float32", double=True, shmem=client.buffer.shm.to_dict())
        assert reader.index() >= 300
        np.testing.assert_array_equal(reader.get_data(0, 300), mine)


def test_connect_errors_are_explained():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = Client()
    with pytest.raises(ConnectionError, match="rda-emulator"):
        client.connect(("127.0.0.1", port))
    with pytest.raises(NodeStateError, match="connect"):
        client.start_streaming()
    with pytest.raises(ValueError, match="buffer_window"):
        Client(buffer_size=10, buffer_window=20)


# -- hand-written streams (a raw server socket driven by the test) -----------------------


class RawServer:
    """A listening socket; the test writes exact bytes to the accepted connection."""

    def __enter__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self.conn = None
        return self

    def accept(self):
        self.listener.settimeout(TIMEOUT)
        self.conn, _ = self.listener.accept()
        return self

    def send(self, data):
        self.conn.sendall(data)

    def __exit__(self, *exc):
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


START = build_start(1000.0, [0.5, 0.5], ["C3", "C4"])


def _block(b, n=10, value=None):
    values = np.full((n, 2), b if value is None else value, np.float32)
    return build_data(b, values)


def test_data_before_start_is_skipped_and_start_timeout():
    with RawServer() as server, Client() as client:
        client.connect(server.address)
        server.accept()
        with pytest.raises(StreamTimeoutError, match="START"):
            client.start_streaming(timeout=0.2)
        server.send(_block(1) + _block(2) + START + _block(3) + _block(4))
        client.start_streaming(timeout=TIMEOUT)
        data = client.wait(0, 20, timeout=TIMEOUT)
        np.testing.assert_array_equal(data[:, 0], [1.5] * 10 + [2.0] * 10)  # raw * 0.5


def test_lost_blocks_are_counted_and_filled_with_nan(caplog):
    with RawServer() as server, Client() as client:
        client.connect(server.address)
        server.accept()
        server.send(START + _block(1) + _block(2))
        client.start_streaming(timeout=TIMEOUT)
        with caplog.at_level(logging.WARNING, logger="lslacq.devices.rda.client"):
            server.send(_block(5) + build_data(6, np.zeros((10, 2), np.float32), [Marker(3, 1, 0, "Response", "R  1")]))
            data = client.wait(0, 60, timeout=TIMEOUT)
        assert client.lost_blocks == 2 and client.lost_samples == 20
        assert np.isnan(data[20:40]).all() and (data[40:50] == 2.5).all()
        assert "2 data block(s) lost" in caplog.text
        markers = client.get_markers()
        assert markers["pos"].tolist() == [53] and markers["description"][0] == b"R  1"


@pytest.mark.parametrize(
    ("garbage", "match"),
    [
        (b"\x00" * 16 + struct.pack("<II", 24, 3), "GUID"),
        (struct.pack("<16sII", RDA_GUID, 12, 4), "nSize=12"),
        (build_message(1, struct.pack("<Id", 50_000_000, 1000.0)), "50000000 channels"),
        (build_message(4, struct.pack("<III", 7, 100, 0) + b"\0" * 16), "100 points x 2 channels"),
    ],
    ids=["wrong-guid", "nsize-below-header", "absurd-nchannels", "truncated-block"],
)
def test_corrupted_stream_marks_client_broken(garbage, match, caplog):
    with RawServer() as server, Client() as client:
        client.connect(server.address)
        server.accept()
        server.send(START + _block(1))
        client.start_streaming(timeout=TIMEOUT)
        client.wait(0, 10, timeout=TIMEOUT)
        with caplog.at_level(logging.ERROR, logger="lslacq.devices.rda.client"):
            server.send(garbage + _block(2))
            _wait_stopped(client)
        assert isinstance(client.error, RdaProtocolError) and isinstance(client.error, BrokenStreamError)
        assert match in str(client.error) and match in caplog.text
        np.testing.assert_array_equal(client.get_data(0, 10), 0.5)  # buffered data kept
        with pytest.raises(BrokenStreamError, match=match):
            client.wait(10, 11)
        with pytest.raises(BrokenStreamError, match="disconnect"):
            client.start_streaming(timeout=1)


def test_truncated_message_then_close():
    with RawServer() as server, Client() as client:
        client.connect(server.address)
        server.accept()
        server.send(START + _block(1))
        client.start_streaming(timeout=TIMEOUT)
        client.wait(0, 10, timeout=TIMEOUT)
        server.send(_block(2)[:-5])
        server.conn.close()
        server.conn = None
        _wait_stopped(client)
        assert "closed the connection after 10 samples" in str(client.error)
        assert client._parser.pending_bytes > 0  # the partial block was never turned into data
        assert client.last_sample == 10


def test_stop_message_before_start_is_ignored():
    with RawServer() as server, Client() as client:
        client.connect(server.address)
        server.accept()
        server.send(build_stop() + build_message(10000) + START + _block(1) + build_stop())
        client.start_streaming(timeout=TIMEOUT)
        _wait_stopped(client)
        assert client.last_sample == 10 and "STOP" in client.stop_reason


@pytest.mark.slow
def test_example_script_runs():
    import pathlib
    import subprocess
    import sys

    script = pathlib.Path(__file__).parents[2] / "examples" / "rda_client.py"
    result = subprocess.run(
        [sys.executable, str(script), "--duration", "1.5"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "8 channels at 500 Hz" in result.stdout and "0 blocks lost" in result.stdout
    assert re.search(r"markers: \['S +\d+'\]", result.stdout), result.stdout


def test_corrupted_stream_before_start(caplog):
    with RawServer() as server, Client() as client:
        client.connect(server.address)
        server.accept()
        server.send(build_message(10000) + b"\x00" * 16 + struct.pack("<II", 24, 1))
        with caplog.at_level(logging.ERROR, logger="lslacq.devices.rda.client"):
            with pytest.raises(RdaProtocolError, match="GUID"):
                client.start_streaming(timeout=TIMEOUT)
        assert "GUID" in caplog.text
        with pytest.raises(BrokenStreamError, match="disconnect"):
            client.start_streaming(timeout=1)
        client.disconnect()
        assert not client.is_connected


@pytest.mark.slow
def test_server_dropping_blocks_for_a_slow_client():
    """Like Recorder, the emulator drops blocks for a client that falls behind.

    The client counts them and keeps its sample indices on the server's clock (NaN for the lost samples).
    """
    with (
        _emulator(n_channels=16, sample_rate=5000, block_duration=0.01, marker_interval=None, max_backlog=0.2) as emu,
        Client(buffer_size=100_000) as client,
    ):
        client.connect(emu.address)
        client.start_streaming(timeout=TIMEOUT)
        client.wait(0, 500, timeout=TIMEOUT)
        client.stop_streaming()  # stop reading: the server's backlog for us fills up
        dropped = emu.blocks_dropped
        while emu.blocks_dropped < dropped + 20:
            assert emu.wait_for_samples(emu.samples_sent + 500, timeout=TIMEOUT)
        paused_at = client.last_sample
        client.start_streaming(timeout=TIMEOUT)
        with client._cond:  # data after the gap has arrived
            assert client._cond.wait_for(
                lambda: client.lost_blocks > 0 and client.last_sample > paused_at + client.lost_samples + 100, TIMEOUT
            )
        data = client.get_data(0, client.last_sample)
        valid = ~np.isnan(data[:, 0])
        assert 0 < (~valid).sum() <= client.lost_samples
        # every received sample is at the index the server's clock gives it
        offsets = data[valid, 0] - np.flatnonzero(valid)
        assert np.all(offsets == offsets[0])
