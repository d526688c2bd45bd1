"""Replaying BrainVision recordings through the RDA emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from lslacq.devices.rda import Client, RdaEmulator
from lslacq.devices.rda.brainvision import read_brainvision

TIMEOUT = 20.0
N = 600  # samples in the test recording (1.2 s at 500 Hz): replays loop during the tests


def write_brainvision(folder, int16=True, vectorized=False, codepage="UTF-8"):
    """A small recording as Recorder writes it; channel 0 counts samples."""
    rng = np.random.default_rng(0)
    data = np.empty((N, 3), np.int16 if int16 else np.float32)
    data[:, 0] = np.arange(N)
    data[:, 1:] = rng.integers(-2000, 2000, size=(N, 2))
    (folder / "rec.eeg").write_bytes((data.T if vectorized else data).astype(data.dtype).tobytes())
    header = f"""Brain Vision Data Exchange Header File Version 1.0
; Data created by the Vision Recorder

[Common Infos]
Codepage={codepage}
DataFile=rec.eeg
MarkerFile=rec.vmrk
DataFormat=BINARY
; Data orientation: MULTIPLEXED=ch1,pt1, ch2,pt1 ...
DataOrientation={"VECTORIZED" if vectorized else "MULTIPLEXED"}
NumberOfChannels=3
SamplingInterval=2000

[Binary Infos]
BinaryFormat={"INT_16" if int16 else "IEEE_FLOAT_32"}

[Channel Infos]
; Each entry: Ch<Channel number>=<Name>,<Reference channel name>,<Resolution in "Unit">,<Unit>
Ch1=Count,,1,\u00b5V
Ch2=Cz,,0.5,\u00b5V
Ch3=EOG\\1left,,0.001,mV
"""
    (folder / "rec.vhdr").write_bytes(header.encode("utf-8" if codepage == "UTF-8" else "latin-1"))
    (folder / "rec.vmrk").write_text(
        """Brain Vision Data Exchange Marker File, Version 1.0

[Common Infos]
Codepage=UTF-8
DataFile=rec.eeg

[Marker Infos]
; Each entry: Mk<Marker number>=<Type>,<Description>,<Position in data points>,
; <Size in data points>, <Channel number (0 = marker is related to all channels)>
Mk1=New Segment,,1,1,0,20240101120000000000
Mk2=Stimulus,S  1,101,1,0
Mk3=Response,R\\1 2,351,5,2
Mk4=Stimulus,S 15,501,1,0
""",
        encoding="utf-8",
    )
    return folder / "rec.vhdr", data


@pytest.mark.parametrize(("int16", "vectorized"), [(True, False), (False, True)])
def test_read_brainvision(tmp_path, int16, vectorized):
    vhdr, data = write_brainvision(tmp_path, int16, vectorized, codepage="UTF-8" if int16 else "Latin-1")
    rec = read_brainvision(vhdr)
    assert rec.channel_names == ["Count", "Cz", "EOG,left"]
    np.testing.assert_allclose(rec.resolutions, [1.0, 0.5, 1.0])  # 0.001 mV = 1 uV
    assert rec.sample_rate == 500.0 and rec.int16 == int16 and rec.n_samples == N
    np.testing.assert_array_equal(rec.data, data)
    assert rec.markers["pos"].tolist() == [0, 100, 350, 500]
    assert rec.markers["description"].tolist() == [b"", b"S  1", b"R, 2", b"S 15"]
    assert rec.markers["points"].tolist() == [1, 1, 5, 1] and rec.markers["channel"].tolist() == [-1, -1, 1, -1]


def test_read_brainvision_errors(tmp_path):
    vhdr, _ = write_brainvision(tmp_path)
    text = vhdr.read_text(encoding="utf-8")
    vhdr.write_text(text.replace("DataFormat=BINARY", "DataFormat=ASCII"), encoding="utf-8")
    with pytest.raises(ValueError, match="only BINARY"):
        read_brainvision(vhdr)
    vhdr.write_text(text.replace("BinaryFormat=INT_16", "BinaryFormat=INT_32"), encoding="utf-8")
    with pytest.raises(ValueError, match="BinaryFormat=INT_32"):
        read_brainvision(vhdr)
    vhdr.write_text(text.replace("NumberOfChannels=3\n", ""), encoding="utf-8")
    with pytest.raises(ValueError, match="NumberOfChannels"):
        read_brainvision(vhdr)
    with pytest.raises(FileNotFoundError):
        read_brainvision(tmp_path / "missing.vhdr")


@pytest.mark.slow
@pytest.mark.parametrize("int16", [True, False])
def test_replay_through_client(tmp_path, int16):
    vhdr, data = write_brainvision(tmp_path, int16)
    with RdaEmulator(port=0, recording=str(vhdr), block_duration=0.02) as emu, Client() as client:
        client.connect(emu.address)
        client.start_streaming(timeout=TIMEOUT)
        start = client.start_msg
        assert start.channel_names == ["Count", "Cz", "EOG,left"] and start.sample_rate == 500.0
        n = int(1.5 * N)  # more than one loop of the file
        got = client.wait(0, n, timeout=TIMEOUT)
        first = int(got[0, 0])  # the file position of the client's first sample
        expected = data[(first + np.arange(n)) % N].astype(np.float64) * [1.0, 0.5, 1.0]
        np.testing.assert_allclose(got, expected, rtol=1e-6)
        markers = client.get_markers(0, n)
        want = emu.expected_markers(first, first + n)  # the file's markers, looped
        assert len(want) >= 3
        np.testing.assert_array_equal(markers["pos"] + first, want["pos"])
        np.testing.assert_array_equal(
            markers[["points", "channel", "type", "description"]], want[["points", "channel", "type", "description"]]
        )
        with pytest.raises(ValueError, match="fixed layout"):
            emu.restart(n_channels=4)


@pytest.mark.slow
def test_replay_command_line(tmp_path):
    vhdr, _ = write_brainvision(tmp_path, int16=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lslacq.cli", "rda-emulator", "--port", "0", "--vhdr", str(vhdr), "--duration", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"on ([\d.]+):(\d+): 3 channels at 500 Hz, int16, replaying", line)
        assert match, line + proc.stderr.read()
        with Client() as client:
            client.connect((match.group(1), int(match.group(2))))
            client.start_streaming(timeout=TIMEOUT)
            assert client.wait_until_stopped(TIMEOUT) and "STOP" in client.stop_reason
            assert client.last_sample >= 100
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    bad = subprocess.run(
        [sys.executable, "-m", "lslacq.cli", "rda-emulator", "--vhdr", str(tmp_path / "nope.vhdr")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "cannot read" in bad.stderr
