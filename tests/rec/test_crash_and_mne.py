"""A recording NodeGroup killed with SIGKILL stays readable; the MNE export keeps names, units and event onsets."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from rec_helpers import make_output, ramp, wait_until

from lslacq.core.stream.events import EVENT_DTYPE, make_events
from lslacq.rec import RawRecorder, read_recording

RATE = 1000.0
FLUSH = 0.2


@pytest.mark.slow
def test_kill_9_of_the_recording_nodegroup_loses_at_most_the_last_flush(tmp_path):
    from lslacq.core import create_manager

    dirname = tmp_path / "killed"
    buffer = np.arange(2000 * 3, dtype="float32").reshape(2000, 3)
    man = create_manager("rpc", auto_close_at_exit=False)
    try:
        ng = man.create_nodegroup("recording")
        dev = ng.create_node("NumpyDeviceBuffer", name="dev")
        dev.configure(nb_channel=3, sample_interval=1 / RATE, chunksize=20, buffer=buffer)
        dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
        dev.initialize()
        rec = ng.create_node("RawRecorder", name="rec")  # through the lslacq.nodes entry point
        rec.configure(streams={"eeg": dev.output}, dirname=str(dirname), flush_interval=FLUSH)
        rec.initialize()
        rec.start()
        dev.start()
        path = dirname / "eeg.raw"
        wait_until(lambda: path.stat().st_size >= 700 * 12, what="data on disk")
        received = rec.counters()["samples_in"]
        pid = ng._client()._import("os").getpid()
        os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: {d["name"]: d["state"] for d in man.list_nodegroups(details=True)}["recording"] == "dead",
            what="the nodegroup to be seen dead",
        )
    finally:
        man.close()

    recording = read_recording(dirname)
    stream = recording["eeg"]
    assert not recording.complete
    assert "killed or crashed" in stream.end_note and f"ends after {len(stream)} samples" in stream.end_note
    # at most one flush interval (plus a poll period and scheduling slack) of what had been received is missing
    assert len(stream) >= received - RATE * (FLUSH + 0.5), (len(stream), received)
    expected = np.tile(buffer, (len(stream) // len(buffer) + 1, 1))[: len(stream)]
    np.testing.assert_array_equal(stream.data, expected)
    assert stream.start_index == 0 and stream.partial_bytes == 0


@pytest.mark.slow
def test_to_mne_names_units_and_annotation_onsets_to_the_sample(tmp_path):
    mne = pytest.importorskip("mne")
    names = ["Fz", "Cz", "Pz", "EOG"]
    sig = make_output(
        "eeg",
        dtype="float32",
        shape=(-1, 4),
        sample_rate=250.0,
        channel_names=names,
        channel_units=["microvolts"] * 3 + ["mV"],
        channel_types=["EEG", "EEG", "EEG", "EOG"],
    )
    ev = make_output("events", streamtype="event", dtype=EVENT_DTYPE.descr, shape=(-1,), sample_rate=250.0)
    data = ramp(1000, (4,), "float32")
    events = make_events([120, 333, 801], type="Stimulus", description=["S  1", "S  2", "S  3"], duration=[0, 25, 0])
    rec = RawRecorder()
    rec.configure(streams={"eeg": sig, "markers": ev}, dirname=tmp_path / "r")
    rec.add_annotations(subject="S01")
    with sig, ev, rec:
        rec.initialize()
        rec.start()
        sig.send(data[:500], index=600)  # the stream was already running: the file starts at index 100
        ev.send(events)
        sig.send(data[500:], index=1100)
        wait_until(lambda: rec._files["eeg"].n_written == 1000 and rec._files["markers"].n_written == 3)
        rec.stop()
    recording = read_recording(tmp_path / "r")
    raw = recording.to_mne()["eeg"]
    assert raw.ch_names == names and raw.info["sfreq"] == 250.0
    assert raw.get_channel_types() == ["eeg", "eeg", "eeg", "eog"]
    assert raw.first_samp == 100
    # MNE stores volts
    np.testing.assert_allclose(raw.get_data()[:3], data[:, :3].T.astype(float) * 1e-6, rtol=1e-7)
    np.testing.assert_allclose(raw.get_data()[3], data[:, 3].astype(float) * 1e-3, rtol=1e-7)
    assert list(raw.annotations.description) == ["S  1", "S  2", "S  3"]
    np.testing.assert_allclose(raw.annotations.duration, [0, 0.1, 0])
    found, ids = mne.events_from_annotations(raw, verbose="error")
    np.testing.assert_array_equal(found[:, 0], [120, 333, 801])  # absolute sample numbers, as the events had
    assert '"subject": "S01"' in raw.info["description"]

    paths = recording.save_fif(tmp_path / "fif")
    assert [p.name for p in paths] == ["eeg_raw.fif"]
    back = mne.io.read_raw_fif(paths[0], preload=True, verbose="error")
    np.testing.assert_allclose(back.get_data(), raw.get_data(), rtol=1e-6)
    assert list(back.annotations.description) == ["S  1", "S  2", "S  3"]
    np.testing.assert_allclose(back.annotations.onset, raw.annotations.onset)


def test_the_blockwise_conversion_to_volts_equals_whole_array_numpy(monkeypatch):
    from lslacq.rec import _mne

    monkeypatch.setattr(_mne, "_BLOCK_BYTES", 8 * 3 * 7)  # blocks of 7 samples: 100 is not a multiple
    samples = ramp(100, (3,), "int16")
    factors = np.array([1e-6, 1.0, 1e-3])
    expected = ((samples.astype(np.float64) * 0.195 + 2.5) * factors).T
    got = _mne._to_volts(samples, 0.195, 2.5, factors)
    assert got.flags.c_contiguous and got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(_mne._to_volts(samples, None, None, np.ones(3)), samples.T.astype(np.float64))
