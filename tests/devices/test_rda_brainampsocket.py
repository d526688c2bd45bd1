"""BrainAmpSocket node: RDA emulator -> node -> real InputStreams."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

import lslacq
from lslacq.core.registry import get_node_type
from lslacq.core.stream import InputStream
from lslacq.core.stream.events import EVENT_DTYPE
from lslacq.devices.brainampsocket import markers_to_events
from lslacq.devices.rda import MARKER_DTYPE, RdaEmulator
from lslacq.errors import BrokenStreamError, NodeStateError, StreamTimeoutError

TIMEOUT_MS = 20000


@pytest.fixture
def emulator():
    with RdaEmulator(
        port=0,
        n_channels=5,
        sample_rate=1000,
        block_duration=0.01,
        marker_interval=0.05,
        keepalive_interval=0.05,
        other_interval=0.1,
    ) as emu:
        yield emu


def _make_node(port, outputs=("signals", "triggers"), **kw):
    node = lslacq.devices.BrainAmpSocket(name="amp")
    node.configure(brainamp_host="127.0.0.1", brainamp_port=port, **kw)
    for name in outputs:
        node.outputs[name].configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
    node.initialize()
    return node


def _read(inp, n_samples):
    chunks, index = [], 0
    while index < n_samples:
        index, data = inp.recv(timeout=TIMEOUT_MS)
        chunks.append(data)
    return index, np.concatenate(chunks)


@pytest.mark.slow
@pytest.mark.parametrize("int16", [False, True])
def test_signals_and_triggers(int16):
    with RdaEmulator(
        port=0, n_channels=5, sample_rate=1000, block_duration=0.01, marker_interval=0.05, int16=int16, fragment=int16
    ) as emu:
        node = _make_node(emu.address[1])
        sig, trg = InputStream(), InputStream()
        try:
            params = node.outputs["signals"].params
            assert params["shape"] == (-1, 5) and params["sample_rate"] == 1000.0
            assert params["channel_names"] == ["Counter", "Ch1", "Ch2", "Ch3", "Ch4"]
            assert params["units"] == "microvolts" and np.dtype(params["dtype"]) == np.float32
            assert node.outputs["triggers"].params["streamtype"] == "event"
            sig.connect(node.outputs["signals"])
            trg.connect(node.outputs["triggers"])
            node.start()
            assert node.running() and node.is_streaming
            index, data = _read(sig, 400)
            assert index == len(data)
            first = int(data[0, 0])
            np.testing.assert_allclose(data, emu.signal(first, first + len(data)), rtol=1e-6, atol=1e-3)
            expected = emu.expected_markers(first, first + len(data))
            got = np.concatenate([trg.recv(timeout=TIMEOUT_MS)[1] for _ in range(len(expected))])
            assert got.dtype == EVENT_DTYPE and len(expected) >= 7
            np.testing.assert_array_equal(got["index"], expected["pos"] - first)
            np.testing.assert_array_equal(got["description"], expected["description"])
            assert (got["type"] == b"Stimulus").all() and (got["channel"] == -1).all()
            assert (got["duration"] == 0).all()
            np.testing.assert_array_equal(got["code"], [int(d[1:]) for d in expected["description"]])
            node.stop()
        finally:
            node.close()
            sig.close()
            trg.close()


@pytest.mark.slow
def test_server_closing_is_reported_and_restart_works(emulator, caplog):
    node = _make_node(emulator.address[1])
    sig = InputStream()
    failed = threading.Event()
    errors = []
    node.failed.connect(lambda exc: (errors.append(exc), failed.set()))
    try:
        sig.connect(node.outputs["signals"])
        node.start()
        _read(sig, 100)
        with caplog.at_level("ERROR"):
            emulator.drop_clients()
            assert failed.wait(20)
        assert isinstance(node.error, BrokenStreamError) and errors == [node.error]
        # the node contract logs it once (the RDA client, whose failure the node listens to, does not)
        errors = [(r.name, r.getMessage()) for r in caplog.records if r.levelname == "ERROR"]
        reported = [r for r in caplog.records if r.exc_info and r.exc_info[1] is node.error]
        assert len(reported) == 1, errors
        assert "node 'amp' (BrainAmpSocket) failed" in reported[0].getMessage()
        assert not [e for e in errors if e[0] == "lslacq.devices.rda.client"], errors
        assert not node.is_streaming and "closed the connection" in node.stop_reason
        node.stop()
        sig.empty_queue()
        node.start()  # reconnects; indices restart at 0
        index, data = _read(sig, 100)
        assert index == len(data) >= 100 and node.error is None
        np.testing.assert_array_equal(np.diff(data[:, 0]), 1)
        node.stop()
    finally:
        node.close()
        sig.close()


def test_layout_change_between_configure_and_start(emulator):
    node = _make_node(emulator.address[1])
    try:
        emulator.restart(n_channels=2)
        with pytest.raises(NodeStateError, match="configured for 5 channels"):
            node.start()
        assert not node.running()
    finally:
        node.close()


@pytest.mark.slow
def test_configure_errors():
    node = lslacq.devices.BrainAmpSocket()
    with pytest.raises(TypeError, match="brainamp_port"):
        node.configure(port=1)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never sends START
        with pytest.raises(StreamTimeoutError, match="START"):
            node.configure(brainamp_port=silent.getsockname()[1], timeout=0.3)
        port = silent.getsockname()[1]
    with pytest.raises(ConnectionError, match="RDA server"):
        node.configure(brainamp_port=port, timeout=2)
    node.close()


def test_registered_by_name():
    assert get_node_type("BrainAmpSocket") is lslacq.devices.BrainAmpSocket
    assert lslacq.BrainAmpSocket is lslacq.devices.BrainAmpSocket


def test_markers_to_events():
    markers = np.array(
        [
            (10, 1, -1, b"Stimulus", b"S  1"),
            (20, 5, 3, b"Response", b"R 12"),
            (30, 1, -1, b"Comment", b"a long comment that does not fit in 32 bytes"),
        ],
        MARKER_DTYPE,
    )
    events = markers_to_events(markers)
    assert events["index"].tolist() == [10, 20, 30] and events["duration"].tolist() == [0, 5, 0]
    assert events["code"].tolist() == [1, 12, 0] and events["channel"].tolist() == [-1, 3, -1]
    assert events["description"][2] == b"a long comment that does not fi" + b"t"
    assert len(markers_to_events(markers[:0])) == 0


@pytest.mark.slow
def test_follows_recorder_stop_and_start(emulator):
    node = _make_node(emulator.address[1])
    sig, trg = InputStream(), InputStream()
    try:
        sig.connect(node.outputs["signals"])
        trg.connect(node.outputs["triggers"])
        node.start()
        _read(sig, 100)
        emulator.send_stop()
        with node.client._cond:  # the node keeps running while Recorder is stopped
            assert node.client._cond.wait_for(lambda: not node.is_streaming, 20)
        assert node.running() and node.error is None and "STOP" in node.stop_reason
        sent_before = node.outputs["signals"].last_index
        last_counter = emulator.next_sample - 1
        threading.Event().wait(0.2)  # Recorder stays stopped a while (the scenario, not synchronisation)
        emulator.restart()  # START, same layout: the node resumes by itself
        index = 0
        while index <= sent_before:  # skip what was sent before the STOP
            index, data = sig.recv(timeout=TIMEOUT_MS)
        assert node.is_streaming and node.error is None
        assert index - len(data) > sent_before  # the pause is a gap in the indices (LSL times stay right)
        assert data[0, 0] == last_counter + 1  # and no sample is lost or repeated
        event_index = -1
        while event_index < sent_before:  # marker indices carry the same offset
            _, events = trg.recv(timeout=TIMEOUT_MS)
            event_index = int(events["index"][-1])
        first = int(data[0, 0]) - (index - len(data))  # counter value - signal index, after the pause
        assert int(events["description"][-1][1:]) == (event_index + first) // emulator.marker_period() % 15 + 1
        node.stop()
    finally:
        node.close()
        sig.close()
        trg.close()


@pytest.mark.slow
def test_triggers_output_is_optional(emulator):
    """Only 'signals' configured: the node initializes and streams; markers are simply not sent."""
    node = _make_node(emulator.address[1], outputs=("signals",))
    sig = InputStream()
    try:
        assert not node.outputs["triggers"].configured
        sig.connect(node.outputs["signals"])
        node.start()
        index, data = _read(sig, 300)  # markers every 50 ms: several arrived meanwhile
        np.testing.assert_array_equal(np.diff(data[:, 0]), 1)
        assert node.error is None and node.client.get_markers().size > 0
        counters = node.counters()
        assert counters["samples_out"] >= index and counters["lost_samples"] == 0
        node.stop()
    finally:
        node.close()
        sig.close()


def test_layout_change_while_running_is_reported(emulator):
    node = _make_node(emulator.address[1])
    sig = InputStream()
    failed = threading.Event()
    node.failed.connect(lambda exc: failed.set())
    try:
        sig.connect(node.outputs["signals"])
        node.start()
        _read(sig, 50)
        emulator.restart(n_channels=2)
        assert failed.wait(20)
        assert isinstance(node.error, NodeStateError) and "configured for 5 channels" in str(node.error)
        assert not node.is_streaming
        node.stop()
    finally:
        node.close()
        sig.close()


@pytest.mark.slow
def test_remote_nodegroup(emulator):
    """Used as in pyacq: the node is created by name in a nodegroup process and read from here."""
    from lslacq.core import create_manager

    manager = create_manager("rpc", auto_close_at_exit=False)
    sig = InputStream()
    try:
        nodegroup = manager.create_nodegroup("eeg")
        amp = nodegroup.create_node("BrainAmpSocket", name="amp")
        amp.configure(brainamp_host="127.0.0.1", brainamp_port=emulator.address[1])
        amp.outputs["signals"].configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        amp.outputs["triggers"].configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        amp.initialize()
        sig.connect(amp.outputs["signals"])
        assert sig.params["channel_names"] == ["Counter", "Ch1", "Ch2", "Ch3", "Ch4"]
        amp.start()
        index, data = _read(sig, 200)
        np.testing.assert_array_equal(np.diff(data[:, 0]), 1)
        assert amp.is_streaming
        amp.stop()
        amp.close()
    finally:
        sig.close()
        manager.close()


@pytest.mark.slow
def test_reconnects_when_recorder_restarts(emulator):
    port = emulator.address[1]
    node = _make_node(port, reconnect=True)
    sig = InputStream()
    failures = []
    node.failed.connect(failures.append)
    replacement = None
    try:
        sig.connect(node.outputs["signals"])
        node.start()
        _read(sig, 100)
        emulator.close()  # Recorder quits: connection lost, port closed
        with node.client._cond:
            assert node.client._cond.wait_for(lambda: not node.is_streaming, 20)
        assert node.running() and node.error is None and failures == []
        sent_before = node.outputs["signals"].last_index
        replacement = RdaEmulator(port=port, n_channels=5, sample_rate=1000, block_duration=0.01).start()
        index = 0
        while index <= sent_before:
            index, data = sig.recv(timeout=TIMEOUT_MS)
        assert index - len(data) > sent_before  # the outage is a gap in the indices
        assert node.is_streaming and node.reconnects >= 1 and node.error is None and failures == []
        node.stop()
    finally:
        node.close()
        sig.close()
        if replacement is not None:
            replacement.close()


@pytest.mark.slow
def test_erp_example_runs():
    """examples/rda_erp.py: BrainAmpSocket -> SosFilter -> TriggerAccumulator on Recorder markers."""
    import pathlib
    import re
    import subprocess
    import sys

    script = pathlib.Path(__file__).parents[2] / "examples" / "rda_erp.py"
    result = subprocess.run(
        [sys.executable, str(script), "--duration", "4.5"], capture_output=True, text=True, timeout=90
    )
    assert result.returncode == 0, result.stderr
    peaks = re.findall(
        r"epoch (\d+): average of \d+, peak \|uV\| Ch1=([\d.]+) Ch2=([\d.]+) Ch3=([\d.]+)", result.stdout
    )
    assert len(peaks) >= 2, result.stdout
    # the emulator's Ch3 is a 25 uV sine phase-locked to the markers: the average keeps it
    assert abs(float(peaks[-1][3]) - 25.0) < 2.5


@pytest.mark.slow
def test_sharedmem_output(emulator):
    node = lslacq.devices.BrainAmpSocket(name="amp")
    node.configure(brainamp_port=emulator.address[1])
    node.outputs["signals"].configure(
        protocol="tcp", interface="127.0.0.1", transfermode="sharedmem", buffer_size=10000
    )
    node.outputs["triggers"].configure(protocol="tcp", interface="127.0.0.1")
    node.initialize()
    sig = InputStream()
    try:
        sig.connect(node.outputs["signals"])
        sig.set_buffer(10000)
        node.start()
        index = 0
        while index < 300:
            index, _ = sig.recv(timeout=TIMEOUT_MS)
        data = sig.get_data(0, index)
        np.testing.assert_array_equal(np.diff(data[:, 0]), 1)
        first = int(data[0, 0])
        np.testing.assert_allclose(data, emulator.signal(first, first + index), rtol=1e-6, atol=1e-3)
        node.stop()
    finally:
        node.close()
        sig.close()


def test_blocks_the_server_skipped_are_lost_samples_and_an_index_gap():
    from lslacq.devices.rda.protocol import build_data, build_start

    start = build_start(1000.0, [1.0, 1.0], ["C3", "C4"])

    def block(b):
        return build_data(b, np.full((10, 2), b, np.float32))

    conns = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(20)

        def serve():  # configure()'s connection, then start()'s: blocks 3 and 4 never come
            for payload in (start, start + block(1) + block(2) + block(5)):
                conn, _ = listener.accept()
                conns.append(conn)
                conn.sendall(payload)

        server = threading.Thread(target=serve, name="test-rda-raw-server", daemon=True)
        server.start()
        node = _make_node(listener.getsockname()[1], outputs=("signals",))
        sig = InputStream()
        try:
            sig.connect(node.outputs["signals"])
            node.start()
            index, data = _read(sig, 50)
            assert index == 50 and data[:, 0].tolist() == [1] * 10 + [2] * 10 + [5] * 10
            assert node.counters()["lost_samples"] == 20 and node.client.lost_blocks == 2
            node.stop()
        finally:
            node.close()
            sig.close()
            server.join(20)
            for conn in conns:
                conn.close()
