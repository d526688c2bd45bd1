"""Recorders let the written pages of their files go from the page cache once they are on disk (lslacq.rec.pagecache).

Residency is read back from the kernel with mincore(2) on a private mapping of the file (mapping does not load
pages; mincore reports which of the file's pages the page cache holds).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import sys

import numpy as np
import pytest

from lslacq.rec import pagecache
from lslacq.rec._rawfile import RawStreamFile
from lslacq.rec.pagecache import PageCacheRelease
from lslacq.rec.xdf_format import stream_info_xml
from lslacq.rec.xdf_writer import XdfWriter

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(os, "posix_fadvise"),
    reason="page cache residency via posix_fadvise and mincore is Linux's",
)

MB = 1 << 20


def resident_fraction(path) -> float:
    """Fraction of ``path``'s pages the page cache holds now."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    size = os.path.getsize(path)
    page = mmap.PAGESIZE
    with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as mm:
        address = ctypes.addressof(ctypes.c_char.from_buffer(mm))
        pages = (size + page - 1) // page
        vec = (ctypes.c_ubyte * pages)()
        try:
            if libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
            return float(np.frombuffer(vec, np.uint8).__and__(1).mean())
        finally:
            del address  # the mapping's buffer export must end before the mapping closes


def write_file(path, total: int, every: int | None) -> PageCacheRelease | None:
    chunk = np.arange(MB // 8, dtype=np.float64)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    release = PageCacheRelease(fd, every=every) if every is not None else None
    try:
        for k in range(total // MB):
            if k % 4 == 0:
                os.fdatasync(fd)  # a disk that keeps up: what was written before is clean when the release comes
            n = os.writev(fd, [chunk])
            if release is not None:
                release.written(n)
        os.fdatasync(fd)
        if release is not None:
            release.release()
            release.close()
    finally:
        os.close(fd)
    return release


def test_released_file_leaves_the_page_cache_and_a_plain_one_stays(tmp_path):
    plain, released = tmp_path / "plain.raw", tmp_path / "released.raw"
    write_file(plain, 64 * MB, every=None)
    release = write_file(released, 64 * MB, every=4 * MB)
    assert resident_fraction(plain) > 0.9  # the control: written pages stay cached (so the measurement works)
    assert release.calls >= 64 // 4
    assert resident_fraction(released) < 0.2
    data = np.fromfile(released, dtype=np.float64).reshape(64, -1)
    assert np.array_equal(data, np.broadcast_to(np.arange(MB // 8, dtype=np.float64), data.shape))


def test_release_leaves_what_the_file_held_before_alone(tmp_path):
    path = tmp_path / "old.raw"
    path.write_bytes(bytes(8 * MB))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        release = PageCacheRelease(fd, every=MB)
        assert release._ends[0] == 8 * MB  # ranges start at the size the file had
    finally:
        os.close(fd)


def test_zero_disables_and_a_negative_size_is_refused(tmp_path):
    fd = os.open(tmp_path / "x.raw", os.O_WRONLY | os.O_CREAT)
    try:
        off = PageCacheRelease(fd, every=0)
        off.written(10 * MB)
        assert not off.enabled and off.calls == 0
        with pytest.raises(ValueError, match="every must be >= 0"):
            PageCacheRelease(fd, every=-1)
    finally:
        os.close(fd)


def test_raw_stream_file_releases_its_pages(tmp_path, monkeypatch):
    monkeypatch.setattr(pagecache, "DEFAULT_RELEASE_BYTES", MB)
    path = tmp_path / "eeg.raw"
    f = RawStreamFile(path, np.dtype(np.float32), (64,), threaded=True)
    chunk = np.ones((4096, 64), np.float32)  # 1 MB
    for _ in range(32):
        f.write(chunk)
    f.close()  # the I/O thread has written everything
    calls = f.file.page_cache.calls
    assert calls >= 16
    assert np.array_equal(np.fromfile(path, np.float32).reshape(-1, 64), np.ones((32 * 4096, 64), np.float32))


XML = stream_info_xml("eeg", "EEG", 64, 1000.0, "float32", created_at=0.0, hostname="test")  # one uid for all


def write_xdf(path, n_flushes: int, fsync: bool) -> XdfWriter:
    """Record ``n_flushes`` flushes of 1 MB of 64-channel float32 (4096 samples each) with an XdfWriter."""
    writer = XdfWriter(path, fsync=fsync, header={"datetime": "2026-01-01T00:00:00"})  # a fixed header
    sid = writer.add_stream(XML, "float32", 64, "eeg")
    for k in range(n_flushes):
        values = np.arange(k * 4096 * 64, (k + 1) * 4096 * 64, dtype=np.float32).reshape(4096, 64)
        writer.add_samples(sid, values, np.arange(k * 4096, (k + 1) * 4096) / 1000.0)
        writer.flush()
    writer.close()
    return writer


def test_xdf_writer_releases_its_pages_and_writes_the_same_bytes(tmp_path, monkeypatch):
    import pyxdf

    monkeypatch.setattr(pagecache, "DEFAULT_RELEASE_BYTES", 0)  # the control: release off
    plain = write_xdf(tmp_path / "plain.xdf", 32, fsync=True)
    assert plain.page_cache.calls == 0
    monkeypatch.setattr(pagecache, "DEFAULT_RELEASE_BYTES", MB)
    released = write_xdf(tmp_path / "released.xdf", 32, fsync=True)  # fsync: every page is clean at its release
    assert released.page_cache.calls >= 16
    assert resident_fraction(tmp_path / "plain.xdf") > 0.9  # written pages stay cached without the release
    assert resident_fraction(tmp_path / "released.xdf") < 0.2
    assert (tmp_path / "released.xdf").read_bytes() == (tmp_path / "plain.xdf").read_bytes()
    (stream,), _ = pyxdf.load_xdf(str(tmp_path / "released.xdf"), synchronize_clocks=False, dejitter_timestamps=False)
    assert np.array_equal(stream["time_series"], np.arange(32 * 4096 * 64, dtype=np.float32).reshape(-1, 64))
    assert np.array_equal(stream["time_stamps"], np.arange(32 * 4096) / 1000.0)
    assert stream["footer"]["info"]["sample_count"] == [str(32 * 4096)]  # close() wrote the footer after the release


def test_xdf_writer_without_fsync_releases_too(tmp_path, monkeypatch):
    monkeypatch.setattr(pagecache, "DEFAULT_RELEASE_BYTES", MB)
    writer = write_xdf(tmp_path / "x.xdf", 16, fsync=False)
    assert writer.page_cache.calls >= 8
    assert writer.bytes_written == os.path.getsize(tmp_path / "x.xdf")
