"""`lslacq record` onto a disk that fills up: a clear error naming the file, exit 1, the data written so far intact."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import time
import uuid

import numpy as np
import pytest
from rec_helpers import finish, lslacq_cli, stop_process, wait_line

pylsl = pytest.importorskip("pylsl")
pyxdf = pytest.importorskip("pyxdf")

from lslacq.rec import read_recording  # noqa: E402
from lslacq.rec.xdf_check import scan_xdf  # noqa: E402

N_CH, CHUNK = 64, 500


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 8 MiB tmpfs (needs root and mount(8); skipped elsewhere), unmounted after the test."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mountpoint)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        gc.collect()  # memory maps of the recording read in the test
        if subprocess.run(["umount", str(mountpoint)], timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], timeout=30)  # never leave a mount behind
            raise AssertionError(f"{mountpoint} was still busy (a file or memory map left open)")


def _values(start: int, n: int) -> np.ndarray:
    k = np.arange(start, start + n, dtype=np.float32)[:, None]
    return k * N_CH + np.arange(N_CH, dtype=np.float32)[None, :]


def _record_until_full(output) -> tuple[subprocess.Popen, str, str, str]:
    """Run ``lslacq record`` of a 64-channel stream and a marker stream into ``output`` until it gives up."""
    tag = uuid.uuid4().hex[:8]
    eeg_name, mk_name = f"full-eeg-{tag}", f"full-mk-{tag}"
    eeg = pylsl.StreamOutlet(pylsl.StreamInfo(eeg_name, "EEG", N_CH, 1000.0, "float32", f"{eeg_name}-sid"))
    markers = pylsl.StreamOutlet(pylsl.StreamInfo(mk_name, "Markers", 1, 0.0, "string", f"{mk_name}-sid"))
    proc = lslacq_cli("record", "--lsl", eeg_name, mk_name, "-o", output, "--timeout", "20")
    try:
        head = wait_line(proc, "(Ctrl-C to stop)")
        assert eeg.wait_for_consumers(10) and markers.wait_for_consumers(10)
        markers.push_sample(["start"])
        sent, deadline = 0, time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:  # 12.8 MB/s: the 8 MB disk fills at the 1st flush
            eeg.push_chunk(_values(sent, CHUNK))
            sent += CHUNK
            time.sleep(0.01)  # pacing the sender, not waiting for the recorder
        out, err = finish(proc, 30)
    finally:
        stop_process(proc)
        del eeg, markers
        gc.collect()
    return proc, head + out, err, eeg_name


@pytest.mark.slow  # a recording subprocess filling a real (tiny) disk
def test_lslacq_record_xdf_on_a_full_disk_says_so_and_the_file_loads(tiny_disk):
    path = tiny_disk / "full.xdf"
    proc, out, err, eeg_name = _record_until_full(path)
    assert proc.returncode == 1, (out, err)
    assert f"lslacq record: [Errno 28] disk full while writing '{path}'" in err, err
    assert "stopped by that error" in err and "recording finished" not in out
    assert err.count("disk full") == 1  # said once
    scan = scan_xdf(path)
    assert scan.torn_bytes == 0 and not scan.problem  # the chunks that fitted (8192 samples each), none torn
    streams = {s["info"]["name"][0]: s for s in pyxdf.load_xdf(str(path))[0]}  # as it is
    got = streams[eeg_name]["time_series"]
    assert len(got) == scan.streams[1].sample_count > 1000
    np.testing.assert_array_equal(got, _values(0, len(got)))  # the samples before the error, in order
    assert [row[0] for row in next(s for n, s in streams.items() if n != eeg_name)["time_series"]] == ["start"]


@pytest.mark.slow  # a recording subprocess filling a real (tiny) disk
def test_lslacq_record_directory_on_a_full_disk_says_so_and_the_data_reads(tiny_disk):
    dirname = tiny_disk / "rec"
    proc, out, err, eeg_name = _record_until_full(dirname)
    assert proc.returncode == 1, (out, err)
    assert f"disk full while writing {dirname / eeg_name}.raw" in err, err
    assert "stopped by that error" in err and "recording finished" not in out
    # the node's one log record (no traceback-less exception line under it); the command does not repeat it
    assert err.count("Free space on that disk, or record to a new dirname") == 1, err
    with read_recording(dirname) as recording:
        note = recording[eeg_name].end_note
        assert "the recording failed: [Errno 28] disk full" in note and "killed" not in note, note
        got = recording[eeg_name].data
        assert len(got) > 1000
        np.testing.assert_array_equal(got, _values(0, len(got)))
        del got
