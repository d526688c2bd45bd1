"""FileReplay: MNE files and lslacq recordings played into a graph, at the right rate, with their events."""

from __future__ import annotations

import time

import numpy as np
import pytest
from rec_helpers import make_output, wait_until

from lslacq.core.stream import InputStream
from lslacq.core.stream.events import make_events
from lslacq.rec import FileReplay, RawRecorder

mne = pytest.importorskip("mne")

RATE = 200.0


def _write_fif(path, n=400, first_samp=0):
    rng = np.random.default_rng(3)
    data = rng.standard_normal((3, n)) * 20e-6
    info = mne.create_info(["Fz", "Cz", "STI"], RATE, ["eeg", "eeg", "misc"])
    raw = mne.io.RawArray(data, info, first_samp=first_samp, verbose="error")
    raw.set_annotations(mne.Annotations([0.25, 1.0, 1.5], [0.0, 0.1, 0.0], ["Stimulus/S  1", "Stimulus/S 12", "BAD"]))
    raw.save(path, fmt="double", verbose="error")
    return data


def _collect(inp: InputStream, out: list, stop_at: int, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    got = 0
    while got < stop_at and time.monotonic() < deadline:
        if inp.poll(100):
            index, data = inp.recv()
            out.append((index, np.array(data)))
            got = index
    return got


@pytest.mark.slow
def test_fif_plays_same_samples_at_the_right_rate_with_annotations_as_events(tmp_path):
    path = tmp_path / "sample_raw.fif"
    data = _write_fif(path)
    node = FileReplay(name="replay")
    node.configure(filename=path, speed=2.0, chunksize=20)
    node.outputs["signals"].configure(protocol="inproc")
    node.outputs["events"].configure(protocol="inproc")
    spec = node.outputs["signals"].spec
    assert spec["sample_rate"] == RATE and spec["channel_names"] == ["Fz", "Cz", "STI"]
    assert spec["channel_units"] == ["microvolts", "microvolts", ""]
    sig, ev = InputStream(), InputStream()
    with node, sig, ev:
        sig.connect(node.outputs["signals"])
        ev.connect(node.outputs["events"])
        node.initialize()
        chunks = []
        t0 = time.monotonic()
        node.start()
        assert _collect(sig, chunks, 400) == 400
        elapsed = time.monotonic() - t0
        assert node.wait_finished(5)
        events = []
        while ev.poll(200):
            events.append(ev.recv()[1])
        node.stop()
    got = np.concatenate([c for _, c in chunks])
    np.testing.assert_allclose(got.T, data * np.array([[1e6], [1e6], [1.0]]), rtol=1e-12)
    assert [i for i, _ in chunks] == list(range(20, 401, 20))
    # 2 s of data at speed 2: at least ~1 s (paced), however loaded the machine
    assert elapsed >= 0.9 * 400 / RATE / 2
    events = np.concatenate(events)
    np.testing.assert_array_equal(events["index"], [50, 200, 300])
    # a FIF's annotations are kept exactly (only BrainVision files split 'TYPE/DESCRIPTION')
    assert [bytes(d) for d in events["description"]] == [b"Stimulus/S  1", b"Stimulus/S 12", b"BAD"]
    assert [bytes(t) for t in events["type"]] == [b"annotation"] * 3
    np.testing.assert_array_equal(events["code"], [1, 12, 0])
    np.testing.assert_array_equal(events["duration"], [0, 20, 0])


@pytest.mark.slow
def test_recording_replays_looped_from_an_offset_with_its_events(tmp_path):
    out = make_output("eeg", dtype="float32", shape=(-1, 2), sample_rate=1000.0, channel_names=["a", "b"])
    ev_out = make_output("ev", streamtype="event", dtype=make_events([0]).dtype.descr, shape=(-1,), sample_rate=1000.0)
    values = np.arange(400, dtype="float32").reshape(200, 2)
    rec = RawRecorder()
    rec.configure(streams={"eeg": out, "ev": ev_out}, dirname=tmp_path / "r")
    with out, ev_out, rec:
        rec.initialize()
        rec.start()
        out.send(values)
        ev_out.send(make_events([50, 150], description=["x", "y"], code=[1, 2]))
        wait_until(lambda: rec._files["eeg"].n_written == 200 and rec._files["ev"].n_written == 2)
        rec.stop()

    node = FileReplay()
    node.configure(filename=tmp_path / "r", start=0.1, n_repeat=3, speed=10.0, chunksize=30)
    node.outputs["signals"].configure(protocol="inproc")
    node.outputs["events"].configure(protocol="inproc")
    sig, ev = InputStream(), InputStream()
    with node, sig, ev:
        sig.connect(node.outputs["signals"])
        ev.connect(node.outputs["events"])
        node.initialize()
        assert node.outputs["signals"].spec["dtype"] == "<f4"
        chunks = []
        node.start()
        assert _collect(sig, chunks, 300) == 300  # 3 x the 100 samples after the 0.1 s offset
        assert node.wait_finished(5)
        events = []
        while ev.poll(200):
            events.append(ev.recv()[1])
        node.stop()
        assert node.error is None and node.counters()["samples_out"] >= 300
    got = np.concatenate([c for _, c in chunks])
    np.testing.assert_array_equal(got, np.tile(values[100:], (3, 1)))
    assert [i for i, _ in chunks] == list(range(30, 301, 30))  # chunks run on across repeats: the rate stays exact
    events = np.concatenate(events)
    np.testing.assert_array_equal(events["index"], [50, 150, 250])  # the event at 150 -> 50 in each repeat
    assert [bytes(d) for d in events["description"]] == [b"y"] * 3


def test_bad_configuration_is_a_clear_error(tmp_path):
    path = tmp_path / "x_raw.fif"
    _write_fif(path)
    node = FileReplay()
    with pytest.raises(ValueError, match="speed must be"):
        node.configure(filename=path, speed=0)
    with pytest.raises(ValueError, match="n_repeat"):
        node.configure(filename=path, n_repeat=0)
    with pytest.raises(ValueError, match="start=5 s is outside"):
        node.configure(filename=path, start=5)
    with pytest.raises(FileNotFoundError, match="no such file"):
        node.configure(filename=tmp_path / "missing.fif")
    (tmp_path / "a.xdf").write_bytes(b"XDF:")
    with pytest.raises(ValueError, match="XdfReplay"):
        node.configure(filename=tmp_path / "a.xdf")
    (tmp_path / "junk.fif").write_bytes(b"not a fif")
    with pytest.raises(ValueError, match="MNE cannot read"):
        node.configure(filename=tmp_path / "junk.fif")
    node.close()


@pytest.mark.slow
def test_brainvision_vhdr_plays_in_microvolts_with_its_markers(tmp_path):
    data = (np.arange(400 * 2, dtype="float32").reshape(400, 2) % 97) - 48.0  # µV, multiplexed
    data.tofile(tmp_path / "rec.eeg")
    (tmp_path / "rec.vhdr").write_text(
        "Brain Vision Data Exchange Header File Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\nDataFile=rec.eeg\n"
        "MarkerFile=rec.vmrk\nDataFormat=BINARY\nDataOrientation=MULTIPLEXED\nNumberOfChannels=2\n"
        "SamplingInterval=4000\n\n[Binary Infos]\nBinaryFormat=IEEE_FLOAT_32\n\n[Channel Infos]\n"
        "Ch1=Fz,,1,µV\nCh2=Cz,,1,µV\n",
        encoding="utf-8",
    )
    (tmp_path / "rec.vmrk").write_text(  # positions are 1-based
        "Brain Vision Data Exchange Marker File, Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\nDataFile=rec.eeg\n\n"
        "[Marker Infos]\nMk1=Stimulus,S  1,51,1,0\nMk2=Response,R 15,201,1,0\n",
        encoding="utf-8",
    )
    node = FileReplay()
    node.configure(filename=tmp_path / "rec.vhdr", speed=20.0, chunksize=50)
    node.outputs["signals"].configure(protocol="inproc")
    node.outputs["events"].configure(protocol="inproc")
    assert node.outputs["signals"].spec["sample_rate"] == 250.0
    sig, ev = InputStream(), InputStream()
    with node, sig, ev:
        sig.connect(node.outputs["signals"])
        ev.connect(node.outputs["events"])
        node.initialize()
        chunks = []
        node.start()
        assert _collect(sig, chunks, 400) == 400
        assert node.wait_finished(5)
        events = []
        while ev.poll(200):
            events.append(ev.recv()[1])
        node.stop()
    np.testing.assert_allclose(np.concatenate([c for _, c in chunks]), data, rtol=1e-6, atol=1e-9)
    events = np.concatenate(events)
    np.testing.assert_array_equal(events["index"], [50, 200])
    assert [(bytes(e["type"]), bytes(e["description"]), int(e["code"])) for e in events] == [
        (b"Stimulus", b"S  1", 1),
        (b"Response", b"R 15", 15),
    ]


def _write_edf_plus(path, digital: np.ndarray, rate: int, annotations: list[tuple[float, str]]):
    """A minimal EDF+C file: int16 signals in records of 1 s, 0.1 µV per unit, and an annotations signal."""
    n_records = digital.shape[0] // rate
    labels = [f"EEG{i}" for i in range(digital.shape[1])]
    ann_bytes = 120  # per record: 60 two-byte samples of the "EDF Annotations" signal
    ns = len(labels) + 1

    def field(value, width):
        text = str(value).encode("ascii")
        assert len(text) <= width
        return text.ljust(width)

    header = b"".join(
        [
            field(0, 8),
            field("X X X X", 80),
            field("Startdate 01-JAN-2024 X X X", 80),
            field("01.01.24", 8),
            field("00.00.00", 8),
            field(256 * (ns + 1), 8),
            field("EDF+C", 44),
            field(n_records, 8),
            field(1, 8),
            field(ns, 4),
        ]
    )
    signals = [*labels, "EDF Annotations"]
    cols = [
        [field(s, 16) for s in signals],
        [field("", 80)] * ns,
        [field("uV", 8)] * len(labels) + [field("", 8)],
        [field("-3276.8", 8)] * len(labels) + [field(-1, 8)],
        [field("3276.7", 8)] * len(labels) + [field(1, 8)],
        [field(-32768, 8)] * ns,
        [field(32767, 8)] * ns,
        [field("", 80)] * ns,
        [field(rate, 8)] * len(labels) + [field(ann_bytes // 2, 8)],
        [field("", 32)] * ns,
    ]
    header += b"".join(b"".join(col) for col in cols)
    body = b""
    for r in range(n_records):
        for c in range(len(labels)):
            body += digital[r * rate : (r + 1) * rate, c].astype("<i2").tobytes()
        tal = f"+{r}\x14\x14\x00".encode()
        for onset, text in annotations:
            if r <= onset < r + 1:
                tal += f"+{onset}\x14{text}\x14\x00".encode()
        body += tal.ljust(ann_bytes, b"\x00")
    path.write_bytes(header + body)


@pytest.mark.slow
def test_edf_plus_plays_in_microvolts_with_its_annotations(tmp_path):
    rate = 100
    digital = ((np.arange(300 * 2).reshape(300, 2) * 37) % 2000 - 1000).astype("int16")
    _write_edf_plus(tmp_path / "rec.edf", digital, rate, [(0.5, "S  3"), (2.25, "blink")])
    node = FileReplay()
    node.configure(filename=tmp_path / "rec.edf", speed=20.0, chunksize=50)
    node.outputs["signals"].configure(protocol="inproc")
    node.outputs["events"].configure(protocol="inproc")
    spec = node.outputs["signals"].spec
    assert spec["sample_rate"] == rate and spec["channel_names"] == ["EEG0", "EEG1"]
    sig, ev = InputStream(), InputStream()
    with node, sig, ev:
        sig.connect(node.outputs["signals"])
        ev.connect(node.outputs["events"])
        node.initialize()
        chunks = []
        node.start()
        assert _collect(sig, chunks, 300) == 300
        assert node.wait_finished(5)
        events = []
        while ev.poll(200):
            events.append(ev.recv()[1])
        node.stop()
    np.testing.assert_allclose(np.concatenate([c for _, c in chunks]), digital * 0.1, rtol=1e-9, atol=1e-9)
    events = np.concatenate(events)
    np.testing.assert_array_equal(events["index"], [50, 225])
    assert [bytes(d) for d in events["description"]] == [b"S  3", b"blink"]
