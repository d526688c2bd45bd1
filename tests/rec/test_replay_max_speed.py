"""FileReplay(speed='max'): offline evaluation at the speed of the graph, losslessly (issue 22)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from rec_helpers import wait_until

from lslacq.rec import FileReplay, RawRecorder, read_recording

mne = pytest.importorskip("mne")

RATE, N_CHAN, MINUTES = 1000.0, 16, 10


def _write_fif(path, n: int) -> np.ndarray:
    # every value tells its sample and channel, so a lost, repeated or reordered sample shows
    data = (np.arange(n, dtype=np.float64)[None, :] * 100 + np.arange(N_CHAN)[:, None]) * 1e-3
    info = mne.create_info([f"ch{k}" for k in range(N_CHAN)], RATE, ["misc"] * N_CHAN)
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.set_annotations(mne.Annotations([1.0, 300.0, 599.5], [0.0, 0.0, 0.0], ["start", "middle", "end"]))
    raw.save(path, fmt="double", verbose="error")
    return data


@pytest.mark.slow
def test_ten_minutes_of_eeg_replayed_at_max_speed_are_recorded_whole_in_seconds(tmp_path):
    n = int(MINUTES * 60 * RATE)
    path = tmp_path / "long_raw.fif"
    data = _write_fif(path, n)
    replay = FileReplay(name="replay")
    replay.configure(filename=path, speed="max")
    assert not replay.live_source
    replay.outputs["signals"].configure(protocol="inproc")
    replay.outputs["events"].configure(protocol="inproc")
    assert replay.outputs["signals"].params.on_full == "wait"  # lossless by back-pressure
    rec = RawRecorder(name="rec")
    rec.configure(
        streams={"eeg": replay.outputs["signals"], "events": replay.outputs["events"]}, dirname=tmp_path / "rec"
    )
    with replay, rec:
        replay.initialize()
        rec.initialize()
        rec.start()
        t0 = time.monotonic()
        replay.start()
        assert replay.wait_finished(120), "the replay did not finish within 2 minutes"
        wait_until(
            lambda: rec._files["eeg"].n_written == n and rec._files["events"].n_written == 3,
            60,
            what="the recorder to write every sample",
        )
        elapsed = time.monotonic() - t0
        rec.stop()
        replay.stop()
        assert replay.error is None and rec.error is None
    # ten minutes of data in seconds, not in ten minutes
    assert elapsed < 60, elapsed
    recording = read_recording(tmp_path / "rec")
    stream = recording["eeg"]
    assert len(stream) == n and stream.start_index == 0
    np.testing.assert_array_equal(stream.data, data.T)  # every sample, in order, none repeated
    events = recording["events"].data
    np.testing.assert_array_equal(events["index"], [1000, 300_000, 599_500])  # the sample of real time
    assert [bytes(d) for d in events["description"]] == [b"start", b"middle", b"end"]


def test_speed_must_be_a_positive_number_or_max(tmp_path):
    replay = FileReplay(name="r")
    with pytest.raises(ValueError, match="speed must be a number > 0.*or 'max'"):
        replay.configure(filename=tmp_path / "whatever.fif", speed="fast")


@pytest.mark.slow
def test_xdf_replayed_at_max_speed_keeps_every_sample_and_marker_at_its_sample(tmp_path):
    pytest.importorskip("pyxdf")
    from lslacq.core.stream import InputStream
    from lslacq.rec import XdfReplay
    from lslacq.rec.xdf_format import stream_info_xml
    from lslacq.rec.xdf_writer import XdfWriter

    n, rate = 120_000, 1000.0  # two minutes
    values = (np.arange(n * 4, dtype=np.float32) % 100_000).reshape(n, 4)
    stamps = 1000.0 + np.arange(n) / rate
    marker_samples = [500, 60_000, 119_000]
    path = tmp_path / "session.xdf"
    writer = XdfWriter(path)
    try:
        eeg = writer.add_stream(stream_info_xml("EEG", "EEG", 4, rate, "float32", "eeg-1"), "float32", 4, "EEG")
        mk = writer.add_stream(stream_info_xml("Markers", "Markers", 1, 0.0, "string", "mk-1"), "string", 1, "Markers")
        for i in range(0, n, 1000):
            writer.add_samples(eeg, values[i : i + 1000], stamps[i : i + 1000])
        writer.add_samples(mk, [[f"m{k}"] for k in range(3)], stamps[marker_samples])
    finally:
        writer.close()
    replay = XdfReplay(name="xdf")
    replay.configure(filename=path, speed="max")
    assert not replay.live_source
    for out in replay.outputs.values():
        out.configure(protocol="inproc")
    sig, ev = InputStream(), InputStream()
    with replay, sig, ev:
        sig.connect(replay.outputs["EEG"])
        ev.connect(replay.outputs["Markers"])
        replay.initialize()
        t0 = time.monotonic()
        replay.start()
        chunks, markers = [], []
        deadline = time.monotonic() + 60
        while (sum(len(c) for c in chunks) < n or len(markers) < 3) and time.monotonic() < deadline:
            if sig.poll(10):
                chunks.append(np.array(sig.recv()[1]))
            while ev.poll(0):
                markers.append(ev.recv()[1])
        elapsed = time.monotonic() - t0
        assert replay.wait_finished(10)
        replay.stop()
    got = np.concatenate(chunks)
    np.testing.assert_array_equal(got, values)  # every sample, in order, though the reader is in this thread
    assert sig.lost_samples == 0
    events = np.concatenate(markers)
    np.testing.assert_array_equal(events["index"], marker_samples)
    assert elapsed < 30, elapsed  # two minutes of data, not in two minutes
