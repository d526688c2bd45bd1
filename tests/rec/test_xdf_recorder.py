"""The native XDF writer and XdfRecorder: pyxdf round trips, crash safety, check and repair."""

from __future__ import annotations

import errno
import os
import re
import threading

import numpy as np
import pytest
from rec_helpers import make_output, ramp, wait_until

from lslacq.core.pacing import PacedLoop
from lslacq.core.stream.events import EVENT_DTYPE, make_events
from lslacq.rec import DiskFullError
from lslacq.rec.xdf_check import repair_xdf, scan_xdf
from lslacq.rec.xdf_format import channel_format_of, samples_chunk, stream_info_xml
from lslacq.rec.xdf_writer import XdfWriter
from lslacq.rec.xdfrecorder import XdfRecorder

pyxdf = pytest.importorskip("pyxdf")

# every sample dtype lslacq's devices produce (uint8/uint16 are widened to int16/int32: XDF has no unsigned types)
DTYPES = {
    "float32": "float32",
    "float64": "double64",
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint8": "int16",
    "uint16": "int32",
}


def _load(path, **kwargs) -> dict:
    streams, header = pyxdf.load_xdf(str(path), **kwargs)
    return {s["info"]["name"][0]: s for s in streams}


def _channels(stream) -> list[tuple[str, str, str]]:
    return [(c["label"][0], c["unit"][0], c["type"][0]) for c in stream["info"]["desc"][0]["channels"][0]["channel"]]


def test_writer_round_trips_every_device_dtype_and_string_markers_through_pyxdf(tmp_path):
    path = tmp_path / "all.xdf"
    sent = {}
    with XdfWriter(path) as writer:
        for dtype, fmt in DTYPES.items():
            assert channel_format_of(dtype) == fmt
            sid = writer.add_stream(
                stream_info_xml(
                    f"s-{dtype}",
                    "EEG",
                    3,
                    250.0,
                    fmt,
                    f"id-{dtype}",
                    ["Fz", "Cz", "Pz"],
                    ["microvolts"] * 3,
                    ["EEG"] * 3,
                    "acme",
                ),
                fmt,
                3,
                name=dtype,
            )
            values = ramp(100, (3,), dtype)
            if np.dtype(dtype).kind in "iu":  # the type's extremes survive too
                info = np.iinfo(dtype)
                values[0] = [info.min, info.max, 0]
            stamps = 1000.0 + np.arange(100) / 250.0
            writer.add_samples(sid, values[:60], stamps[:60])
            writer.add_samples(sid, values[60:], stamps[60:])
            sent[dtype] = (values, stamps)
        mk = writer.add_stream(stream_info_xml("markers", "Markers", 1, 0.0, "string", "mk"), "string", 1)
        labels = ["S  1", "stim/left", "naïve ünïcode", "", "x" * 300]
        writer.add_samples(mk, [[x] for x in labels], [1000.1, 1000.2, 1000.2, 1000.3, 1000.35])
        writer.add_clock_offset(mk, 1000.0, 0.0)
        writer.add_boundary()

    streams = _load(path, synchronize_clocks=False, dejitter_timestamps=False)
    for dtype, fmt in DTYPES.items():
        s = streams[f"s-{dtype}"]
        values, stamps = sent[dtype]
        assert s["info"]["channel_format"][0] == fmt
        assert s["time_series"].dtype == np.dtype(fmt.replace("double64", "float64"))
        np.testing.assert_array_equal(s["time_series"], values)
        np.testing.assert_array_equal(s["time_stamps"], stamps)
        assert _channels(s) == [("Fz", "microvolts", "EEG"), ("Cz", "microvolts", "EEG"), ("Pz", "microvolts", "EEG")]
        assert s["info"]["desc"][0]["acquisition"][0]["manufacturer"][0] == "acme"
        assert s["info"]["source_id"][0] == f"id-{dtype}" and float(s["info"]["nominal_srate"][0]) == 250.0
        assert s["footer"]["info"]["sample_count"][0] == "100"
    assert [row[0] for row in streams["markers"]["time_series"]] == labels
    np.testing.assert_array_equal(streams["markers"]["time_stamps"], [1000.1, 1000.2, 1000.2, 1000.3, 1000.35])
    scan = scan_xdf(path)
    assert (
        scan.complete
        and scan.n_boundaries == 1
        and [s.sample_count for s in scan.streams.values()] == [100] * len(DTYPES) + [5]
    )


def test_writer_never_overwrites_and_refuses_dtypes_xdf_cannot_carry(tmp_path):
    path = tmp_path / "a.xdf"
    XdfWriter(path).close()
    with pytest.raises(FileExistsError, match="never overwrites"):
        XdfWriter(path)
    with pytest.raises(TypeError, match="no channel format for dtype complex128"):
        channel_format_of("complex128")


def test_string_samples_without_one_timestamp_each_are_refused_by_name_and_nothing_is_written(tmp_path):
    path = tmp_path / "markers.xdf"
    with XdfWriter(path) as writer:
        mk = writer.add_stream(stream_info_xml("mk", "Markers", 1, 0.0, "string", "mk"), "string", 1)
        with pytest.raises(ValueError, match=r"XDF string stream 1: 2 samples but 3 timestamps; give one timestamp"):
            writer.add_samples(mk, [["a"], ["b"]], [1.0, 2.0, 3.0])
        writer.add_samples(mk, (s for s in [["c"], ["d"]]), [4.0, 5.0])  # any iterable of samples
    streams = _load(path)
    assert [row[0] for row in streams["mk"]["time_series"]] == ["c", "d"]
    np.testing.assert_array_equal(streams["mk"]["time_stamps"], [4.0, 5.0])


def _graph_recording(tmp_path, rate=500.0):
    sig = make_output(
        "eeg",
        dtype="float32",
        shape=(-1, 2),
        sample_rate=rate,
        channel_names=["C3", "C4"],
        channel_units=["microvolts"] * 2,
        channel_types=["EEG"] * 2,
        manufacturer="lslacq-tests",
    )
    ev = make_output("events", streamtype="event", dtype=EVENT_DTYPE.descr, shape=(-1,), sample_rate=rate)
    rec = XdfRecorder(name="xdfrec")
    rec.configure(streams={"eeg": sig, "markers": ev}, filename=tmp_path / "graph.xdf", flush_interval=0.2)
    return sig, ev, rec


def test_xdf_recorder_stamps_samples_from_their_indexes_and_events_at_their_samples(tmp_path):
    rate = 500.0
    sig, ev, rec = _graph_recording(tmp_path, rate)
    data = ramp(900, (2,), "float32")
    with sig, ev, rec:
        rec.initialize()
        rec.start()
        sig.send(data[:400], index=400)
        sig.send(data[400:], index=400 + 100 + 500)  # 100 samples lost upstream: a gap in the timestamps
        ev.send(make_events([120, 650], description=["S  1", "stim/left"]))
        wait_until(lambda: rec.counters()["samples_written"] == 902, what="every sample queued")
        rec.stop()
        assert rec.error is None
    streams = _load(tmp_path / "graph.xdf", synchronize_clocks=False, dejitter_timestamps=False)
    eeg, markers = streams["eeg"], streams["markers"]
    np.testing.assert_array_equal(eeg["time_series"], data)
    ts = eeg["time_stamps"]
    np.testing.assert_allclose(np.diff(ts[:400]), 1 / rate, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ts[400] - ts[399], 101 / rate, rtol=0, atol=1e-9)
    assert _channels(eeg) == [("C3", "microvolts", "EEG"), ("C4", "microvolts", "EEG")]
    assert eeg["info"]["type"][0] == "EEG" and eeg["info"]["channel_format"][0] == "float32"
    assert eeg["info"]["desc"][0]["acquisition"][0]["manufacturer"][0] == "lslacq-tests"
    assert [row[0] for row in markers["time_series"]] == ["S  1", "stim/left"]  # kept exactly
    assert markers["info"]["type"][0] == "Markers" and markers["info"]["channel_format"][0] == "string"
    # index 120 is file sample 120; index 650 is file sample 650 - 100 (after the gap)
    np.testing.assert_allclose(markers["time_stamps"], ts[[120, 550]], rtol=0, atol=1e-9)
    assert len(eeg["clock_times"]) >= 1 and eeg["clock_values"][0] == 0.0  # one clock: offsets of 0
    assert eeg["footer"]["info"]["sample_count"][0] == "900"


def test_xdf_recorder_reads_in_batches_and_stop_records_what_was_waiting(tmp_path):
    sig, ev, rec = _graph_recording(tmp_path)
    rec.receive_interval = 30.0  # asleep: only stop() can receive what was sent
    data = ramp(1000, (2,), "float32")
    with sig, ev, rec:
        rec.initialize()
        rec.start()
        ev.send(make_events([5], description=["first"]))
        for i in range(0, 1000, 10):  # 100 chunks wait in the input while the recorder sleeps
            sig.send(data[i : i + 10])
        ev.send(make_events([500], description=["late"]))
        assert rec.counters()["samples_written"] == 0  # no wake-up per chunk
        rec.stop()
    streams = _load(tmp_path / "graph.xdf", synchronize_clocks=False, dejitter_timestamps=False)
    np.testing.assert_array_equal(streams["eeg"]["time_series"], data)
    assert [row[0] for row in streams["markers"]["time_series"]] == ["first", "late"]


def test_writer_hands_many_chunks_to_short_writes_in_order(tmp_path, monkeypatch):
    path = tmp_path / "short.xdf"
    writer = XdfWriter(path)
    sid = writer.add_stream(stream_info_xml("eeg", "EEG", 3, 100.0, "int32"), "int32", 3)
    data = ramp(3000, (3,), "int32")
    for i in range(0, 3000, 2):  # 1500 chunks: more than one writev takes (IOV_MAX 1024)
        writer.add_samples(sid, data[i : i + 2], np.arange(i, i + 2) / 100.0)
    real_writev, calls = os.writev, []

    def short_writev(fd, buffers):  # a disk that takes at most 1000 bytes, often in the middle of a buffer
        calls.append(len(buffers))
        return real_writev(fd, [bytes(b"".join(bytes(b) for b in buffers[:20])[:1000])])

    monkeypatch.setattr(os, "writev", short_writev)
    writer.flush()
    monkeypatch.undo()
    assert max(calls) <= 1024 and len(calls) > 50
    writer.close()
    stream = _load(path, synchronize_clocks=False, dejitter_timestamps=False)["eeg"]
    np.testing.assert_array_equal(stream["time_series"], data)


def test_xdf_recorder_is_a_registered_node_type(tmp_path):
    from lslacq.core.registry import get_node_type

    assert get_node_type("XdfRecorder") is XdfRecorder
    rec = XdfRecorder()
    with pytest.raises(ValueError, match="filename"):
        rec.configure(streams={"a": make_output("a", dtype="float32", shape=(-1, 1), sample_rate=10.0)})
    video = make_output("cam", dtype="uint8", shape=(-1, 4, 4, 3), sample_rate=30.0)
    rec.configure(streams={"cam": video}, filename=tmp_path / "v.xdf")
    with pytest.raises(ValueError, match="AviRecorder"):
        rec.initialize()
    video.close()


def test_a_file_whose_writer_was_killed_loads_as_it_is_and_repair_adds_the_footers(tmp_path):
    path = tmp_path / "killed.xdf"
    writer = XdfWriter(path)
    sid = writer.add_stream(stream_info_xml("eeg", "EEG", 2, 100.0, "float32"), "float32", 2)
    mk = writer.add_stream(stream_info_xml("mk", "Markers", 1, 0.0, "string"), "string", 1)
    writer.add_samples(sid, ramp(300, (2,), "float32"), 5.0 + np.arange(300) / 100)
    writer.add_samples(mk, [["a"]], [6.0])
    writer.flush()
    writer.add_samples(sid, ramp(50, (2,), "float32", start=300), 8.0 + np.arange(50) / 100)  # never flushed
    os.close(writer._fd)  # what a kill leaves: the file as of the last flush, no footers

    streams = _load(path)  # loads as it is
    np.testing.assert_array_equal(streams["eeg"]["time_series"], ramp(300, (2,), "float32"))
    assert "footer" not in streams["eeg"]
    scan = scan_xdf(path)
    assert not scan.complete and scan.torn_bytes == 0 and scan.streams[1].sample_count == 300
    assert "NO footer" in scan.report() and "did not close the file" in scan.report()

    with open(path, "ab") as f:  # a torn chunk (e.g. a power cut during a write): pyxdf alone may not cope
        f.write(b"\x04\xff\x00\x00\x00\x03\x00")
    scan = scan_xdf(path)
    assert scan.torn_bytes == 7 and "incomplete chunk" in scan.report()
    done = repair_xdf(path)
    assert "cut 7 bytes" in done[0] and "'eeg' (300 samples)" in done[1]
    assert (tmp_path / "killed.xdf.tail").read_bytes() == b"\x04\xff\x00\x00\x00\x03\x00"
    assert scan_xdf(path).complete and repair_xdf(path) == []
    streams = _load(path)
    footer = streams["eeg"]["footer"]["info"]
    assert footer["sample_count"] == ["300"] and float(footer["last_timestamp"][0]) == pytest.approx(5.0 + 2.99)
    assert [row[0] for row in streams["mk"]["time_series"]] == ["a"]


def test_writer_tick_adds_a_boundary_when_due_and_reuses_its_buffers(tmp_path):
    path = tmp_path / "tick.xdf"
    ticks = []
    writer = XdfWriter(path, boundary_interval=0.0)  # a Boundary at every tick
    writer._on_tick = lambda: ticks.append(1)
    sid = writer.add_stream(stream_info_xml("eeg", "EEG", 2, 100.0, "float32"), "float32", 2)
    data = ramp(30, (2,), "float32")
    buffers = set()
    for k in range(3):
        # a chunk built from two pieces (consecutive graph chunks) is one XDF chunk, copied in once
        writer.add_samples(sid, [data[10 * k : 10 * k + 4], data[10 * k + 4 : 10 * k + 10]], np.arange(10.0) + 10 * k)
        writer.tick()
        buffers.add(frozenset((id(writer._pending.buf), id(writer._spare.buf))))
    writer.close()
    assert ticks == [1, 1, 1]
    assert len(buffers) == 1  # the same two buffers every flush: no fresh memory per chunk
    scan = scan_xdf(path)
    assert scan.complete and scan.n_boundaries == 3 and scan.streams[1].sample_count == 30
    eeg = _load(path, synchronize_clocks=False, dejitter_timestamps=False)["eeg"]
    np.testing.assert_array_equal(eeg["time_series"], data)
    np.testing.assert_array_equal(eeg["time_stamps"], np.arange(30.0))


def test_the_writers_flusher_thread_writes_what_was_queued_and_calls_on_tick(tmp_path):
    path = tmp_path / "flusher.xdf"
    ticks = []
    writer = XdfWriter(path, flush_interval=0.05)
    sid = writer.add_stream(stream_info_xml("eeg", "EEG", 2, 100.0, "float32"), "float32", 2)
    writer.start_flusher(on_tick=lambda: ticks.append(1))
    try:
        writer.add_samples(sid, ramp(10, (2,), "float32"), np.arange(10.0))
        wait_until(lambda: scan_xdf(path).streams[1].sample_count == 10, timeout=5, what="the samples on disk")
    finally:
        writer.close()
    assert ticks and scan_xdf(path).complete


def test_a_full_disk_is_a_clear_error_and_leaves_whole_chunks(tmp_path, monkeypatch):
    path = tmp_path / "full.xdf"
    writer = XdfWriter(path)
    with pytest.raises(ValueError, match="'float64' of eeg is not an XDF format"):
        writer.add_stream(b"", "float64", 1, name="eeg")
    sid = writer.add_stream(stream_info_xml("eeg", "EEG", 1, 100.0, "double64"), "double64", 1)
    writer.add_samples(sid, np.arange(10.0), np.arange(10.0))
    writer.flush()
    good = path.stat().st_size
    real_writev = os.writev
    whole = len(samples_chunk(sid, np.arange(10.0), np.arange(10.0, 20.0), "double64"))

    def short_then_full(fd, buffers):  # the disk takes a chunk and part of the next, then is full
        if fd == writer._fd:
            if not getattr(short_then_full, "done", False):
                short_then_full.done = True
                return real_writev(fd, [bytes(b"".join(bytes(b) for b in buffers)[: whole + 5])])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_writev(fd, buffers)

    monkeypatch.setattr(os, "writev", short_then_full)
    writer.add_samples(sid, np.arange(10.0), np.arange(10.0, 20.0))
    writer.add_samples(sid, np.arange(10.0), np.arange(20.0, 30.0))
    with pytest.raises(DiskFullError, match="disk full while writing .*intact and load with pyxdf"):
        writer.flush()
    monkeypatch.undo()
    assert path.stat().st_size == good + whole  # the whole chunk kept, the 5 bytes of the torn one cut
    with pytest.raises(DiskFullError):
        writer.add_samples(sid, np.arange(1.0), np.arange(1.0))
    writer.close()
    np.testing.assert_array_equal(_load(path)["eeg"]["time_series"][:, 0], np.tile(np.arange(10.0), 2))


@pytest.mark.slow  # 12.5 s of real-time data: the default Boundary interval is 10 s
def test_a_real_recording_holds_boundary_chunks_at_the_default_cadence_and_stays_within_a_second(tmp_path):
    """XdfRecorder with its defaults (flush_interval 1 s, a Boundary every 10 s) records a paced source.

    While it runs, what was sent is on disk in less than 1 s (checked every 20 ms: ``scan_xdf`` of the file, then
    the count sent); the file then holds one Boundary chunk, after about 10 s of samples (found by walking
    the chunk tags, as ``lslacq xdf check`` reports it), and loads in pyxdf.
    """
    rate, chunk = 500.0, 5
    sig = make_output("eeg", dtype="float32", shape=(-1, 2), sample_rate=rate)
    rec = XdfRecorder(name="xdfrec")
    path = tmp_path / "long.xdf"
    rec.configure(streams={"eeg": sig}, filename=path)  # defaults: flush_interval=1.0, Boundary every 10 s
    data = ramp(int(12.5 * rate), (2,), "float32")
    sent = [0]
    lock = threading.Lock()

    def send() -> None:
        with lock:
            if sent[0] < len(data):
                sig.send(data[sent[0] : sent[0] + chunk])
                sent[0] += chunk

    lags: list[float] = []

    def lag_observed() -> bool:
        on_disk = sum(s.sample_count for s in scan_xdf(path).streams.values())
        with lock:
            lags.append((sent[0] - on_disk) / rate)
            return sent[0] >= len(data)

    source = PacedLoop(send, chunk / rate, name="paced-eeg")
    with sig, rec:
        rec.initialize()
        rec.start()
        source.start()
        try:
            wait_until(lag_observed, timeout=40, interval=0.02, what="12.5 s of data sent")
        finally:
            source.stop()
        rec.stop()
        assert rec.error is None
    assert len(lags) > 300 and max(lags) < 1.0, f"longest lag of the file behind the sender: {max(lags):.3f} s"
    scan = scan_xdf(path)
    assert scan.complete and scan.streams[1].sample_count == len(data)
    assert scan.n_boundaries == 1, scan.report()  # none in the first 10 s, one then
    at = scan.boundary_times[0] - scan.streams[1].first_timestamp
    assert 9.5 <= at <= 11.0, scan.report()
    shown = re.search(r"1 boundary chunks \(at ([\d.]+) s\)", scan.report())
    assert shown and float(shown.group(1)) == pytest.approx(at, abs=0.05)
    np.testing.assert_array_equal(_load(path)["eeg"]["time_series"], data)


def test_stream_header_takes_one_unit_or_type_string_for_every_channel():
    xml = stream_info_xml(
        "EEG", "EEG", 3, 250.0, "float32", channel_labels=["Fz", "Cz", "Pz"], channel_units="uV", channel_types="EEG"
    ).decode()
    assert xml.count("<unit>uV</unit>") == 3 and xml.count("<type>EEG</type>") == 4  # 3 channels + the stream's type
    with pytest.raises(ValueError, match="3 channel labels but 2 units"):
        stream_info_xml("EEG", "EEG", 3, 250.0, "float32", channel_labels=["Fz", "Cz", "Pz"], channel_units=["uV"] * 2)
