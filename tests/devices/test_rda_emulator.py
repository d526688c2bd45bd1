"""The RDA server emulator, read with a plain socket and the protocol parser."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest
from helpers import wait_until

from lslacq.devices.rda.emulator import RdaEmulator, default_port
from lslacq.devices.rda.protocol import (
    MSG_KEEPALIVE,
    DataMessage,
    OtherMessage,
    RdaParser,
    StartMessage,
    StopMessage,
    markers_to_array,
)


def _read(sock, parser, until, timeout=20.0):
    """Parse messages from ``sock`` until ``until(messages)`` is true."""
    msgs = []
    sock.settimeout(1.0)

    def parsed():
        if until(msgs):
            return True
        try:
            n = parser.recv_into_from(sock)
        except TimeoutError:
            return False
        assert n, "emulator closed the connection"
        for msg in parser.messages():
            if isinstance(msg, DataMessage) and msg.data is not None:
                msg.data = msg.data.copy()
            msgs.append(msg)
        return until(msgs)

    wait_until(parsed, timeout=timeout, interval=0, what="the messages expected from the emulator")
    return msgs


def _n_points(msgs):
    return sum(m.n_points for m in msgs if isinstance(m, DataMessage))


@pytest.mark.slow
@pytest.mark.parametrize("int16", [False, True])
def test_stream_matches_declared_signal_and_markers(int16):
    with RdaEmulator(
        port=0,
        n_channels=6,
        sample_rate=2000,
        int16=int16,
        block_duration=0.01,
        marker_interval=0.05,
        keepalive_interval=0.05,
        other_interval=0.07,
        fragment=True,
    ) as emu:
        with socket.create_connection(emu.address, timeout=5) as sock:
            parser = RdaParser()

            def enough(m):
                other = any(isinstance(x, OtherMessage) and x.msg_type != MSG_KEEPALIVE for x in m)
                return _n_points(m) >= 1000 and other

            msgs = _read(sock, parser, enough)
    start = msgs[0]
    assert isinstance(start, StartMessage)
    assert start.n_channels == 6 and start.sample_rate == pytest.approx(2000)
    assert start.channel_names[0] == "Counter"
    data_msgs = [m for m in msgs if isinstance(m, DataMessage)]
    assert all(m.msg_type == (2 if int16 else 4) for m in data_msgs)
    blocks = [m.block for m in data_msgs]
    assert blocks == list(range(blocks[0], blocks[0] + len(blocks))), "block counter must be consecutive"
    raw = np.concatenate([m.data for m in data_msgs])
    uv = raw * start.resolutions
    first = int(uv[0, 0])
    np.testing.assert_allclose(uv, emu.signal(first, first + len(uv)), rtol=1e-5, atol=1e-4)
    # markers: absolute position = first sample of their block + relative position
    got, pos = [], first
    for m in data_msgs:
        got.append(markers_to_array(m.markers, offset=pos))
        pos += m.n_points
    got = np.concatenate(got)
    expected = emu.expected_markers(first, pos)
    assert len(expected) >= 5
    np.testing.assert_array_equal(got, expected)
    assert got["description"][0].startswith(b"S")
    kinds = {m.msg_type for m in msgs if isinstance(m, OtherMessage)}
    assert MSG_KEEPALIVE in kinds and kinds - {MSG_KEEPALIVE}


@pytest.mark.slow
def test_two_clients_get_the_same_blocks():
    with RdaEmulator(port=0, n_channels=3, sample_rate=1000, block_duration=0.01) as emu:
        with socket.create_connection(emu.address) as s1, socket.create_connection(emu.address) as s2:
            assert emu.wait_for_clients(2, timeout=10)
            p1, p2 = RdaParser(), RdaParser()
            m1 = _read(s1, p1, lambda m: _n_points(m) >= 300)
            m2 = _read(s2, p2, lambda m: _n_points(m) >= 300)
    d1 = {m.block: m.data for m in m1 if isinstance(m, DataMessage)}
    d2 = {m.block: m.data for m in m2 if isinstance(m, DataMessage)}
    common = sorted(set(d1) & set(d2))
    assert len(common) >= 10
    for b in common:
        np.testing.assert_array_equal(d1[b], d2[b])


def test_stop_restart_with_new_layout_and_drop():
    with RdaEmulator(port=0, n_channels=3, sample_rate=1000, block_duration=0.01) as emu:
        with socket.create_connection(emu.address) as sock:
            parser = RdaParser()
            _read(sock, parser, lambda m: _n_points(m) >= 50)
            emu.send_stop()
            msgs = _read(sock, parser, lambda m: any(isinstance(x, StopMessage) for x in m))
            emu.restart(n_channels=5, sample_rate=500)
            msgs = _read(sock, parser, lambda m: _n_points(m) >= 20)
            start = next(m for m in msgs if isinstance(m, StartMessage))
            assert start.n_channels == 5 and start.sample_rate == pytest.approx(500)
            assert all(m.data.shape[1] == 5 for m in msgs if isinstance(m, DataMessage))
            emu.drop_clients()
            sock.settimeout(5)
            while True:  # the rest of the stream then EOF
                if not sock.recv(65536):
                    break


def test_duration_sends_stop():
    with RdaEmulator(port=0, n_channels=2, sample_rate=1000, block_duration=0.01, duration=0.2) as emu:
        with socket.create_connection(emu.address) as sock:
            msgs = _read(sock, RdaParser(), lambda m: any(isinstance(x, StopMessage) for x in m))
    assert _n_points(msgs) <= 200


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="n_channels=0"):
        RdaEmulator(n_channels=0)
    with pytest.raises(ValueError, match="sample_rate"):
        RdaEmulator(sample_rate=-1)
    assert default_port(True) == 51234 and default_port(False) == 51244
    with RdaEmulator(port=0) as emu:
        with pytest.raises(OSError, match="choose another --port"):
            RdaEmulator(port=emu.address[1]).start()


@pytest.mark.slow
def test_command_line_emulator():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lslacq.cli",
            "rda-emulator",
            "--port",
            "0",
            "--int16",
            "--channels",
            "4",
            "--rate",
            "500",
            "--duration",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"on ([\d.]+):(\d+): 4 channels at 500 Hz, int16", line)
        assert match, line + proc.stderr.read()
        with socket.create_connection((match.group(1), int(match.group(2))), timeout=5) as sock:
            msgs = _read(sock, RdaParser(), lambda m: any(isinstance(x, StopMessage) for x in m))
        assert isinstance(msgs[0], StartMessage) and msgs[0].n_channels == 4
        assert any(isinstance(m, DataMessage) and m.msg_type == 2 for m in msgs)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.slow
def test_monitor_command():
    with RdaEmulator(port=0, n_channels=3, sample_rate=500, int16=True, marker_interval=0.25) as emu:
        port = emu.address[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "lslacq.cli",
                "rda-monitor",
                "--port",
                str(port),
                "--duration",
                "1.6",
                "--interval",
                "0.5",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f":{port}: 3 channels at 500 Hz (sampling interval 2000 us)" in out
    assert "   1  Counter      1 uV/unit" in out and "   2  Ch1          0.1 uV/unit" in out
    status = re.findall(r"s  (\d+) samples \((\d+) Hz, int16\)  lost blocks 0(.*)", out)
    assert len(status) >= 3 and int(status[-1][0]) >= 400
    assert "markers: Stimulus/S  " in "".join(line[2] for line in status)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bad = subprocess.run(
        [sys.executable, "-m", "lslacq.cli", "rda-monitor", "--port", str(port), "--timeout", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "cannot connect to the RDA server" in bad.stderr


def test_a_client_that_does_not_read_is_dropped_after_send_timeout():
    """As fast as clients read: a stalled client holds the server back for send_timeout s, then is dropped."""
    with RdaEmulator(port=0, n_channels=32, sample_rate=10000, realtime=False, send_timeout=0.3) as emu:
        with socket.create_connection(emu.address) as stalled:
            stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 12)
            assert emu.wait_for_clients(1, timeout=10)
            with emu._changed:  # the server waits for the stalled client, then drops it
                assert emu._changed.wait_for(lambda: emu.n_clients == 0, timeout=10)
            sent = emu.samples_sent
            assert sent > 0
            with socket.create_connection(emu.address, timeout=5) as reader:  # the others are served again
                msgs = _read(reader, RdaParser(), lambda m: _n_points(m) >= 1000)
            assert isinstance(msgs[0], StartMessage) and emu.samples_sent >= sent + 1000
