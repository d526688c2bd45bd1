"""RawStreamFile: batched zero-copy writes (inline or by an I/O thread), short writes, borrowed memory, errors."""

from __future__ import annotations

import errno
import inspect
import logging
import os

import numpy as np
import pytest
from rec_helpers import make_output, ramp, stall_disk, wait_until

from lslacq.rec import DiskFullError, RawRecorder, read_recording
from lslacq.rec import _rawfile as rawfile_module
from lslacq.rec._rawfile import RawStreamFile


class _RecordingFile:
    """A real file that records each writev call and writes at most ``max_bytes`` per call (short writes)."""

    def __init__(self, path, max_bytes: int | None = None, fail_after: int | None = None):
        self.file = open(path, "ab", buffering=0)
        self.max_bytes = max_bytes
        self.fail_after = fail_after
        self.calls: list[int] = []
        self.fsyncs = 0

    def writev(self, buffers):
        data = b"".join(bytes(memoryview(b).cast("B")) for b in buffers)
        if self.fail_after is not None and self.file.tell() >= self.fail_after:
            raise OSError(errno.EIO, "Input/output error")
        if self.max_bytes is not None:
            data = data[: self.max_bytes]
        self.calls.append(len(buffers))
        return self.file.write(data)

    def fsync(self):
        self.fsyncs += 1

    def close(self):
        self.file.close()


@pytest.fixture(params=[False, True], ids=["inline", "threaded"])
def threaded(request):
    return request.param


@pytest.fixture
def fake_files(monkeypatch):
    opened = []

    def install(**kw):
        def opener(path):
            opened.append(_RecordingFile(path, **kw))
            return opened[-1]

        monkeypatch.setattr(rawfile_module, "_open_data_file", opener)
        return opened

    return install


def test_chunks_are_gathered_into_one_writev_per_batch_and_reach_the_file_in_order(tmp_path, fake_files, threaded):
    opened = fake_files()
    data = ramp(400, (8,), "float32")  # 32 bytes a sample: chunks of 1600 bytes
    flushed = []
    f = RawStreamFile(
        tmp_path / "a.raw", np.dtype("float32"), (8,), batch_bytes=8000, on_flushed=flushed.append, threaded=threaded
    )
    for i in range(0, 400, 50):
        f.write(data[i : i + 50])
    wait_until(lambda: f.n_on_disk == 250, what="the first batch written")  # 5 chunks make a batch
    assert opened[0].calls == [5] and f.n_written == 400 and f.n_flushed == 0 and flushed == []
    f.flush()
    wait_until(lambda: flushed == [400], what="the flush")
    f.close()
    assert opened[0].calls == [5, 3] and f.n_flushed == 400
    np.testing.assert_array_equal(np.fromfile(tmp_path / "a.raw", "float32").reshape(-1, 8), data)


def test_batches_waiting_for_a_busy_disk_go_out_in_one_writev_up_to_max_write_bytes(tmp_path, monkeypatch):
    disks = stall_disk(monkeypatch)
    data = ramp(1000, (8,), "float32")  # chunks of 50 samples (1600 bytes), batches of 2 chunks
    f = RawStreamFile(
        tmp_path / "c.raw", np.dtype("float32"), (8,), threaded=True, batch_bytes=3200, max_write_bytes=3 * 3200 + 1600
    )  # room for 3.5 batches: a 4th would exceed it
    try:
        f.write(data[:50])
        f.write(data[50:100])  # the first batch: its write stalls
        assert disks[0].entered.wait(10), "the I/O thread never started writing"
        for i in range(100, 1000, 50):  # 9 more batches queue while the disk is busy
            f.write(data[i : i + 50])
    finally:
        disks[0].release.set()
    f.close()
    assert disks[0].calls == [2, 6, 6, 6]  # then 3 queued batches (9600 bytes) per writev, never over the bound
    assert f.error is None and f.n_on_disk == 1000
    np.testing.assert_array_equal(np.fromfile(tmp_path / "c.raw", "float32").reshape(-1, 8), data)


def test_short_writes_resume_where_the_system_stopped(tmp_path, fake_files, threaded):
    fake_files(max_bytes=1000)  # every call writes at most 1000 bytes, cutting samples and buffers in the middle
    data = ramp(300, (4,), "int16")
    f = RawStreamFile(tmp_path / "b.raw", np.dtype("int16"), (4,), fsync=True, threaded=threaded)
    for i in range(0, 300, 7):
        f.write(data[i : i + 7])
    f.flush()
    f.close()
    assert f.error is None and f.n_flushed == 300
    np.testing.assert_array_equal(np.fromfile(tmp_path / "b.raw", "int16").reshape(-1, 4), data)


def test_borrowed_memory_is_copied_and_stable_memory_is_not(tmp_path, threaded):
    chunk = ramp(10, (3,), "float64")
    for stable in (False, True):
        path = tmp_path / f"{stable}.raw"
        buffer = chunk.copy()
        f = RawStreamFile(path, np.dtype("float64"), (3,), stable=stable, threaded=threaded)
        f.write(buffer)
        buffer[:] = -1  # the sender reuses its memory before the batch is written
        f.flush()
        f.close()
        expected = np.full_like(chunk, -1) if stable else chunk  # stable memory is, by contract, never reused
        np.testing.assert_array_equal(np.fromfile(path, "float64").reshape(-1, 3), expected)


def test_an_io_error_surfaces_in_the_receiving_thread_and_close_keeps_what_was_written(tmp_path, fake_files, threaded):
    fake_files(fail_after=4000)
    data = ramp(300, (10,), "float32")  # 40 bytes a sample
    f = RawStreamFile(tmp_path / "c.raw", np.dtype("float32"), (10,), batch_bytes=4000, threaded=threaded)

    def write_all() -> None:  # the failure comes from write() or from check(), whichever sees it first
        for i in range(0, 300, 100):
            f.write(data[i : i + 100])
            wait_until(lambda: f.queued_bytes == 0, what="the batch handled")
            f.check()

    with pytest.raises(OSError, match="writing .*c.raw failed: Input/output error"):
        write_all()
    f.close()
    np.testing.assert_array_equal(np.fromfile(tmp_path / "c.raw", "float32").reshape(-1, 10), data[:100])
    with pytest.raises(OSError, match="Input/output error"):
        f.flush()


def test_a_chunk_with_the_wrong_frame_shape_is_refused(tmp_path):
    f = RawStreamFile(tmp_path / "d.raw", np.dtype("float32"), (4,))
    with pytest.raises(ValueError, match=r"shape \(5, 3\) does not match the stream's frame shape \(4,\)"):
        f.write(np.zeros((5, 3), "float32"))
    f.close()


def test_a_sharedmem_stream_records_exactly_although_its_ring_is_reused(tmp_path):
    """Chunks of a shared-memory stream are views of a ring the sender overwrites: the recorder copies them."""
    out = make_output(
        protocol="tcp",
        transfermode="sharedmem",
        dtype="float32",
        shape=(-1, 4),
        sample_rate=1000.0,
        buffer_size=64,
        double=False,
    )
    data = ramp(20 * 32, (4,), "float32")
    rec = RawRecorder(name="rec")
    rec.configure(streams={"shm": out}, dirname=tmp_path / "shm")
    with out, rec:
        rec.initialize()
        rec.start()
        file = rec._files["shm"]
        for k in range(20):  # the 64-sample ring wraps every 2 chunks; the gathered batch waits for the flush
            out.send(data[32 * k : 32 * (k + 1)])
            wait_until(lambda k=k: file.n_written == 32 * (k + 1), what=f"chunk {k} received")
        rec.stop()
    recording = read_recording(tmp_path / "shm")
    assert recording.complete and rec.inputs["shm"].lost_samples == 0
    np.testing.assert_array_equal(recording["shm"].data, data)
    recording.close()


def test_a_writing_thread_records_exactly_with_fsync(tmp_path):
    out = make_output(dtype="int16", shape=(-1, 16), sample_rate=30000.0)
    data = ramp(30 * 300, (16,), "int16")
    rec = RawRecorder(name="rec")
    rec.configure(streams={"sig": out}, dirname=tmp_path / "fsync", fsync=True)
    with out, rec:
        rec.initialize()
        rec.start()
        file = rec._files["sig"]
        assert file._thread is not None and file._thread.is_alive()
        for k in range(30):
            out.send(data[300 * k : 300 * (k + 1)])
        wait_until(lambda: file.n_written == len(data), what="every chunk received")
        rec.stop()
    assert not file._thread.is_alive()
    with read_recording(tmp_path / "fsync") as recording:
        assert recording.complete
        np.testing.assert_array_equal(recording["sig"].data, data)


def test_disk_full_error_is_the_rec_packages_class():
    assert issubclass(DiskFullError, OSError) and rawfile_module.DiskFullError is DiskFullError


def test_a_description_that_cannot_be_written_fails_the_file(tmp_path, threaded):
    def on_flushed(n):
        raise OSError(errno.ENOSPC, "No space left on device")

    f = RawStreamFile(tmp_path / "e.raw", np.dtype("int32"), (2,), on_flushed=on_flushed, threaded=threaded)
    f.write(np.zeros((5, 2), "int32"))
    try:
        f.flush()  # raises at once when inline; threaded, the next call does
    except DiskFullError:
        assert not threaded
    wait_until(lambda: f.error is not None, what="the error")
    f.close()
    assert isinstance(f.error, DiskFullError) and "updating the description of" in str(f.error)
    with pytest.raises(DiskFullError):
        f.write(np.zeros((5, 2), "int32"))


def test_close_on_a_stalled_disk_returns_and_leaves_the_descriptor_to_the_writing_thread(tmp_path, monkeypatch, caplog):
    opened = stall_disk(monkeypatch)
    data = ramp(200, (4,), "float32")
    f = RawStreamFile(
        tmp_path / "stall.raw", np.dtype("float32"), (4,), threaded=True, name="stall-io", close_timeout=0.2
    )
    disk = opened[0]
    try:
        inode = os.fstat(disk.fd).st_ino
        f.write(data[:100])
        f.flush()
        assert disk.entered.wait(10), "the I/O thread never started writing"
        f.write(data[100:])  # gathered while the disk is stalled: close() queues it
        with caplog.at_level(logging.ERROR, logger=rawfile_module.__name__):
            f.close()  # returns after close_timeout although the write has not
        assert "stall.raw: the disk is stalled" in caplog.text
        assert f._thread.is_alive() and disk.closed_by == []
        assert os.fstat(disk.fd).st_ino == inode  # still our file's descriptor: nobody can reuse its number
    finally:
        disk.release.set()
        f._thread.join(10)
    assert not f._thread.is_alive() and disk.closed_by == ["stall-io"]  # closed by the thread, after its writes
    assert f.error is None and f.n_on_disk == f.n_flushed == 200
    np.testing.assert_array_equal(np.fromfile(tmp_path / "stall.raw", "float32").reshape(-1, 4), data)


@pytest.mark.parametrize(
    ("method", "raises"), [("write", True), ("due", False), ("flush", True), ("check", True), ("close", False)]
)
def test_the_public_methods_have_numpydoc_sections(method, raises):
    function = getattr(RawStreamFile, method)
    doc = inspect.getdoc(function)
    signature = inspect.signature(function)
    assert "\n\n" in doc, f"{method}: only a one-line docstring"
    for name in list(signature.parameters)[1:]:
        assert "Parameters\n----------" in doc and f"\n{name} : " in doc, f"{method}: parameter {name!r} undocumented"
    if signature.return_annotation not in ("None", None):
        assert "Returns\n-------" in doc, f"{method}: the return value is undocumented"
    assert ("Raises\n------\nOSError" in doc) == raises, f"{method}: Raises section"
