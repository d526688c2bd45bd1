"""The Emotiv node through the real pyusb code path (the shipped emulator backend) and through hidraw."""

from __future__ import annotations

import re
import time
import uuid

import numpy as np
import pytest

pytest.importorskip("usb")
pytest.importorskip("Crypto")

from helpers import OutputReader as Reader  # noqa: E402
from helpers import wait_until  # noqa: E402

from lslacq.devices.eeg_emotiv import Emotiv, EmotivError, EmotivKeyError  # noqa: E402
from lslacq.devices.emotiv.emulator import (  # noqa: E402
    EmotivBackend,
    expected_eeg,
    expected_reports,
)
from lslacq.devices.emotiv.protocol import CHANNEL_NAMES, encrypt, make_key  # noqa: E402

SERIAL = "SN20120526998912"


def _expected_uv(positions):
    raw = expected_reports(int(positions[-1]) + 1)
    fields = np.array([expected_eeg(int(p)) for p in positions])
    from lslacq.devices.emotiv.protocol import decode_packets

    fields[:, 6] = decode_packets(raw[positions]).eeg[:, 6]  # O1's LSBs as sent (shared with contact quality)
    return (fields.astype(np.float32) - 8192) * np.float32(0.51)


def _run(node, n_samples, outputs=("signals",)):
    for name in outputs:
        node.outputs[name].configure(protocol="tcp")
    node.initialize()
    readers = {name: Reader(node.outputs[name]) for name in outputs}
    try:
        node.start()
        wait_until(lambda: readers["signals"].n >= n_samples, what=f"{n_samples} reports")
        node.stop()
        sent = node.outputs["signals"].last_index - node.lost_packets
        wait_until(lambda: all(r.n == sent for r in readers.values()), what="every report sent")
    finally:
        for reader in readers.values():
            reader.close()
    return readers


@pytest.mark.slow
def test_pyusb_end_to_end_exact_values_and_metadata():
    backend = EmotivBackend(serial=SERIAL)
    with Emotiv(name="epoc") as node:
        node.configure(backend=backend)
        assert node.serial == SERIAL
        spec = node.outputs["signals"].spec
        assert spec["channel_names"] == list(CHANNEL_NAMES) and spec["channel_units"] == ["microvolts"] * 14
        assert spec["serial_number"] == SERIAL and spec["manufacturer"] == "Emotiv" and spec["sample_rate"] == 128.0
        assert node.outputs["impedances"] is node.outputs["quality"]
        assert list(node.outputs) == ["signals", "quality", "gyro", "battery"]
        readers = _run(node, 140, outputs=("signals", "quality", "gyro", "battery"))
        assert backend.detached == {0, 1} and backend.claimed == set()  # detached, claimed, released at stop
        assert node.key_variant == "consumer"
    positions, data = readers["signals"].arrays()
    np.testing.assert_array_equal(positions, np.arange(len(positions)))
    np.testing.assert_array_equal(data, _expected_uv(positions))
    _, gyro = readers["gyro"].arrays()
    np.testing.assert_array_equal(gyro[:, 0], positions % 20 - 10)
    np.testing.assert_array_equal(gyro[:, 1], 5)
    _, battery = readers["battery"].arrays()
    assert np.isnan(battery[:128]).all() and (battery[128:] == 93).all()
    _, quality = readers["quality"].arrays()
    assert np.isnan(quality[0, 1]) and not np.isnan(quality[20]).any()
    assert node.counters()["lost_packets"] == 0 and node.counters()["battery"] == 93.0


def test_key_auto_detection_through_pyusb():
    with Emotiv(name="auto") as node:
        node.configure(backend=EmotivBackend(serial=SERIAL, key_variant="consumer_doc", research=True), key="auto")
        _run(node, 20)
        assert node.key_variant == "consumer_doc"


def test_wrong_key_is_a_clear_error_in_start():
    with Emotiv(name="wrongkey") as node:
        node.configure(backend=EmotivBackend(serial=SERIAL, key_variant="research_emokit"), key="consumer")
        node.outputs["signals"].configure(protocol="tcp")
        node.initialize()
        with pytest.raises(EmotivKeyError, match="variant 'consumer'.*'research_emokit' works: configure key='auto'"):
            node.start()
        assert not node.running()


@pytest.mark.slow
def test_lost_reports_are_counted_and_are_gaps():
    backend = EmotivBackend(serial=SERIAL, drop_every=25)
    with Emotiv(name="lossy") as node:
        node.configure(backend=backend)
        readers = _run(node, 60)
        positions, data = readers["signals"].arrays()
        missing = set(range(int(positions[-1]) + 1)) - set(positions.tolist())
        assert missing and all(p % 25 == 24 for p in missing)
        assert node.counters()["lost_packets"] == len(missing) == node.counters()["lost_samples"]
        np.testing.assert_array_equal(data, _expected_uv(positions))


def test_unplug_is_reported():
    backend = EmotivBackend(serial=SERIAL)
    failures = []
    with Emotiv(name="unplug") as node:
        node.configure(backend=backend)
        node.failed.connect(failures.append)
        node.outputs["signals"].configure(protocol="tcp")
        node.initialize()
        node.start()
        wait_until(lambda: node.outputs["signals"].last_index > 10, what="data")
        backend.unplug()
        wait_until(lambda: failures, what="the failure")  # failed is emitted after error is set
        assert isinstance(node.error, EmotivError) and "unplugged?" in str(node.error)
        assert failures == [node.error]


@pytest.mark.slow
def test_reconnects_after_replug():
    backend = EmotivBackend(serial=SERIAL, key_variant="consumer_doc")
    with Emotiv(name="replug") as node:
        node.configure(backend=backend, key="auto", reconnect=True)
        node.outputs["signals"].configure(protocol="tcp")
        node.initialize()
        reader = Reader(node.outputs["signals"])
        try:
            node.start()
            wait_until(lambda: reader.n > 20, what="data")
            backend.unplug()
            time.sleep(0.3)  # the dongle stays away a moment
            before = node.outputs["signals"].last_index
            backend.replug()
            wait_until(
                lambda: node.reconnects == 1 and node.outputs["signals"].last_index > before + 30,
                what="data after the replug",
            )
            node.stop()
            wait_until(lambda: reader.n == node.outputs["signals"].last_index - node.lost_samples, what="all data")
        finally:
            reader.close()
        assert node.error is None and node.key_variant == "consumer_doc"
        assert backend.detached == {0, 1}  # detached again from the new device
    positions, _ = reader.arrays()
    gaps = np.flatnonzero(np.diff(positions) > 1)
    assert len(gaps) == 1 and node.counters()["lost_samples"] >= 0.2 * 128


@pytest.mark.slow
def test_no_dongle_and_headset_off_are_clear_errors():
    backend = EmotivBackend(serial=SERIAL)
    backend.unplug()
    with pytest.raises(EmotivError, match="no Emotiv EPOC dongle found .*21a1:0001, 1234:ed02"):
        Emotiv(name="none").configure(backend=backend)
    with pytest.raises(EmotivError, match="no Emotiv EPOC dongle with serial 'SN1' found"):
        Emotiv(name="other").configure(backend=EmotivBackend(serial=SERIAL), serial="SN1")
    off = EmotivBackend(serial=SERIAL)
    off.switch_off()
    with Emotiv(name="off") as node:
        node.configure(backend=off, timeout=0.3)
        node.outputs["signals"].configure(protocol="tcp")
        node.initialize()
        with pytest.raises(EmotivError, match="no data from the Emotiv headset within 0.3 s: is it switched on"):
            node.start()
    with pytest.raises(ValueError, match="unknown Emotiv key variant 'plus'"):
        Emotiv(name="badkey").configure(backend=EmotivBackend(), key="plus")


def test_hidraw_transport_reads_reports(tmp_path):
    """The transport of pyacq: 32-byte reads from a hidraw node (here a file of reports, so EOF = unplugged)."""
    key = make_key(SERIAL, "consumer")
    path = tmp_path / "hidraw9"
    path.write_bytes(b"".join(encrypt(p, key) for p in expected_reports(200)))
    with Emotiv(name="hidraw") as node:
        node.configure(device_info={"path": str(path), "serial": SERIAL})  # pyacq's configure form
        node.outputs["signals"].configure(protocol="tcp")
        node.initialize()
        reader = Reader(node.outputs["signals"])
        try:
            node.start()
            wait_until(lambda: node.error is not None, what="the end of the file")
            wait_until(lambda: reader.n == 200, what="every report")
            node.stop()
        finally:
            reader.close()
        assert "was closed (dongle unplugged?)" in str(node.error)
    positions, data = reader.arrays()
    np.testing.assert_array_equal(data, _expected_uv(positions))
    with pytest.raises(EmotivError, match="cannot find the serial number of .*give serial="):
        Emotiv(name="noserial").configure(device_handle=str(path))


@pytest.mark.slow
def test_end_to_end_into_lsl():
    pylsl = pytest.importorskip("pylsl")
    from lslacq_lsl import LslOutlet, resolve_stream
    from lslacq_lsl.metadata import describe_stream

    name = f"epoc-{uuid.uuid4().hex[:8]}"
    with Emotiv(name="epoc") as node, LslOutlet(name="out") as outlet:
        node.configure(backend=EmotivBackend(serial=SERIAL))
        node.outputs["signals"].configure(protocol="inproc")
        outlet.configure(name=name, type="EEG")
        outlet.inputs["signals"].connect(node.outputs["signals"])
        outlet.initialize()
        node.initialize()
        inlet = pylsl.StreamInlet(resolve_stream(name=name, timeout=10))
        try:
            inlet.open_stream(timeout=10)
            desc = describe_stream(inlet.info(timeout=10))
            assert desc.channel_names == CHANNEL_NAMES and desc.channel_units == ("microvolts",) * 14
            assert desc.nominal_srate == 128.0 and desc.manufacturer == "Emotiv"
            outlet.start()
            node.start()
            chunks = []

            def pulled_40(inlet):  # inlet passed in: the finally block deletes the name
                chunk, _ = inlet.pull_chunk(timeout=1.0)
                if chunk:
                    chunks.append(np.asarray(chunk))
                return sum(map(len, chunks)) >= 40

            wait_until(lambda i=inlet: pulled_40(i), timeout=20, interval=0, what="40 samples through pylsl")
            node.stop()
            outlet.stop()
        finally:
            inlet.close_stream()
            del inlet
    data = np.concatenate(chunks)
    assert len(data) >= 40
    np.testing.assert_array_equal(data.astype(np.float32), _expected_uv(np.arange(len(data))))


@pytest.mark.slow
def test_bridge_command_with_the_emulator(capsys):
    from lslacq.cli import main

    name = f"epoc-{uuid.uuid4().hex[:8]}"
    assert (
        main(
            ["bridge", "emotiv", "--emulate", "--key", "auto", "--name", name, "--duration", "1.2", "--interval", "0.4"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"'{name}-battery' (Battery" in out and f"'{name}-gyro' (Gyroscope" in out and "lost samples 0" in out
    assert f"'{name}' (EEG" in out and f"'{name}-quality' (ContactQuality" in out  # LSL content types per stream
    assert int(re.findall(rf"(\d+) samples '{name}'", out)[-1]) > 64


@pytest.mark.slow
def test_example_emotiv_to_lsl():
    import pathlib
    import subprocess
    import sys

    script = pathlib.Path(__file__).resolve().parents[2] / "examples" / "emotiv_to_lsl.py"
    run = subprocess.run(
        [sys.executable, str(script), "--duration", "1.2", "--name", f"epoc-{uuid.uuid4().hex[:8]}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "key variant 'consumer_doc'" in run.stdout and "0 reports lost" in run.stdout
