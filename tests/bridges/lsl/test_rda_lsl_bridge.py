"""RDA -> LSL: emulator -> BrainAmpSocket -> LslOutlets -> the real LabRecorder engine -> pyxdf."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from lsl_helpers import wait_until

pylsl = pytest.importorskip("pylsl")
labrecorder = pytest.importorskip("labrecorder")
pyxdf = pytest.importorskip("pyxdf")

from lslacq.devices.rda import RdaEmulator  # noqa: E402
from lslacq_lsl import resolve_stream  # noqa: E402
from lslacq_lsl.rda_bridge import RdaLslBridge  # noqa: E402

SRATE = 1000.0


@pytest.mark.slow
def test_labrecorder_records_rda_bridge(tmp_path, unique_name):
    path = tmp_path / "rda.xdf"
    with RdaEmulator(
        port=0,
        n_channels=8,
        sample_rate=SRATE,
        block_duration=0.01,
        marker_interval=0.25,
        keepalive_interval=0.1,
        other_interval=0.3,
    ) as emu:
        bridge = RdaLslBridge("127.0.0.1", emu.address[1], name=unique_name + "-EEG")
        with bridge:
            infos = [resolve_stream(source_id=n.source_id, timeout=10) for n in (bridge.eeg, bridge.markers)]
            recording = labrecorder.Recording(str(path), infos)
            try:
                assert bridge.eeg.wait_for_consumers(10) and bridge.markers.wait_for_consumers(10)
                bridge.start()
                wait_until(lambda: bridge.n_samples >= 2 * SRATE, timeout=30, what="2 s of RDA data on LSL")
                bridge.amp.stop()  # stop reading RDA; the LSL outlets stay up while LabRecorder finishes
                sent = bridge.amp.outputs["signals"].last_index
                events = bridge.amp.outputs["triggers"].last_index
                wait_until(
                    lambda: bridge.n_samples == sent and bridge.n_markers == events,
                    what="the outlets to publish every sample and marker received",
                )
                n_samples, n_markers = bridge.n_samples, bridge.n_markers
                # LabRecorder pulls from its inlets every ~0.5 s: give it two pull periods.
                time.sleep(1.5)
            finally:
                recording.stop()
                del recording  # the XDF file is written when the Recording is destroyed
                gc.collect()
            assert bridge.error is None and bridge.amp.client.lost_blocks == 0

    # both streams come from this host: compare raw timestamps (per-stream offset estimates differ by us)
    streams, _ = pyxdf.load_xdf(str(path), synchronize_clocks=False, dejitter_timestamps=False)
    by_name = {s["info"]["name"][0]: s for s in streams}
    eeg, markers = by_name[unique_name + "-EEG"], by_name[unique_name + "-EEG-Markers"]

    info = eeg["info"]
    assert int(info["channel_count"][0]) == 8 and float(info["nominal_srate"][0]) == SRATE
    assert info["type"][0] == "EEG" and info["channel_format"][0] == "float32"
    channels = info["desc"][0]["channels"][0]["channel"]
    assert [c["label"][0] for c in channels] == ["Counter"] + [f"Ch{i}" for i in range(1, 8)]
    assert [c["unit"][0] for c in channels] == ["microvolts"] * 8
    assert info["desc"][0]["acquisition"][0]["manufacturer"][0] == "Brain Products"

    data = eeg["time_series"]
    assert data.shape == (n_samples, 8)
    first = int(data[0, 0])  # channel 0 counts the emulator's samples: no gap, no repeat, exact values
    np.testing.assert_allclose(data, emu.signal(first, first + n_samples), rtol=1e-6, atol=1e-3)
    ts = eeg["time_stamps"]
    assert abs((len(ts) - 1) / (ts[-1] - ts[0]) - SRATE) / SRATE < 1e-3

    expected = emu.expected_markers(first, first + n_samples)
    labels = [row[0] for row in markers["time_series"]]
    assert len(labels) == n_markers == len(expected) >= 7
    assert labels == [d.decode() for d in expected["description"]]
    assert markers["info"]["type"][0] == "Markers"
    np.testing.assert_allclose(markers["time_stamps"], ts[expected["pos"] - first], atol=1e-6, rtol=0)


@pytest.mark.slow
def test_bridge_command_line(unique_name):
    with RdaEmulator(port=0, n_channels=4, sample_rate=500, int16=True, block_duration=0.02) as emu:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lslacq.cli",
                "bridge",
                "rda",
                "--port",
                str(emu.address[1]),
                "--name",
                unique_name,
                "--duration",
                "30",
                "--interval",
                "0.5",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        try:
            line = proc.stdout.readline()
            assert f"as LSL streams {unique_name!r}" in line, line + proc.stderr.read()
            inlet = pylsl.StreamInlet(resolve_stream(name=unique_name, timeout=20))
            try:
                assert inlet.info().channel_count() == 4
                chunks = []

                def pulled_300(inlet):  # inlet passed in: the finally block deletes the name
                    chunk, _ = inlet.pull_chunk(timeout=1.0)
                    if chunk:
                        chunks.append(np.asarray(chunk))
                    return sum(map(len, chunks)) >= 300

                wait_until(lambda i=inlet: pulled_300(i), timeout=30, interval=0, what="300 samples through pylsl")
                data = np.concatenate(chunks)
                assert len(data) >= 300
                np.testing.assert_array_equal(np.diff(data[:, 0]), 1)  # int16 counter scaled to uV, no loss
            finally:
                inlet.close_stream()
                del inlet
            emu.drop_clients()  # the bridge reports the lost server and exits with an error
            assert proc.wait(timeout=30) == 1
            assert "closed the connection" in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()


@pytest.mark.slow
def test_bridge_command_line_without_server():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "lslacq.cli", "bridge", "rda", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "cannot connect to the RDA server" in result.stderr


@pytest.mark.slow
def test_example_script_runs(unique_name):
    import pathlib

    script = pathlib.Path(__file__).parents[3] / "examples" / "rda_to_lsl.py"
    result = subprocess.run(
        [sys.executable, str(script), "--duration", "2.5", "--name", unique_name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"as LSL streams {unique_name!r}" in result.stdout
    counts = re.findall(r"(\d+) samples, (\d+) markers published", result.stdout)
    assert counts and int(counts[-1][0]) >= 1000 and int(counts[-1][1]) >= 1


@pytest.mark.slow
def test_bridge_command_line_reconnects(unique_name):
    emu = RdaEmulator(port=0, n_channels=3, sample_rate=500, block_duration=0.02).start()
    port = emu.address[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lslacq.cli",
            "bridge",
            "rda",
            "--port",
            str(port),
            "--name",
            unique_name,
            "--duration",
            "60",
            "--interval",
            "0.2",
            "--reconnect",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert "as LSL streams" in proc.stdout.readline()
        wait_until(
            lambda: emu.clients_served >= 2 and emu.n_clients == 1,
            what="the bridge connected (configure's connection closed, start's accepted)",
        )
        emu.close()  # Recorder quits
        line = ""
        while not line.startswith("paused"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
        assert "closed the connection" in line
        emu = RdaEmulator(port=port, n_channels=3, sample_rate=500, block_duration=0.02).start()  # and is back
        while not line.startswith("resumed"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
        assert proc.poll() is None
        proc.terminate()  # SIGTERM: a clean stop, like Ctrl-C in a terminal
        assert proc.wait(timeout=30) == 0
    finally:
        emu.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
