"""The OpenBCI node through the real pyserial, against the shipped Cyton emulator on a pty."""

from __future__ import annotations

import os
import time
import uuid

import numpy as np
import pytest

pytest.importorskip("serial")

from helpers import OutputReader, wait_until

from lslacq.core.stream import InputStream  # noqa: E402
from lslacq.devices.eeg_openbci import OpenBCI, OpenBCIError  # noqa: E402
from lslacq.devices.openbci.emulator import CytonEmulator, expected_accel  # noqa: E402
from lslacq.devices.openbci.protocol import ACCEL_SCALE, microvolts_per_count  # noqa: E402

UV = microvolts_per_count(24)


Reader = OutputReader


def _board(n_positions, daisy=False):
    """Expected counts per output position (the emulator's known signal)."""
    k = np.arange(1, 9) * 1000
    if not daisy:
        return k[None, :] + (n_positions % 1000)[:, None]
    board = k[None, :] + ((2 * n_positions + 1) % 1000)[:, None]
    dz = -(k[None, :] + ((2 * n_positions) % 1000)[:, None])
    return np.concatenate([board, dz], axis=1)


def _run_node(node, seconds_of_data, aux=True):
    node.outputs["signals"].configure(protocol="tcp")
    if aux:
        node.outputs["aux"].configure(protocol="tcp")
    node.initialize()
    readers = [Reader(node.outputs["chan"])] + ([Reader(node.outputs["aux"])] if aux else [])
    try:
        node.start()
        want = int(seconds_of_data * node.sample_rate)
        wait_until(lambda: readers[0].n >= want, what=f"{want} samples")
        node.stop()
        wait_until(
            lambda: all(r.n == node.outputs["signals"].last_index - node.lost_samples for r in readers),
            what="every sample sent",
        )
    finally:
        for reader in readers:
            reader.close()
    return readers


@pytest.mark.slow
def test_cyton_exact_microvolts_names_units_and_accel():
    with CytonEmulator() as emu, OpenBCI(name="cyton") as node:
        node.configure(device_handle=emu.port)  # daisy='auto' asks the board
        assert node.n_channels == 8 and node.sample_rate == 250.0 and "OpenBCI V3" in node.banner
        spec = node.outputs["signals"].spec
        assert spec["channel_names"] == [str(i) for i in range(1, 9)]
        assert spec["units"] == "microvolts" and spec["channel_units"] == ["microvolts"] * 8
        assert spec["manufacturer"] == "OpenBCI" and spec["model"] == "Cyton"
        assert node.outputs["chan"] is node.outputs["signals"] and list(node.outputs) == ["signals", "aux"]
        signals, accel = _run_node(node, 0.6)
        positions, data = signals.arrays()
        np.testing.assert_array_equal(positions, np.arange(len(positions)))
        assert data.dtype == np.float32
        np.testing.assert_array_equal(data, (_board(positions) * np.float32(UV)).astype(np.float32))
        apos, adata = accel.arrays()
        np.testing.assert_array_equal(apos, positions)
        for p in (0, 9, 10, 37, len(positions) - 1):  # held between the 25 Hz values
            np.testing.assert_allclose(adata[p], expected_accel(p - p % 10) * ACCEL_SCALE, rtol=1e-6)
        assert node.counters()["lost_packets"] == 0 and node.lost_samples == 0
        # configure asks (s v C), start sets 8 channels and streams (s v c b), stop stops (s)
        assert emu.commands == [b"s", b"v", b"C", b"s", b"v", b"c", b"b", b"s"]
    assert node.error is None


EDGES = np.array([0x7FFFFF, -0x800000, -1, 0, 1, 0x7FFF00, -0x7FFFFF, 12345])  # on the wire: 7FFFFF 800000 FFFFFF...


@pytest.mark.slow
def test_sign_edge_counts_through_the_port():
    with CytonEmulator(signal=lambda n, daisy: EDGES) as emu, OpenBCI(name="edges") as node:
        node.configure(device_handle=emu.port, daisy=False)
        (signals,) = _run_node(node, 0.2, aux=False)
        _, data = signals.arrays()
        expected = (EDGES * np.float32(UV)).astype(np.float32)
        assert expected[0] == pytest.approx(187500.0, rel=1e-6) and expected[1] < -187500.0 and expected[2] < 0
        np.testing.assert_array_equal(data, np.broadcast_to(expected, data.shape))


@pytest.mark.slow
def test_extra_commands_are_sent_before_streaming():
    with CytonEmulator() as emu, OpenBCI(name="cmds") as node:
        node.configure(device_handle=emu.port, daisy=False, commands=["x1060110X", "d", "!"])
        (signals,) = _run_node(node, 0.2, aux=False)
        assert emu.commands[-6:] == [b"c", b"x1060110X", b"d", b"!", b"b", b"s"]
        positions, data = signals.arrays()
        np.testing.assert_array_equal(np.round(data / np.float32(UV)).astype(int), _board(positions))


@pytest.mark.slow
def test_daisy_pairs_into_16_channels_at_125_hz():
    with CytonEmulator(daisy=True) as emu, OpenBCI(name="daisy") as node:
        node.configure(device_handle=emu.port)
        assert node.n_channels == 16 and node.sample_rate == 125.0
        assert node.outputs["signals"].spec["model"] == "Cyton + Daisy"
        (signals,) = _run_node(node, 0.5, aux=False)
        positions, data = signals.arrays()
        np.testing.assert_array_equal(positions, np.arange(len(positions)))
        np.testing.assert_array_equal(np.round(data / np.float32(UV)).astype(int), _board(positions, daisy=True))
        assert node.counters()["unpaired_packets"] == 0


@pytest.mark.slow
def test_8_channels_from_a_daisy_board_with_daisy_false():
    with CytonEmulator(daisy=True) as emu, OpenBCI(name="eight") as node:
        node.configure(device_handle=emu.port, daisy=False)
        (signals,) = _run_node(node, 0.3, aux=False)
        positions, data = signals.arrays()
        assert data.shape[1] == 8 and b"c" in emu.commands
        np.testing.assert_array_equal(np.round(data / np.float32(UV)).astype(int), _board(positions))


@pytest.mark.slow
@pytest.mark.parametrize("footers", [(0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6)])
def test_every_footer_through_the_port(footers):
    with CytonEmulator(footers=footers) as emu, OpenBCI(name="footers") as node:
        node.configure(device_handle=emu.port, daisy=False)
        (signals,) = _run_node(node, 0.3, aux=False)
        positions, data = signals.arrays()
        np.testing.assert_array_equal(positions, np.arange(len(positions)))
        np.testing.assert_array_equal(np.round(data / np.float32(UV)).astype(int), _board(positions))
        assert node.garbage_bytes == 0


@pytest.mark.slow
def test_faults_resync_and_count_lost_packets(caplog):
    with CytonEmulator(garbage_every=7, torn_every=23, drop_every=31, seed=3) as emu, OpenBCI(name="faulty") as node:
        node.configure(device_handle=emu.port, daisy=False)
        (signals,) = _run_node(node, 1.2, aux=False)
        positions, data = signals.arrays()
        # every sample that arrived is intact and at its own position; lost ones are gaps
        np.testing.assert_array_equal(np.round(data / np.float32(UV)).astype(int), _board(positions))
        missing = set(range(int(positions[-1]) + 1)) - set(positions.tolist())
        assert missing, "the emulator dropped and tore packets: some must be missing"

        def faulty(p):  # dropped or torn by the emulator
            return p % 31 == 30 or p % 23 == 22

        # lost: the faulty packets, and at most a packet right after one (resynchronising next to garbage)
        assert {p for p in range(int(positions[-1])) if faulty(p)} <= missing
        assert all(faulty(p) or faulty(p - 1) for p in missing)
        counters = node.counters()
        assert counters["lost_packets"] == len(missing) == counters["lost_samples"]
        assert counters["garbage_bytes"] > 0
    assert "packets lost" in caplog.text


@pytest.mark.slow
def test_no_board_answering_is_a_clear_error():
    master, slave = os.openpty()
    try:
        node = OpenBCI(name="silent")
        with pytest.raises(OpenBCIError, match=r"no reply ending in '\$\$\$' to 'v' \(soft reset\).*within 0.3 s"):
            node.configure(device_handle=os.ttyname(slave), timeout=0.3)
        with pytest.raises(OpenBCIError, match=r"cannot open the OpenBCI dongle at '/nonexistent/tty'"):
            node.configure(device_handle="/nonexistent/tty")
        with pytest.raises(ValueError, match="gain 7 is not an ADS1299 gain"):
            node.configure(device_handle=os.ttyname(slave), gain=7, daisy=False)
        node.close()
    finally:
        os.close(master)
        os.close(slave)


def test_daisy_true_without_a_daisy_says_so():
    with CytonEmulator(daisy=False) as emu, OpenBCI(name="nodaisy") as node:
        node.configure(device_handle=emu.port, daisy=True)
        node.outputs["signals"].configure(protocol="tcp")
        node.initialize()
        with pytest.raises(OpenBCIError, match="has no Daisy .*no daisy to attach!8"):
            node.start()


@pytest.mark.slow
def test_unplug_is_reported(tmp_path):
    link = str(tmp_path / "ttyOBCI")
    failures = []
    with CytonEmulator(link=link) as emu, OpenBCI(name="unplugged") as node:
        node.configure(device_handle=link, daisy=False)
        node.failed.connect(failures.append)
        node.outputs["signals"].configure(protocol="tcp")
        node.initialize()
        node.start()
        wait_until(lambda: node.outputs["signals"].last_index > 20, what="data")
        emu.unplug()
        wait_until(lambda: failures, what="the node to report the unplug")  # emitted after error is set
        assert isinstance(node.error, OpenBCIError) and "lost the OpenBCI board" in str(node.error)
        assert failures == [node.error]
        node.stop()


@pytest.mark.slow
def test_reconnects_after_replug(tmp_path):
    link = str(tmp_path / "ttyOBCI")
    with CytonEmulator(link=link) as emu, OpenBCI(name="replugged") as node:
        node.configure(device_handle=link, daisy=False, reconnect=True, timeout=2.0)
        node.outputs["signals"].configure(protocol="tcp")
        node.initialize()
        reader = Reader(node.outputs["signals"])
        try:
            node.start()
            wait_until(lambda: reader.n > 20, what="data")
            emu.unplug()
            time.sleep(0.3)  # the dongle stays away a moment
            before = node.outputs["signals"].last_index
            emu.replug()
            wait_until(
                lambda: node.reconnects == 1 and node.outputs["signals"].last_index > before + 50,
                what="data after the replug",
            )
            node.stop()
            wait_until(lambda: reader.n == node.outputs["signals"].last_index - node.lost_samples, what="all data")
        finally:
            reader.close()
        assert node.error is None
        positions, data = reader.arrays()
        gap = np.flatnonzero(np.diff(positions) > 1)
        assert len(gap) == 1 and node.lost_samples >= 0.2 * 250  # the time away is a gap in the indices
        after = positions[gap[0] + 1 :] - positions[gap[0] + 1]  # the board restarted its count at 0
        np.testing.assert_array_equal(np.round(data[gap[0] + 1 :] / np.float32(UV)).astype(int), _board(after))


@pytest.mark.slow
def test_end_to_end_into_lsl():
    pylsl = pytest.importorskip("pylsl")
    from lslacq_lsl import LslOutlet, resolve_stream
    from lslacq_lsl.metadata import describe_stream

    name = f"obci-{uuid.uuid4().hex[:8]}"
    with CytonEmulator() as emu, OpenBCI(name="obci") as node, LslOutlet(name="out") as outlet:
        node.configure(device_handle=emu.port)
        node.outputs["signals"].configure(protocol="inproc")
        outlet.configure(name=name, type="EEG")
        outlet.inputs["signals"].connect(node.outputs["signals"])
        outlet.initialize()
        node.initialize()
        info = resolve_stream(name=name, timeout=10)
        inlet = pylsl.StreamInlet(info)
        try:
            inlet.open_stream(timeout=10)
            desc = describe_stream(inlet.info(timeout=10))
            assert desc.channel_names == tuple(str(i) for i in range(1, 9))
            assert desc.channel_units == ("microvolts",) * 8 and desc.nominal_srate == 250.0
            assert desc.manufacturer == "OpenBCI" and desc.model == "Cyton"
            outlet.start()
            node.start()
            chunks = []

            def pulled_100(inlet):  # inlet passed in: the finally block deletes the name
                chunk, _ = inlet.pull_chunk(timeout=1.0)
                if chunk:
                    chunks.append(np.asarray(chunk))
                return sum(map(len, chunks)) >= 100

            wait_until(lambda i=inlet: pulled_100(i), timeout=20, interval=0, what="100 samples through pylsl")
            node.stop()
            outlet.stop()
        finally:
            inlet.close_stream()
            del inlet
    data = np.concatenate(chunks)
    assert len(data) >= 100
    np.testing.assert_allclose(data, _board(np.arange(len(data))) * UV, rtol=1e-6)


@pytest.mark.slow
def test_emulate_and_bridge_commands():
    """`lslacq emulate openbci --daisy` serves a pty; `lslacq bridge openbci --port PTY` publishes it on LSL."""
    import re
    import subprocess
    import sys

    emulator = subprocess.Popen(
        [sys.executable, "-m", "lslacq.cli", "emulate", "openbci", "--daisy", "--duration", "60"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = emulator.stdout.readline()
        match = re.search(r"emulator on (\S+) \(250 packets/s\)", line)
        assert match, line
        name = f"obci-{uuid.uuid4().hex[:8]}"
        bridge = subprocess.run(
            [
                sys.executable,
                "-m",
                "lslacq.cli",
                "bridge",
                "openbci",
                "--port",
                match.group(1),
                "--name",
                name,
                "--duration",
                "2",
                "--interval",
                "0.5",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bridge.returncode == 0, bridge.stderr
        counts = [int(n) for n in re.findall(rf"(\d+) samples '{name}'", bridge.stdout)]
        assert counts and counts[-1] > 100, bridge.stdout  # 125 Hz with the Daisy
        assert f"'{name}-aux'" in bridge.stdout and "lost samples 0" in bridge.stdout
    finally:
        emulator.terminate()
        emulator.wait(10)
        emulator.stdout.close()
    assert emulator.returncode == 0


@pytest.mark.slow
def test_example_openbci_to_lsl():
    import pathlib
    import subprocess
    import sys

    script = pathlib.Path(__file__).resolve().parents[2] / "examples" / "openbci_to_lsl.py"
    run = subprocess.run(
        [sys.executable, str(script), "--daisy", "--duration", "1.2", "--name", f"obci-{uuid.uuid4().hex[:8]}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "publishing 16 channels at 125 Hz" in run.stdout and ", 0 packets lost" in run.stdout


@pytest.mark.slow
def test_pyacq_style_remote_node_with_the_chan_name():
    """A pyacq script: the node in a nodegroup process (by type name), its output configured as 'chan'."""
    import lslacq

    with CytonEmulator(daisy=True) as emu:
        manager = lslacq.create_manager()
        try:
            node = manager.create_nodegroup().create_node("OpenBCI", name="remote")
            node.configure(device_handle=emu.port)
            node.outputs["chan"].configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
            node.initialize()
            inp = InputStream()
            inp.connect(node.outputs["chan"])
            try:
                node.start()
                index, data = inp.recv(timeout=10000)
                node.stop()
            finally:
                inp.close()
            assert data.shape[1] == 16 and node.counters()["lost_packets"] == 0
            positions = np.arange(index - len(data), index)
            np.testing.assert_array_equal(np.round(data / np.float32(UV)).astype(int), _board(positions, daisy=True))
        finally:
            manager.close()


@pytest.mark.slow
def test_labrecorder_records_the_daisy_board(tmp_path):
    """OpenBCI -> `lslacq bridge` machinery -> the real LabRecorder engine -> XDF read by pyxdf."""
    import gc

    labrecorder = pytest.importorskip("labrecorder")
    pyxdf = pytest.importorskip("pyxdf")
    from lslacq_lsl import resolve_stream
    from lslacq_lsl.device_bridge import DeviceLslBridge

    name = f"obci-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "openbci.xdf"
    with CytonEmulator(daisy=True) as emu:
        node = OpenBCI(name="xdf")
        node.configure(device_handle=emu.port)
        with DeviceLslBridge(node, name=name) as bridge:
            infos = [resolve_stream(source_id=o.source_id, timeout=10) for o in bridge.outlets.values()]
            recording = labrecorder.Recording(str(path), infos)
            try:
                for outlet in bridge.outlets.values():
                    assert outlet.wait_for_consumers(10)
                bridge.start()
                wait_until(lambda: bridge.pushed()[name] >= 150, timeout=30, what="150 samples on LSL")
                bridge.stop()
                sent = node.outputs["signals"].last_index
                time.sleep(1.5)  # LabRecorder pulls every ~0.5 s
            finally:
                recording.stop()
                del recording  # the file is written when the Recording is destroyed
                gc.collect()
    streams, _ = pyxdf.load_xdf(str(path), synchronize_clocks=False, dejitter_timestamps=False)
    by_name = {s["info"]["name"][0]: s for s in streams}
    eeg, aux = by_name[name], by_name[name + "-aux"]
    info = eeg["info"]
    assert int(info["channel_count"][0]) == 16 and float(info["nominal_srate"][0]) == 125.0
    channels = info["desc"][0]["channels"][0]["channel"]
    assert [c["label"][0] for c in channels] == [str(i) for i in range(1, 17)]
    assert [c["unit"][0] for c in channels] == ["microvolts"] * 16
    assert info["desc"][0]["acquisition"][0]["manufacturer"][0] == "OpenBCI"
    data = eeg["time_series"]
    assert len(data) == sent
    np.testing.assert_allclose(data, _board(np.arange(sent), daisy=True) * UV, rtol=1e-6)
    aux_channels = aux["info"]["desc"][0]["channels"][0]["channel"]
    assert [c["label"][0] for c in aux_channels] == ["AccelX", "AccelY", "AccelZ"]
    assert [c["unit"][0] for c in aux_channels] == ["g"] * 3 and len(aux["time_series"]) == sent
