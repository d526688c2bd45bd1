"""`lslacq replay` -> the real LabRecorder engine -> pyxdf, and `lslacq record` of live LSL streams."""

from __future__ import annotations

import gc
import signal
import time
import uuid

import numpy as np
import pytest
from rec_helpers import finish as _finish
from rec_helpers import lslacq_cli as _lslacq
from rec_helpers import wait_line as _wait_line
from rec_helpers import wait_until

pylsl = pytest.importorskip("pylsl")
mne = pytest.importorskip("mne")

from lslacq.rec import read_recording  # noqa: E402

RATE = 250.0


# LabRecorder's stop() waits for its clock-offset thread, which sleeps 5 s after subscribing, then measures the
# offset: the outlets must outlive the Recording (a gone outlet makes that measurement wait its 2 s timeout)
@pytest.mark.slow
def test_replay_to_labrecorder_keeps_data_identical_and_markers_within_1ms(tmp_path):
    labrecorder = pytest.importorskip("labrecorder")
    pyxdf = pytest.importorskip("pyxdf")
    from lslacq_lsl import resolve_stream

    n = 500
    data = np.random.default_rng(5).standard_normal((2, n)) * 30e-6
    raw = mne.io.RawArray(data, mne.create_info(["C3", "C4"], RATE, "eeg"), verbose="error")
    marker_samples = [50, 200, 420]
    raw.set_annotations(mne.Annotations(np.array(marker_samples) / RATE, 0.0, ["S  1", "S  2", "S  3"]))
    fif = tmp_path / "session_raw.fif"
    raw.save(fif, fmt="double", verbose="error")
    name = f"replay-{uuid.uuid4().hex[:8]}"
    proc = _lslacq("replay", fif, "--name", name, "--speed", "2", "--wait-consumers", "30", "--linger", "60")
    xdf = tmp_path / "replayed.xdf"
    try:
        infos = [resolve_stream(name=x, timeout=20) for x in (name, f"{name}-Markers")]
        recording = labrecorder.Recording(str(xdf), infos)
        try:
            out = _wait_line(proc, "replay finished")
            time.sleep(1.5)  # LabRecorder pulls every ~0.5 s and has no "caught up" event; the outlets linger
        finally:
            recording.stop()
            del recording
            gc.collect()
        proc.send_signal(signal.SIGINT)  # the end of its linger: Ctrl-C
        rest, err = _finish(proc)
        out += rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "replay finished" in out

    streams = {s["info"]["name"][0]: s for s in pyxdf.load_xdf(str(xdf))[0]}
    eeg, markers = streams[name], streams[f"{name}-Markers"]
    assert eeg["info"]["channel_format"][0] == "double64"
    assert [c["label"][0] for c in eeg["info"]["desc"][0]["channels"][0]["channel"]] == ["C3", "C4"]
    np.testing.assert_array_equal(eeg["time_series"], data.T * 1e6)  # µV, bit for bit
    # original spacing (1/250 s) although played at twice the speed
    np.testing.assert_allclose(np.diff(eeg["time_stamps"]), 1 / RATE, atol=1e-6)
    assert [row[0] for row in markers["time_series"]] == ["S  1", "S  2", "S  3"]
    np.testing.assert_allclose(markers["time_stamps"], eeg["time_stamps"][marker_samples], atol=1e-3, rtol=0)


@pytest.mark.slow  # a subprocess importing pylsl and numpy, LSL discovery, 1 s of progress lines
def test_record_lsl_streams_until_ctrl_c(tmp_path):
    tag = uuid.uuid4().hex[:8]
    info = pylsl.StreamInfo(f"rec-eeg-{tag}", "EEG", 4, RATE, "float32", f"eeg-{tag}")
    chans = info.desc().append_child("channels")
    for label in ("Fp1", "Fp2", "O1", "O2"):
        ch = chans.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", "microvolts")
        ch.append_child_value("type", "EEG")
    minfo = pylsl.StreamInfo(f"rec-markers-{tag}", "Markers", 1, pylsl.IRREGULAR_RATE, "string", f"mk-{tag}")
    eeg, markers = pylsl.StreamOutlet(info), pylsl.StreamOutlet(minfo)
    dirname = tmp_path / "lsl_rec"
    proc = _lslacq(
        "record",
        "--lsl",
        f"rec-eeg-{tag}",
        f"rec-markers-{tag}",
        "-o",
        dirname,
        "--flush-interval",
        "0.1",
        "--timeout",
        "20",
    )
    try:
        head = _wait_line(proc, "(Ctrl-C to stop)")  # printed once the inlets are started (subscribed)
        assert eeg.wait_for_consumers(10) and markers.wait_for_consumers(10)
        n = 300
        values = np.arange(n * 4, dtype="float32").reshape(n, 4)
        stamps = pylsl.local_clock() + np.arange(n) / RATE
        for i in range(0, n, 25):
            eeg.push_chunk(values[i : i + 25], stamps[i : i + 25].tolist())
        path = dirname / f"rec-eeg-{tag}.raw"
        wait_until(lambda: path.exists() and path.stat().st_size == n * 16, what="every sample on disk")
        # after the EEG: the marker inlet maps a marker to a sample once its reference inlet has data
        markers.push_sample(["S  7"], float(stamps[110]))
        wait_until(lambda: (dirname / f"rec-markers-{tag}.raw").stat().st_size == 72, what="the marker on disk")
        time.sleep(1.2)  # at least one progress line
        proc.send_signal(signal.SIGINT)
        out, err = _finish(proc, 30)
        out = head + out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        del eeg, markers
        gc.collect()
    assert proc.returncode == 0, err
    assert f"rec-eeg-{tag}: 300 samples, 0 drops" in out and " MB" in out and "recording finished" in out

    recording = read_recording(dirname)
    assert recording.complete, recording.end_note
    sig = recording[f"rec-eeg-{tag}"]
    np.testing.assert_array_equal(sig.data, values)
    assert sig.channel_names == ["Fp1", "Fp2", "O1", "O2"] and sig.sample_rate == RATE
    np.testing.assert_allclose(recording[f"rec-eeg-{tag}_timestamps"].data, stamps, atol=2e-3)
    events = recording[f"rec-markers-{tag}"].data
    assert [bytes(d) for d in events["description"]] == [b"S  7"]
    np.testing.assert_array_equal(events["index"], [110])
    raws = recording.to_mne()
    assert list(raws) == [f"rec-eeg-{tag}"]  # the timestamps streams are not signals
    raw = raws[f"rec-eeg-{tag}"]
    assert list(raw.annotations.description) == ["S  7"]
    np.testing.assert_array_equal(mne.events_from_annotations(raw, verbose="error")[0][:, 0], [110])
