"""RawRecorder -> read_recording round trips, layout, crash and disk-full behaviour."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import threading

import numpy as np
import pytest
from rec_helpers import make_output, ramp, stall_disk, wait_until

from lslacq.core.stream.events import EVENT_DTYPE, make_events
from lslacq.rec import DiskFullError, RawRecorder, read_recording
from lslacq.rec import _rawfile as rawfile_module
from lslacq.rec import rawrecorder as rawrecorder_module

# every sample format our devices stream: signals, digital words, audio, video frames, events
FORMATS = {
    "eeg_f32": dict(
        dtype="float32",
        shape=(-1, 8),
        sample_rate=500.0,
        channel_names=[f"E{i}" for i in range(8)],
        channel_units=["microvolts"] * 8,
        channel_types=["EEG"] * 8,
    ),
    "f64": dict(dtype="float64", shape=(-1, 3), sample_rate=100.0),
    "i16": dict(dtype="int16", shape=(-1, 4), sample_rate=30000.0, scale=0.195, offset=0.0, units="microvolts"),
    "i32": dict(dtype="int32", shape=(-1, 2), sample_rate=250.0),
    "digital_u8": dict(streamtype="digitalsignal", dtype="uint8", shape=(-1, 1), sample_rate=1000.0),
    "u16": dict(dtype="uint16", shape=(-1, 2), sample_rate=10.0),
    "video": dict(streamtype="image/video", dtype="uint8", shape=(-1, 6, 8, 3), sample_rate=30.0),
}


def _record(tmp_path, outputs: dict, chunks: dict, **configure):
    dirname = tmp_path / "rec"
    rec = RawRecorder(name="rec")
    rec.configure(streams=outputs, dirname=dirname, **configure)
    rec.initialize()
    rec.start()
    for name, sends in chunks.items():
        for data, index in sends:
            outputs[name].send(data, index=index)
    expected = {name: sum(len(d) for d, _ in sends) for name, sends in chunks.items()}
    wait_until(lambda: all(rec._files[n].n_written == expected[n] for n in expected), what="every chunk written")
    rec.stop()
    rec.close()
    return dirname, rec


def test_every_dtype_round_trips_exactly_with_metadata(tmp_path):
    outputs = {name: make_output(name, **spec) for name, spec in FORMATS.items()}
    outputs["events"] = make_output(
        "events", streamtype="event", dtype=EVENT_DTYPE.descr, shape=(-1,), sample_rate=500.0
    )
    chunks = {}
    expected = {}
    for name, spec in FORMATS.items():
        frame = tuple(spec["shape"][1:])
        data = ramp(300, frame, spec["dtype"], start=1000)
        chunks[name] = [(data[i : i + 50], 1000 + i + 50) for i in range(0, 300, 50)]  # starts at index 1000
        expected[name] = data
    events = make_events(
        [1010, 1100, 1250], type="Stimulus", description=["S  1", "S  2", "S  1"], code=[1, 2, 1], duration=[0, 5, 0]
    )
    chunks["events"] = [(events[:1], 1), (events[1:], 3)]
    expected["events"] = events
    try:
        dirname, rec = _record(tmp_path, outputs, chunks)
    finally:
        for out in outputs.values():
            out.close()
    assert rec.error is None

    recording = read_recording(dirname)
    assert recording.complete, recording.end_note
    assert list(recording) == list(outputs)
    for name, data in expected.items():
        stream = recording[name]
        assert isinstance(stream.data, np.memmap)
        assert stream.data.dtype == data.dtype and stream.data.shape == data.shape
        np.testing.assert_array_equal(stream.data, data)
    eeg = recording["eeg_f32"]
    assert eeg.sample_rate == 500.0 and eeg.start_index == 1000
    np.testing.assert_array_equal(eeg.indexes, np.arange(1000, 1300))
    np.testing.assert_allclose(eeg.times, np.arange(1000, 1300) / 500.0)
    assert eeg.channel_names == [f"E{i}" for i in range(8)] and eeg.channel_units == ["microvolts"] * 8
    assert recording["i16"].properties["scale"] == 0.195 and recording["i16"].channel_units == ["microvolts"] * 4
    assert recording["video"].streamtype == "image/video" and recording["events"].is_event
    assert "complete: 300 samples (indexes 1000..1299, 2.600 s)" in eeg.end_note

    # pyacq's layout: one .raw per stream, readable with np.fromfile and the JSON alone
    props = json.loads((dirname / "stream_properties.json").read_text())
    assert "pyacq_version" in props
    i16 = props["i16"]
    raw = np.fromfile(dirname / "i16.raw", dtype=i16["dtype"]).reshape([-1] + i16["shape"][1:])
    np.testing.assert_array_equal(raw, expected["i16"])
    assert i16["start_index"] == 1000 and i16["streamtype"] == "analogsignal"


def test_list_of_streams_names_inputs_like_pyacq_and_annotations(tmp_path):
    out = make_output(dtype="float32", shape=(-1, 2), sample_rate=100.0)
    rec = RawRecorder()
    rec.configure(streams=[out], autoconnect=True, dirname=tmp_path / "r")
    rec.add_annotations(subject="S01", session=2)
    rec.initialize()
    rec.add_annotations(note="after initialize")
    assert list(rec.inputs) == ["input0"]
    with out, rec:
        rec.start()
        out.send(ramp(20, (2,), "float32"))
        wait_until(lambda: rec._files["input0"].n_written == 20)
        rec.stop()
    recording = read_recording(tmp_path / "r")
    assert recording.annotations == {"subject": "S01", "session": 2, "note": "after initialize"}
    np.testing.assert_array_equal(recording["input0"].data, ramp(20, (2,), "float32"))


def test_gaps_and_restarts_are_kept_in_the_indexes(tmp_path):
    out = make_output(dtype="int32", shape=(-1, 1), sample_rate=10.0)
    chunks = {
        "s": [
            (np.arange(0, 10, dtype="int32")[:, None], 10),
            (np.arange(15, 20, dtype="int32")[:, None], 20),  # 5 samples lost upstream
            (np.arange(0, 4, dtype="int32")[:, None], 4),
        ]
    }  # the source restarted its count
    try:
        dirname, rec = _record(tmp_path, {"s": out}, chunks, max_buffered=120.0)
    finally:
        out.close()
    assert rec.inputs["s"].max_buffered == 120.0  # a recorder may ask for a longer backlog than a viewer
    stream = read_recording(dirname)["s"]
    assert stream.properties["discontinuities"] == [[0, 0], [10, 15], [15, 0]]
    np.testing.assert_array_equal(stream.indexes, stream.data[:, 0])
    np.testing.assert_array_equal(stream.samples_of_indexes([16, 12]), [11, -1])


def test_existing_dirname_is_refused(tmp_path):
    (tmp_path / "taken").mkdir()
    out = make_output(dtype="float32", shape=(-1, 1))
    rec = RawRecorder()
    with out, rec, pytest.raises(FileExistsError, match="never overwrites"):
        rec.configure(streams=[out], dirname=tmp_path / "taken")
    rec2 = RawRecorder()
    with pytest.raises(ValueError, match="flush_interval"):
        rec2.configure(streams=[], dirname=tmp_path / "x", flush_interval=-1)
    with pytest.raises(ValueError, match="nothing to record"):
        rec2.configure(streams=[], dirname=tmp_path / "x")
    with pytest.raises(ValueError, match="invalid recorded stream name"):
        rec2.configure(streams={"a/b": None}, dirname=tmp_path / "x")


class _FillingFile:
    """A raw data file whose disk holds only ``capacity`` bytes (then ENOSPC, like a full disk)."""

    def __init__(self, path, capacity: int):
        self.file = open(path, "ab", buffering=0)
        self.capacity = capacity

    def writev(self, buffers):
        data = b"".join(buffers)
        room = self.capacity - self.file.tell()
        if len(data) > room:
            if room > 0:  # a real disk takes what fits, then fails on the next write
                return self.file.write(data[:room])
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.file.write(data)

    def fsync(self):
        pass

    def close(self):
        self.file.close()


def test_full_disk_stops_the_recorder_with_a_clear_error_and_data_intact(tmp_path, monkeypatch):
    capacity = 8 * 4 * 1000 + 10  # 1000 samples of 8 float32 channels, and part of the next
    monkeypatch.setattr(rawfile_module, "_open_data_file", lambda path: _FillingFile(path, capacity))
    out = make_output(dtype="float32", shape=(-1, 8), sample_rate=1000.0)
    rec = RawRecorder(name="rec")
    failures = []
    rec.failed.connect(failures.append)
    rec.configure(streams={"eeg": out}, dirname=tmp_path / "full", flush_interval=0)
    data = ramp(2000, (8,), "float32")
    with out, rec:
        rec.initialize()
        rec.start()
        for i in range(0, 2000, 100):
            out.send(data[i : i + 100])
        wait_until(lambda: rec.error is not None, what="the disk-full error")
        rec.stop()
    assert isinstance(rec.error, DiskFullError) and failures == [rec.error]
    assert "disk full" in str(rec.error) and "intact" in str(rec.error)
    recording = read_recording(tmp_path / "full")
    stream = recording["eeg"]
    assert not recording.complete and stream.partial_bytes == 10
    np.testing.assert_array_equal(stream.data, data[:1000])
    assert "the recording failed: " in stream.end_note and "disk full" in stream.end_note
    assert "incomplete last sample (10 bytes)" in stream.end_note


def _states(dirname) -> dict:
    with open(dirname / "stream_properties.json", encoding="utf8") as f:
        return {name: prop["state"] for name, prop in json.load(f).items() if isinstance(prop, dict)}


@contextlib.contextmanager
def _stopped_on_a_stalled_disk(monkeypatch, dirname, chunks):
    """A recorder of one stream whose stop() found the final write stalled (the stream is "stopping").

    Yields ``(rec, out, disks)``: the stalled write waits until the test
    releases ``disks[0]``; every disk is released on exit.
    """
    disks = stall_disk(monkeypatch)
    out = make_output(dtype="float32", shape=(-1, 2), sample_rate=100.0)
    rec = RawRecorder(name="rec")
    rec.stop_timeout = 0.2
    rec.configure(streams={"sig": out}, dirname=dirname)
    with out, rec:
        rec.initialize()
        rec.start()
        try:
            for chunk in chunks:
                out.send(chunk)
            total = sum(len(chunk) for chunk in chunks)
            wait_until(lambda: rec.counters()["samples_written"] == total, what="the chunks to be gathered")
            rec.stop()  # its final flush stalls in the disk: stop() gives up waiting after stop_timeout
            assert disks[0].entered.is_set() and _states(dirname) == {"sig": "stopping"}
            yield rec, out, disks
        finally:
            for disk in disks:
                disk.release.set()


def test_stop_on_a_stalled_disk_returns_and_the_tail_is_completed_in_the_background(tmp_path, monkeypatch):
    data = ramp(40, (2,), "float32")
    dirname = tmp_path / "stall"
    with _stopped_on_a_stalled_disk(monkeypatch, dirname, [data[:20], data[20:]]) as (rec, out, disks):
        with read_recording(dirname) as recording:
            assert not recording.complete and "a stalled disk" in recording["sig"].end_note
        with pytest.raises(RuntimeError, match=r"\['sig'\] are still being written"):
            rec.start()  # it would append to the file the stalled write has not finished
        disks[0].release.set()
        wait_until(lambda: _states(dirname) == {"sig": "stopped"}, what="the state to turn stopped")
        with read_recording(dirname) as recording:
            assert recording.complete
            np.testing.assert_array_equal(recording["sig"].data, data)
        rec.start()  # the file is complete: a new run appends to it
        out.send(ramp(10, (2,), "float32", start=40))
        wait_until(lambda: rec.counters()["samples_written"] == 50, what="the new run's chunk (after the first 40)")
        disks[1].release.set()
        rec.stop()
    with read_recording(dirname) as recording:
        assert recording.complete
        np.testing.assert_array_equal(recording["sig"].data, ramp(50, (2,), "float32"))


def test_a_stalled_disk_that_fails_after_stop_leaves_the_stream_failed_and_start_records_again(tmp_path, monkeypatch):
    dirname = tmp_path / "stall-fail"
    with _stopped_on_a_stalled_disk(monkeypatch, dirname, [ramp(20, (2,), "float32")]) as (rec, out, disks):
        disks[0].error = OSError(errno.EIO, "Input/output error")
        disks[0].release.set()
        wait_until(lambda: _states(dirname) == {"sig": "failed"}, what="the late write's failure")
        # the file says failed first, then the node's error is set (the same failure path, a moment later)
        wait_until(lambda: rec.error is not None, what="the recorder's error")
        assert "Input/output error" in str(rec.error)
        rec.start()  # nothing more will be written by the failed run: a new one may start
        disks[1].release.set()
        out.send(ramp(5, (2,), "float32", start=20))
        wait_until(lambda: rec.counters()["samples_written"] == 5, what="the new run's chunk")
        rec.stop()
    assert _states(dirname) == {"sig": "stopped"}
    with read_recording(dirname) as recording:
        np.testing.assert_array_equal(recording["sig"].data, ramp(5, (2,), "float32", start=20))


def test_a_recording_in_pyacqs_own_format_reads(tmp_path):
    """The JSON pyacq 2.0's RawRecorder writes (no lslacq keys) and its .raw files."""
    data = ramp(50, (4,), "float32")
    data.tofile(tmp_path / "input0.raw")
    props = {
        "input0": {
            "dtype": "float32",
            "sample_rate": 100.0,
            "shape": [-1, 4],
            "start_index": 40,
            "streamtype": "analogsignal",
        },
        "pyacq_version": "0.2.0-dev",
    }
    (tmp_path / "stream_properties.json").write_text(json.dumps(props, sort_keys=True, indent=4))
    recording = read_recording(tmp_path)
    assert recording.complete and recording.version == "0.2.0-dev"
    stream = recording["input0"]
    np.testing.assert_array_equal(stream.data, data)
    np.testing.assert_array_equal(stream.indexes, np.arange(40, 90))
    assert stream.channel_names == ["ch0", "ch1", "ch2", "ch3"]
    with pytest.raises(FileNotFoundError, match="is not a recording"):
        read_recording(tmp_path / "nothing")


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 1 MiB tmpfs (needs root and mount(8); skipped elsewhere)."""
    import shutil
    import subprocess

    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        if subprocess.run(["umount", str(mountpoint)], timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], timeout=30)  # never leave a mount behind
            raise AssertionError(f"{mountpoint} was still busy (a file or memory map left open)")


def test_a_really_full_disk_keeps_the_data_written_before(tiny_disk):
    out = make_output(dtype="float32", shape=(-1, 8), sample_rate=1000.0)
    rec = RawRecorder(name="rec")
    rec.configure(streams={"eeg": out}, dirname=tiny_disk / "rec", flush_interval=0)
    data = ramp(50_000, (8,), "float32")  # 1.6 MB: more than the disk holds
    with out, rec:
        rec.initialize()
        rec.start()
        for i in range(0, len(data), 2000):
            out.send(data[i : i + 2000])
        wait_until(lambda: rec.error is not None, what="the disk-full error")
        rec.stop()
    assert isinstance(rec.error, DiskFullError)
    with read_recording(tiny_disk / "rec") as recording:  # closing releases the memory map (or the disk stays busy)
        stream = recording["eeg"]
        n = len(stream)
        assert not recording.complete and 10_000 < n < 50_000
        np.testing.assert_array_equal(stream.data, data[:n])
    assert len(stream.data) == 0


def test_a_full_disk_is_said_once_with_the_fix_and_the_end_note_says_it_failed(tiny_disk, caplog):
    """Two streams fill a real 1 MiB disk: one log record (no traceback), the JSON says "failed" and why."""
    eeg = make_output(dtype="float32", shape=(-1, 8), sample_rate=1000.0)
    aux = make_output(dtype="int16", shape=(-1, 4), sample_rate=1000.0)
    rec = RawRecorder(name="rec")
    rec.configure(streams={"eeg": eeg, "aux": aux}, dirname=tiny_disk / "rec", flush_interval=0)
    data, words = ramp(50_000, (8,), "float32"), ramp(50_000, (4,), "int16")
    with caplog.at_level(logging.INFO), eeg, aux, rec:
        rec.initialize()
        rec.start()
        for i in range(0, len(data), 2000):
            eeg.send(data[i : i + 2000])
            aux.send(words[i : i + 2000])
        wait_until(lambda: rec.error is not None, what="the disk-full error")
        rec.stop()
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == 1, [r.getMessage() for r in loud]  # said once, by the node
    message = loud[0].getMessage()
    assert "disk full while writing" in message and "Free space on that disk, or record to a new dirname" in message
    assert loud[0].exc_info is None or loud[0].exc_info[2] is None  # no traceback for an explained condition
    with read_recording(tiny_disk / "rec") as recording:
        assert not recording.complete
        for name, sent in (("eeg", data), ("aux", words)):
            stream = recording[name]
            note = stream.end_note
            assert "killed" not in note, note
            # every stream that had samples left when the disk filled says why it ends
            if name == "eeg" or stream.properties["state"] != "stopped":
                assert stream.properties["state"] == "failed"
                assert "the recording failed: [Errno 28] disk full" in note, note
            np.testing.assert_array_equal(stream.data, sent[: len(stream)])  # what fitted, intact
        assert len(recording["eeg"]) > 1000
        del stream


def _open_fds_to(path) -> list[str]:
    """The descriptors of this process open on ``path`` (Linux: /proc/self/fd)."""
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                fds.append(fd)
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return fds


def test_a_file_that_cannot_be_opened_fails_start_cleanly_and_a_later_start_records(tmp_path, monkeypatch):
    real_file = rawrecorder_module.RawStreamFile

    def open_file(path, *args, **kwargs):
        if path.name == "b.raw":  # e.g. the process ran out of descriptors at the second stream
            raise OSError(errno.EMFILE, "Too many open files")
        return real_file(path, *args, **kwargs)

    monkeypatch.setattr(rawrecorder_module, "RawStreamFile", open_file)
    outs = {name: make_output(name=name, dtype="int16", shape=(-1, 2), sample_rate=100.0) for name in "ab"}
    data = ramp(50, (2,), "int16")
    rec = RawRecorder(name="rec")
    rec.configure(streams=outs, dirname=tmp_path / "emfile")
    with outs["a"], outs["b"], rec:
        rec.initialize()
        with pytest.raises(
            OSError, match=r"rec: cannot open '.*b\.raw' to record stream 'b': Too many open files"
        ) as failure:
            rec.start()
        assert failure.value.errno == errno.EMFILE and not rec.running()
        # the first stream's file was opened and its I/O thread started: both are gone
        assert [t.name for t in threading.enumerate() if t.name.startswith("rec-")] == []
        assert _open_fds_to(tmp_path / "emfile" / "a.raw") == [] and rec._files == rec._writers == {}
        props = json.loads((tmp_path / "emfile" / "stream_properties.json").read_text())
        assert props["a"]["state"] == props["b"]["state"] == "initialized"
        monkeypatch.undo()  # the files open now: the same recorder starts and records
        rec.start()
        for out in outs.values():
            out.send(data)
        wait_until(lambda: all(f.n_written == 50 for f in rec._files.values()), what="both streams received")
        rec.stop()
    with read_recording(tmp_path / "emfile") as recording:
        assert recording.complete
        for name in "ab":
            np.testing.assert_array_equal(recording[name].data, data)


def _send_malformed(out, inp) -> None:
    with out._lock:  # a raw message on the output's ROUTER socket, routed to the recorder's input
        out.socket.send_multipart([inp.identity, b"garbage", b"x"])


def test_a_malformed_message_is_skipped_while_recording_and_while_draining_at_stop(tmp_path, monkeypatch):
    out = make_output(dtype="float32", shape=(-1, 2), sample_rate=100.0)
    data = ramp(40, (2,), "float32")
    held, release = threading.Event(), threading.Event()
    real_process = rawrecorder_module._StreamWriter.process_data

    def process_data(self, pos, chunk):
        if pos == 20:  # the second chunk: hold the writer while more messages queue and stop() is asked
            held.set()
            assert release.wait(10), "the test never released the writer"
        real_process(self, pos, chunk)

    monkeypatch.setattr(rawrecorder_module._StreamWriter, "process_data", process_data)
    rec = RawRecorder(name="rec")
    rec.configure(streams={"sig": out}, dirname=tmp_path / "bad")
    inp = rec.inputs["sig"]
    with out, rec:
        rec.initialize()
        rec.start()
        try:
            _send_malformed(out, inp)  # received by the recording loop
            out.send(data[:10])
            out.send(data[10:20])
            assert held.wait(10), "the writer never received the second chunk"
            _send_malformed(out, inp)  # queued before stop(): received by the drain
            out.send(data[20:30])
            out.send(data[30:])
            rec._writers["sig"].stop()  # what rec.stop() asks first: the writer drains what is queued
        finally:
            release.set()
        rec.stop()
    assert inp.bad_messages == 2 and rec.error is None
    with read_recording(tmp_path / "bad") as recording:
        assert recording.complete
        np.testing.assert_array_equal(recording["sig"].data, data)
