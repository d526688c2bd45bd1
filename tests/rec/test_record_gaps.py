"""A source that stops and comes back while `lslacq record --lsl` runs: a gap in the record, markers on its axis."""

from __future__ import annotations

import gc
import signal
import uuid

import numpy as np
import pytest
from rec_helpers import finish, lslacq_cli, make_output, stop_process, wait_line, wait_until

from lslacq.core.stream.events import EVENT_DTYPE, make_events
from lslacq.rec import RawRecorder, read_recording

RATE = 250.0


def test_to_mne_leaves_a_gap_in_the_indexes_as_zeros_annotated_bad_acq_skip(tmp_path):
    mne = pytest.importorskip("mne")
    sig = make_output("eeg", dtype="float32", shape=(-1, 2), sample_rate=RATE, channel_units=["microvolts"] * 2)
    ev = make_output("events", streamtype="event", dtype=EVENT_DTYPE.descr, shape=(-1,), sample_rate=RATE)
    rec = RawRecorder()
    rec.configure(streams={"eeg": sig, "markers": ev}, dirname=tmp_path / "r")
    data = np.arange(1, 301, dtype="float32").repeat(2).reshape(300, 2)
    with sig, ev, rec:
        rec.initialize()
        rec.start()
        sig.send(data[:100], index=110)  # indexes 10..109
        sig.send(data[100:], index=310 + 200)  # 310..509: 200 samples never arrived
        ev.send(make_events([50, 350], description=["before", "after"]))
        wait_until(lambda: rec._files["eeg"].n_written == 300 and rec._files["markers"].n_written == 2)
        rec.stop()
    recording = read_recording(tmp_path / "r")
    assert recording["eeg"].properties["discontinuities"] == [[0, 10], [100, 310]]
    raw = recording.to_mne()["eeg"]
    assert raw.first_samp == 10 and raw.n_times == 500  # the time axis keeps the 200 missing samples
    values = raw.get_data()[0] * 1e6
    np.testing.assert_allclose(values[:100], data[:100, 0], rtol=1e-6)
    np.testing.assert_array_equal(values[100:300], 0.0)
    np.testing.assert_allclose(values[300:], data[100:, 0], rtol=1e-6)
    ann = raw.annotations
    skip = [i for i, d in enumerate(ann.description) if d == "BAD_ACQ_SKIP"]
    assert len(skip) == 1
    np.testing.assert_allclose(ann.onset[skip[0]] - raw.first_time, 100 / RATE)
    np.testing.assert_allclose(ann.duration[skip[0]], 200 / RATE)
    events, ids = mne.events_from_annotations(raw, event_id={"before": 1, "after": 2}, verbose="error")
    np.testing.assert_array_equal(events[:, 0], [50, 350])  # the stream's own indexes, gap included
    # MNE's tools skip the gap: reject_by_annotation drops exactly the missing samples
    assert raw.get_data(reject_by_annotation="omit").shape[1] == 300


def test_to_mne_puts_runs_of_a_source_restarted_from_index_0_end_to_end(tmp_path):
    pytest.importorskip("mne")
    sig = make_output("eeg", dtype="float32", shape=(-1, 1), sample_rate=RATE)
    rec = RawRecorder()
    rec.configure(streams={"eeg": sig}, dirname=tmp_path / "r")
    with sig, rec:
        rec.initialize()
        rec.start()
        sig.send(np.ones((100, 1), "float32"), index=100)
        sig.send(np.full((50, 1), 2, "float32"), index=50)  # the source restarted: indexes go back
        wait_until(lambda: rec._files["eeg"].n_written == 150)
        rec.stop()
    raw = read_recording(tmp_path / "r").to_mne()["eeg"]
    assert raw.n_times == 150
    assert sorted(set(raw.annotations.description)) == ["BAD boundary", "EDGE boundary"]
    np.testing.assert_allclose(raw.annotations.onset - raw.first_time, [100 / RATE] * 2)


def _outlets(tag: str):
    pylsl = pytest.importorskip("pylsl")
    info = pylsl.StreamInfo(f"gap-eeg-{tag}", "EEG", 2, RATE, "float32", f"gap-eeg-{tag}")
    minfo = pylsl.StreamInfo(f"gap-markers-{tag}", "Markers", 1, pylsl.IRREGULAR_RATE, "string", f"gap-mk-{tag}")
    return pylsl.StreamOutlet(info), pylsl.StreamOutlet(minfo)


@pytest.mark.slow  # a recording subprocess, an LSL outlet going away and liblsl reconnecting to its successor
def test_a_restarted_lsl_source_is_a_gap_in_the_record_and_markers_keep_their_samples(tmp_path):
    pylsl = pytest.importorskip("pylsl")
    mne = pytest.importorskip("mne")
    tag = uuid.uuid4().hex[:8]
    gap = 750  # samples (3 s) the source did not send while it was away
    eeg, markers = _outlets(tag)
    dirname = tmp_path / "rec"
    proc = lslacq_cli(
        "record",
        "--lsl",
        f"gap-eeg-{tag}",
        f"gap-markers-{tag}",
        "-o",
        dirname,
        "--flush-interval",
        "0.1",
        "--timeout",
        "20",
    )
    eeg_file, marker_file = dirname / f"gap-eeg-{tag}.raw", dirname / f"gap-markers-{tag}.raw"
    t0 = pylsl.local_clock()

    def push(outlet, first: int, n: int) -> None:  # sample k has the values (k, -k) and the LSL time t0 + k / RATE
        k = np.arange(first, first + n)
        outlet.push_chunk(np.stack([k, -k], axis=1).astype("float32"), (t0 + k / RATE).tolist())

    try:
        out = wait_line(proc, "(Ctrl-C to stop)")
        assert eeg.wait_for_consumers(10) and markers.wait_for_consumers(10)
        push(eeg, 0, 200)
        wait_until(lambda: eeg_file.exists() and eeg_file.stat().st_size == 200 * 8, what="the first 200 samples")
        markers.push_sample(["before"], t0 + 150 / RATE)
        wait_until(lambda: marker_file.stat().st_size == 72, what="the first marker on disk")
        del eeg, markers  # the source stops...
        gc.collect()
        eeg, markers = _outlets(tag)  # ...and comes back with the same source_ids: liblsl reconnects
        assert eeg.wait_for_consumers(60) and markers.wait_for_consumers(60)
        resume = 200 + gap
        # the first marker after the restart arrives before any EEG of the restarted source
        markers.push_sample(["after"], t0 + (resume + 40) / RATE)
        wait_until(lambda: marker_file.stat().st_size == 2 * 72, what="the second marker on disk")
        push(eeg, resume, 200)
        markers.push_sample(["later"], t0 + (resume + 150) / RATE)
        wait_until(
            lambda: eeg_file.stat().st_size == 400 * 8 and marker_file.stat().st_size == 3 * 72,
            what="every sample and marker on disk",
        )
        proc.send_signal(signal.SIGINT)
        rest, err = finish(proc, 30)
        out += rest
    finally:
        stop_process(proc)
        del eeg, markers
        gc.collect()
    assert proc.returncode == 0, err
    last = [line for line in out.splitlines() if line.startswith("[")][-1]
    assert f"gap-eeg-{tag}: 400 samples, {gap} drops" in last, last

    recording = read_recording(dirname)
    signal_stream = recording[f"gap-eeg-{tag}"]
    sent = signal_stream.data[:, 0].astype(np.int64)  # the k each recorded sample was sent as
    np.testing.assert_array_equal(sent, np.r_[0:200, resume : resume + 200])
    np.testing.assert_array_equal(signal_stream.indexes, sent)  # a gap in the source is a gap in the record
    assert signal_stream.properties["discontinuities"] == [[0, 0], [200, resume]]
    np.testing.assert_array_equal(recording[f"gap-eeg-{tag}_timestamps"].indexes, sent)
    events = recording[f"gap-markers-{tag}"].data
    assert [bytes(d) for d in events["description"]] == [b"before", b"after", b"later"]
    np.testing.assert_array_equal(events["index"], [150, resume + 40, resume + 150])  # in order, on the EEG axis

    raw = recording.to_mne()[f"gap-eeg-{tag}"]
    assert raw.n_times == resume + 200
    ann = raw.annotations
    skip = list(ann.description).index("BAD_ACQ_SKIP")
    np.testing.assert_allclose([ann.onset[skip] - raw.first_time, ann.duration[skip]], [200 / RATE, gap / RATE])
    found, _ = mne.events_from_annotations(raw, event_id={"before": 1, "after": 2, "later": 3}, verbose="error")
    np.testing.assert_array_equal(found[:, 0], [150, resume + 40, resume + 150])
    np.testing.assert_allclose(raw.get_data()[0, found[:, 0]], [150, resume + 40, resume + 150])


@pytest.mark.slow  # a recording subprocess, an LSL outlet going away and liblsl reconnecting to its successor
def test_a_restarted_lsl_source_is_a_gap_in_an_xdf_record_and_markers_keep_their_times(tmp_path):
    pylsl = pytest.importorskip("pylsl")
    pyxdf = pytest.importorskip("pyxdf")
    tag = uuid.uuid4().hex[:8]
    gap = 750  # samples (3 s) the source did not send while it was away
    eeg_name, mk_name = f"gap-eeg-{tag}", f"gap-markers-{tag}"
    eeg, markers = _outlets(tag)
    path = tmp_path / "gap.xdf"
    proc = lslacq_cli("record", "--lsl", eeg_name, mk_name, "-o", path, "--timeout", "20")
    t0 = pylsl.local_clock()

    def push(outlet, first: int, n: int) -> None:  # sample k has the values (k, -k) and the LSL time t0 + k / RATE
        k = np.arange(first, first + n)
        outlet.push_chunk(np.stack([k, -k], axis=1).astype("float32"), (t0 + k / RATE).tolist())

    resume = 200 + gap
    try:
        wait_line(proc, "(Ctrl-C to stop)")
        assert eeg.wait_for_consumers(10) and markers.wait_for_consumers(10)
        push(eeg, 0, 200)
        markers.push_sample(["before"], t0 + 150 / RATE)
        wait_line(proc, f"{eeg_name}: 200 samples | {mk_name}: 1 markers")
        del eeg, markers  # the source stops...
        gc.collect()
        eeg, markers = _outlets(tag)  # ...and comes back with the same source_ids: liblsl reconnects
        assert eeg.wait_for_consumers(60) and markers.wait_for_consumers(60)
        markers.push_sample(["after"], t0 + (resume + 40) / RATE)  # before any EEG of the restarted source
        push(eeg, resume, 200)
        markers.push_sample(["later"], t0 + (resume + 150) / RATE)
        wait_line(proc, f"{eeg_name}: 400 samples | {mk_name}: 3 markers")
        proc.send_signal(signal.SIGINT)
        _, err = finish(proc, 30)
    finally:
        stop_process(proc)
        del eeg, markers
        gc.collect()
    assert proc.returncode == 0, err
    streams = {
        s["info"]["name"][0]: s
        for s in pyxdf.load_xdf(str(path), synchronize_clocks=False, dejitter_timestamps=False)[0]
    }
    sent = np.r_[0:200, resume : resume + 200]
    signal_stream, marker_stream = streams[eeg_name], streams[mk_name]
    np.testing.assert_array_equal(signal_stream["time_series"][:, 0], sent)  # every sample, no splice
    np.testing.assert_array_equal(signal_stream["time_stamps"], t0 + sent / RATE)  # the gap is in the times
    assert [row[0] for row in marker_stream["time_series"]] == ["before", "after", "later"]  # in order
    np.testing.assert_array_equal(marker_stream["time_stamps"], t0 + np.array([150, resume + 40, resume + 150]) / RATE)
    # pyxdf's default loading (clock offsets, dejitter) keeps the gap: dejitter breaks segments at it
    synced = {s["info"]["name"][0]: s for s in pyxdf.load_xdf(str(path))[0]}[eeg_name]["time_stamps"]
    assert np.diff(synced).max() == pytest.approx((gap + 1) / RATE, abs=2e-3)
