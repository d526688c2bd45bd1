"""Recording benchmarks: RawRecorder in real time and flat out, reading back and MNE export.

* **Real time**: a source streams, paced like a device (10 ms chunks), 256
  channels at 30 kHz int16 (15.4 MB/s) and 64 channels at 10 kHz float32
  (2.6 MB/s) into a RawRecorder (inproc stream, same process). Printed: samples
  lost (target 0), the recorder's CPU (its writer thread, from the kernel's
  per-thread counters) in % of one core.
* **Flat out**: the same chunks sent as fast as possible through the recorder
  vs a bare ``file.write`` loop of the same chunks to a file on the same disk
  (the baseline, measured in the same run). Ratio = recorder throughput /
  bare throughput (target >= 0.8). "CPU ratio" = CPU time of the bare loop /
  CPU time of the recorder's writer thread for the same bytes (independent of
  other load on the machine). "stream only" moves the same chunks
  through the same stream to a reader that discards them: the transport's
  share of the recorder's cost.
* **Reading**: ``read_recording`` (memory-mapped) and ``.to_mne()`` of the
  flat-out recording vs ``np.fromfile`` of the same bytes.

Run: ``python benchmarks/rec.py [--quick] [--dir DIR]`` (``--quick``: 10 s real
time per case and 256 MB flat out; the full run does 60 s and 1 GB).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from lslacq.core.pacing import PacedLoop
from lslacq.core.stream import OutputStream
from lslacq.rec import RawRecorder, read_recording

CASES = [("256 ch @ 30 kHz int16", 256, 30_000.0, "int16"), ("64 ch @ 10 kHz float32", 64, 10_000.0, "float32")]
CHUNK_S = 0.01


def _chunk(n_ch, rate, dtype, seed=0):
    rng = np.random.default_rng(seed)
    n = int(rate * CHUNK_S)
    return (rng.standard_normal((n, n_ch)) * 1000).astype(dtype)


def _thread_cpu(native_ids: set[int]) -> float:
    """User + system CPU seconds of this process's threads with these native ids."""
    return sum(t.user_time + t.system_time for t in psutil.Process().threads() if t.id in native_ids)


def _make_output(n_ch, rate, dtype):
    out = OutputStream(name="source")
    out.configure(protocol="inproc", dtype=dtype, shape=(-1, n_ch), sample_rate=rate)
    return out


def _wait(cond, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("the recorder did not catch up")
        time.sleep(0.01)


def bench_realtime(workdir: Path, n_ch: int, rate: float, dtype: str, seconds: float) -> dict:
    chunk = _chunk(n_ch, rate, dtype)
    out = _make_output(n_ch, rate, dtype)
    rec = RawRecorder(name="rec")
    dirname = workdir / f"rt-{n_ch}-{int(rate)}"
    rec.configure(streams={"sig": out}, dirname=dirname)
    n_chunks = int(seconds / CHUNK_S)
    sent = [0]
    done = threading.Event()

    def step():
        if sent[0] >= n_chunks:
            done.set()
            return
        sent[0] += 1
        out.send(chunk)

    with out, rec:
        rec.initialize()
        rec.start()
        writer = rec._writers["sig"]._thread
        loop = PacedLoop(step, CHUNK_S, name="bench-source")
        cpu0 = _thread_cpu({writer.native_id})
        t0 = time.perf_counter()
        loop.start()
        done.wait(seconds * 3 + 30)
        loop.stop()
        total = n_chunks * len(chunk)
        _wait(lambda: rec._files["sig"].n_written >= total)
        wall = time.perf_counter() - t0
        cpu = _thread_cpu({writer.native_id}) - cpu0
        lost = rec.inputs["sig"].lost_samples
        rec.stop()
    recorded = len(read_recording(dirname)["sig"])
    shutil.rmtree(dirname)
    return dict(lost=lost + (total - recorded), cpu=100 * cpu / wall, mbps=total * chunk.itemsize * n_ch / wall / 1e6)


def bench_flat_out(workdir: Path, n_ch: int, rate: float, dtype: str, megabytes: float) -> dict:
    chunk = _chunk(n_ch, rate, dtype)
    n_chunks = max(1, int(megabytes * 1e6 / chunk.nbytes))
    # baseline: a bare write loop of the same chunks, flushed and closed
    bare = workdir / "bare.raw"
    t0 = time.perf_counter()
    c0 = time.thread_time()
    with open(bare, "wb") as f:
        for _ in range(n_chunks):
            f.write(chunk)
    t_bare = time.perf_counter() - t0
    cpu_bare = time.thread_time() - c0
    bare.unlink()
    # the recorder: send flat out, at most 32 MB ahead of what it wrote (a stream drops the oldest data of a
    # reader that falls further behind than its bound); stop() flushes and closes
    out = _make_output(n_ch, rate, dtype)
    rec = RawRecorder(name="rec")
    dirname = workdir / f"flat-{n_ch}-{int(rate)}"
    rec.configure(streams={"sig": out}, dirname=dirname)
    with out, rec:
        rec.initialize()
        rec.start()
        file = rec._files["sig"]
        writer = rec._writers["sig"]._thread
        cpu0 = _thread_cpu({writer.native_id})
        window = max(1, int(32e6 // chunk.nbytes)) * len(chunk)  # stay within the reader's buffer bound
        sent = 0
        t0 = time.perf_counter()
        for _ in range(n_chunks):
            while sent - file.n_written > window:
                time.sleep(0.005)  # coarse: a polling sender would take the GIL from the recorder
            out.send(chunk)
            sent += len(chunk)
        _wait(lambda: file.n_written >= n_chunks * len(chunk))
        cpu_rec = _thread_cpu({writer.native_id}) - cpu0
        rec.stop()
        t_rec = time.perf_counter() - t0
    t_stream = _stream_only(chunk, n_ch, rate, dtype, n_chunks)
    nbytes = n_chunks * chunk.nbytes
    return dict(bare=nbytes / t_bare / 1e6, rec=nbytes / t_rec / 1e6, ratio=t_bare / t_rec, dirname=dirname,
                nbytes=nbytes, stream=nbytes / t_stream / 1e6, cpu_ratio=cpu_bare / max(cpu_rec, 1e-9))


def _stream_only(chunk, n_ch, rate, dtype, n_chunks) -> float:
    """Seconds to move the chunks through the same inproc stream to a reader that discards them (no disk)."""
    from lslacq.core.stream import InputStream

    out = _make_output(n_ch, rate, dtype)
    inp = InputStream()
    inp.connect(out)
    got = [0]

    def reader():
        while got[0] < n_chunks:
            if inp.poll(100):
                inp.recv()
                got[0] += 1

    thread = threading.Thread(target=reader)
    with out, inp:
        thread.start()
        window = max(1, int(32e6 // chunk.nbytes))
        t0 = time.perf_counter()
        for k in range(n_chunks):
            while k - got[0] > window:
                time.sleep(0.005)
            out.send(chunk)
        thread.join(120)
        return time.perf_counter() - t0


def bench_read(dirname: Path, dtype: str, n_ch: int) -> dict:
    path = dirname / "sig.raw"
    os.sync()
    t0 = time.perf_counter()
    ref = np.fromfile(path, dtype=dtype).reshape(-1, n_ch)
    t_fromfile = time.perf_counter() - t0
    del ref
    t0 = time.perf_counter()
    recording = read_recording(dirname)
    t_open = time.perf_counter() - t0
    t0 = time.perf_counter()
    raw = recording.to_mne()["sig"]
    t_mne = time.perf_counter() - t0
    n = raw.n_times
    del raw, recording
    return dict(fromfile=t_fromfile, open=t_open, mne=t_mne, n=n)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 s real time per case, 256 MB flat out")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary directory)")
    args = parser.parse_args(argv)
    seconds = 10.0 if args.quick else 60.0
    megabytes = 256.0 if args.quick else 1000.0
    print(f"lslacq recording benchmark  (Python {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} cores)")
    base = Path(tempfile.mkdtemp(prefix="lslacq-bench-rec-", dir=args.dir))
    try:
        print(f"\nReal time, {seconds:.0f} s per case, 10 ms chunks; recorder CPU = its writer thread, % of one core")
        print(f"{'case':<26}{'MB/s':>8}{'lost':>8}{'CPU %':>8}")
        for label, n_ch, rate, dtype in CASES:
            r = bench_realtime(base, n_ch, rate, dtype, seconds)
            print(f"{label:<26}{r['mbps']:>8.1f}{r['lost']:>8d}{r['cpu']:>8.1f}")
        print(f"\nFlat out, {megabytes:.0f} MB of the same 10 ms chunks; ratio = recorder / bare file.write loop "
              "(target >= 0.8)")
        print(f"{'case':<26}{'bare MB/s':>10}{'rec MB/s':>10}{'ratio':>8}{'CPU ratio':>11}{'stream only MB/s':>18}")
        flat = None
        for label, n_ch, rate, dtype in CASES:
            r = bench_flat_out(base, n_ch, rate, dtype, megabytes)
            print(f"{label:<26}{r['bare']:>10.0f}{r['rec']:>10.0f}{r['ratio']:>8.2f}{r['cpu_ratio']:>11.2f}"
                  f"{r['stream']:>18.0f}")
            if flat is not None:
                shutil.rmtree(flat[0])
            flat = (r["dirname"], dtype, n_ch, r["nbytes"])
        dirname, dtype, n_ch, nbytes = flat
        r = bench_read(dirname, dtype, n_ch)
        print(f"\nReading {nbytes / 1e6:.0f} MB ({n_ch} ch {dtype}, {r['n']} samples); ratio = time / np.fromfile")
        print(f"{'what':<34}{'s':>8}{'ratio':>8}")
        print(f"{'np.fromfile (baseline)':<34}{r['fromfile']:>8.3f}{1.0:>8.2f}")
        print(f"{'read_recording (memory-mapped)':<34}{r['open']:>8.4f}{r['open'] / r['fromfile']:>8.3f}")
        print(f"{'to_mne (float64 volts, in RAM)':<34}{r['mne']:>8.3f}{r['mne'] / r['fromfile']:>8.2f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
