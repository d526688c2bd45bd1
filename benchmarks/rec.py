"""Recording benchmarks: RawRecorder in real time and flat out, reading back and MNE export.

* **Real time**: a source in another process (like a device in a NodeGroup)
  streams over tcp, paced like a device (10 ms chunks), 256 channels at
  30 kHz int16 (15.4 MB/s) and 64 channels at 10 kHz float32 (2.6 MB/s), into
  a RawRecorder in this process (default crash-safe policy: flushed every
  1 s). Printed: samples sent and samples in the file (lost = the
  difference, target 0), the recorder's CPU (this process's CPU time / wall
  time, in % of one core), and the same for the baseline: a bare paced loop
  in this process writing the same chunks to a file at the same cadence
  (``file.write`` + ``flush`` every 1 s). MB/s written by each (equal when
  nothing is lost).
* **Flat out**: the same chunks as fast as possible. Baselines: a bare
  ``file.write`` loop of the same chunks to a file on the same disk
  (buffered file, closed at the end), and the same loop with the recorder's
  crash-safe cadence (``flush()`` every 1 s). The recorder side includes
  receiving every chunk from its stream: "queued" puts all chunks in the
  recorder's stream (inproc) before starting it and times receive + write
  until every byte is handed to the operating system (like the bare loop,
  which starts with the chunks in memory); "live" has a sender thread in the
  same process sending them while the recorder runs (the sender competes
  for the GIL and the cores). The recorder's clock stops at its last
  ``writev`` (the gathered tail, < 1 MB, is left to ``stop()``), timed by
  wrappers on the file object, not by polling, which would take the GIL
  from the recorder's threads. The variants alternate within each round;
  ratio = recorder throughput / bare throughput within a round, median over
  the rounds, with its quartiles (target >= 0.8).
* **Reading**: ``read_recording`` (memory-mapped) and ``.to_mne()`` of the
  flat-out recording vs ``np.fromfile`` of the same bytes.
* **XDF vs LabRecorder** (``--xdf`` runs only this part): an LSL outlet in a
  source process pushes 10 ms chunks in real time; three recorders, each in
  a process of its own, record that same LSL stream at the same time: the
  real LabRecorder engine (PyPI ``labrecorder``), ``lslacq record -o x.xdf``
  (:class:`~lslacq_lsl.xdf_record.LslXdfRecording`) and a graph
  ``LslInlet(pull_interval=0.5) -> XdfRecorder`` (the inlet takes what is
  queued every 0.5 s, as LabRecorder does). Printed per recorder: samples
  in its file (counted by ``scan_xdf``; lost = sent - recorded, target 0)
  and its process CPU time over the whole recording (open to closed file,
  the recording objects destroyed) in % of the wall time of the
  recording; ratio = CPU / LabRecorder's CPU (target <= 1.0).

Run: ``python benchmarks/rec.py [--quick] [--seconds S] [--rounds N] [--dir DIR] [--xdf]``
(``--quick``: 5 s real time per case and 256 MB flat out; the full run does
60 s and 1 GB; the directory needs about 2.2 GB free for the full run,
checked first, and 3.5 GB for the XDF part).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from lslacq.core.pacing import PacedLoop
from lslacq.core.stream import OutputStream
from lslacq.rec import RawRecorder, read_recording

CASES = [("256 ch @ 30 kHz int16", 256, 30_000.0, "int16"), ("64 ch @ 10 kHz float32", 64, 10_000.0, "float32")]
CHUNK_S = 0.01
FLUSH_S = 1.0  # the recorder's default flush_interval


def _chunk(n_ch: int, rate: float, dtype: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(rate * CHUNK_S)
    return (rng.standard_normal((n, n_ch)) * 1000).astype(dtype)


def _wait(cond, timeout: float = 300.0, what: str = "the recorder to catch up") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.002)


# -- real time ------------------------------------------------------------------------------------------
def _paced_source(conn, n_ch: int, rate: float, dtype: str, n_chunks: int) -> None:
    """Child process: a paced tcp output sending ``n_chunks`` chunks, then reporting how many it sent."""
    chunk = _chunk(n_ch, rate, dtype)
    out = OutputStream(name="source")
    out.configure(protocol="tcp", interface="127.0.0.1", dtype=dtype, shape=(-1, n_ch), sample_rate=rate)
    conn.send(out.params.to_dict())
    done = threading.Event()
    sent = [0]

    def step():
        if sent[0] >= n_chunks:
            done.set()
            return
        out.send(chunk)
        sent[0] += 1

    try:
        if conn.poll(60) and conn.recv() == "go":
            loop = PacedLoop(step, CHUNK_S, name="bench-source")
            loop.start()
            done.wait(n_chunks * CHUNK_S * 3 + 60)
            loop.stop()
            loop.join(10)
            conn.send(sent[0] * len(chunk))
            conn.poll(120)  # the recorder has everything: close
    finally:
        out.close()


def bench_realtime(workdir: Path, n_ch: int, rate: float, dtype: str, seconds: float) -> dict:
    n_chunks = round(seconds / CHUNK_S)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_paced_source, args=(child, n_ch, rate, dtype, n_chunks), daemon=True)
    proc.start()
    try:
        if not parent.poll(60):
            raise TimeoutError("the source process did not start")
        params = parent.recv()
        dirname = workdir / f"rt-{n_ch}-{int(rate)}"
        rec = RawRecorder(name="rec")
        rec.configure(streams={"sig": params}, dirname=dirname)
        with rec:
            rec.initialize()
            rec.start()
            file = rec._files["sig"]
            cpu0, t0 = time.process_time(), time.perf_counter()
            parent.send("go")
            if not parent.poll(seconds * 3 + 120):
                raise TimeoutError("the source did not finish")
            sent = parent.recv()
            _wait(lambda: file.n_written >= sent or rec.inputs["sig"].lost_samples > 0)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            rec.stop()
        parent.send("close")
        recorded = len(read_recording(dirname)["sig"])
        nbytes = recorded * n_ch * np.dtype(dtype).itemsize
        shutil.rmtree(dirname)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
            proc.join(10)
    bare = _bare_paced(workdir, n_ch, rate, dtype, n_chunks)
    return dict(sent=sent, recorded=recorded, cpu=100 * cpu / wall, mbps=nbytes / wall / 1e6, **bare)


def _bare_paced(workdir: Path, n_ch: int, rate: float, dtype: str, n_chunks: int) -> dict:
    """Run the baseline: a paced loop in this process writing the same chunks, flushed every FLUSH_S."""
    chunk = _chunk(n_ch, rate, dtype)
    path = workdir / "bare-paced.raw"
    done = threading.Event()
    state = dict(n=0, last_flush=time.monotonic())
    with open(path, "wb") as f:

        def step():
            if state["n"] >= n_chunks:
                done.set()
                return
            f.write(chunk)
            state["n"] += 1
            now = time.monotonic()
            if now - state["last_flush"] >= FLUSH_S:
                f.flush()
                state["last_flush"] = now

        loop = PacedLoop(step, CHUNK_S, name="bench-bare")
        cpu0, t0 = time.process_time(), time.perf_counter()
        loop.start()
        done.wait(n_chunks * CHUNK_S * 3 + 60)
        loop.stop()
        loop.join(10)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    nbytes = path.stat().st_size
    path.unlink()
    return dict(bare_cpu=100 * cpu / wall, bare_mbps=nbytes / wall / 1e6)


# -- flat out ---------------------------------------------------------------------------------------------
def _bare_flat(path: Path, chunk: np.ndarray, n_chunks: int, flush_every: float | None) -> float:
    """Seconds for a bare loop writing the chunks (flushed every ``flush_every`` s if given), then closed."""
    t0 = time.perf_counter()
    last = time.monotonic()
    with open(path, "wb") as f:
        for _ in range(n_chunks):
            f.write(chunk)
            if flush_every is not None:
                now = time.monotonic()
                if now - last >= flush_every:
                    f.flush()
                    last = now
    seconds = time.perf_counter() - t0
    path.unlink()
    return seconds


def _clock_writes(file, total: int) -> tuple[threading.Event, list]:
    """Wrap one RawStreamFile's methods (on the instance) to time the recording without polling it.

    Returns an event set when ``file`` has accepted ``total`` samples, and
    ``last``, whose ``[0]`` is the latest of: the last ``writev`` returning,
    the last chunk accepted. A polling loop would take the GIL from the
    recorder's threads every few ms, and its period would blur a
    measurement that lasts a few hundred ms.
    """
    accepted = threading.Event()
    last = [0.0]
    write, writev = file.write, file.file.writev

    def timed_write(data):
        write(data)
        if file.n_written >= total:
            last[0] = max(last[0], time.perf_counter())
            accepted.set()

    def timed_writev(buffers):
        n = writev(buffers)
        last[0] = max(last[0], time.perf_counter())
        return n

    file.write, file.file.writev = timed_write, timed_writev
    return accepted, last


def _recorder_flat(workdir: Path, tag: str, chunk: np.ndarray, n_chunks: int, rate: float, queued: bool) -> tuple:
    """Seconds for RawRecorder to receive the chunks and hand them to the OS.

    The clock stops when every chunk is received and every batch handed to the I/O thread is written: only
    the gathered tail (< 1 MB, which the flush policy lets wait up to 1 s) is left for ``stop()``.
    """
    n_ch, dtype = chunk.shape[1], chunk.dtype.str
    out = OutputStream(name="source")
    # queued: room in the stream for every chunk, so they all wait in it before the recorder starts
    out.configure(
        protocol="inproc", dtype=dtype, shape=(-1, n_ch), sample_rate=rate, hwm=n_chunks + 16 if queued else 1000
    )
    dirname = workdir / f"flat-{tag}-{n_ch}"
    rec = RawRecorder(name="rec")
    rec.configure(streams={"sig": out}, dirname=dirname, max_buffered=1e9)
    total = n_chunks * len(chunk)
    with out, rec:
        rec.initialize()
        if queued:
            for _ in range(n_chunks):
                out.send(chunk)
        rec.start()
        file = rec._files["sig"]
        accepted, last = _clock_writes(file, total)
        t0 = time.perf_counter()
        if not queued:
            window = max(1, int(32e6 // chunk.nbytes)) * len(chunk)  # within the reader's bound (no drop)
            sent = 0
            for _ in range(n_chunks):
                while sent - file.n_written > window:
                    time.sleep(0.002)
                out.send(chunk)
                sent += len(chunk)
        if file.n_written < total and not accepted.wait(300):
            raise TimeoutError("the recorder did not receive every chunk within 300 s")
        _wait(lambda: file.queued_bytes == 0)
        seconds = last[0] - t0
        lost = rec.inputs["sig"].lost_samples
        rec.stop()
    if lost:
        raise RuntimeError(f"the flat-out recorder lost {lost} samples: the benchmark is invalid")
    return seconds, dirname


def bench_flat_out(workdir: Path, n_ch: int, rate: float, dtype: str, megabytes: float, rounds: int) -> dict:
    """Median MB/s over ``rounds`` rounds, the variants alternating within each round."""
    chunk = _chunk(n_ch, rate, dtype)
    n_chunks = max(1, int(megabytes * 1e6 / chunk.nbytes))
    mb = n_chunks * chunk.nbytes / 1e6
    times: dict[str, list[float]] = {"bare": [], "bare_flush": [], "live": [], "queued": []}
    dirname = None
    for k in range(rounds):
        times["bare"].append(_bare_flat(workdir / "bare.raw", chunk, n_chunks, None))
        times["bare_flush"].append(_bare_flat(workdir / "bare.raw", chunk, n_chunks, FLUSH_S))
        seconds, dirname = _recorder_flat(workdir, f"live{k}", chunk, n_chunks, rate, queued=False)
        times["live"].append(seconds)
        shutil.rmtree(dirname)
        seconds, dirname = _recorder_flat(workdir, f"queued{k}", chunk, n_chunks, rate, queued=True)
        times["queued"].append(seconds)
        if k < rounds - 1:
            shutil.rmtree(dirname)
    result = {key: mb / float(np.median(values)) for key, values in times.items()}
    ratios = [times["bare"][k] / times["queued"][k] for k in range(rounds)]  # paired: the same round
    return dict(
        result,
        dirname=dirname,
        nbytes=n_chunks * chunk.nbytes,
        chunk_kb=chunk.nbytes / 1e3,
        ratio=float(np.median(ratios)),
        ratio_quartiles=tuple(np.percentile(ratios, [25, 75])),
    )


# -- XDF vs LabRecorder ---------------------------------------------------------------------------------------
XDF_RECORDERS = ("LabRecorder", "lslacq record -o x.xdf", "LslInlet -> XdfRecorder")
XDF_FORMATS = {"int16": "int16", "float32": "float32"}


def _lsl_source(conn, name: str, n_ch: int, rate: float, dtype: str, seconds: float) -> None:
    """Child process: an LSL outlet pushing 10 ms chunks in real time once told to; reports samples sent."""
    import pylsl

    chunk = _chunk(n_ch, rate, dtype)
    info = pylsl.StreamInfo(name, "EEG", n_ch, rate, XDF_FORMATS[dtype], f"{name}-sid")
    chans = info.desc().append_child("channels")
    for i in range(n_ch):
        chans.append_child("channel").append_child_value("label", f"ch{i}")
    outlet = pylsl.StreamOutlet(info, 0, 360)
    conn.send("ready")
    n_chunks = round(seconds / CHUNK_S)
    try:
        if conn.poll(120) and conn.recv() == "go":
            t0 = pylsl.local_clock()
            for k in range(n_chunks):
                due = t0 + (k + 1) * CHUNK_S
                delay = due - pylsl.local_clock()
                if delay > 0:
                    time.sleep(delay)
                outlet.push_chunk(chunk, due)  # the last sample's time; liblsl back-dates the others
            conn.send(n_chunks * len(chunk))
            conn.poll(600)  # the recorders have stopped: close
    finally:
        del outlet


def _thread_cpu(prefix: str) -> float | None:
    """CPU seconds of this process's threads whose name starts with ``prefix`` (Linux: /proc), else None."""
    ids = [t.native_id for t in threading.enumerate() if t.name.startswith(prefix)]
    total = 0.0
    try:
        for tid in ids:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None
    return total if ids else None


def _threads_cpu() -> dict[str, float]:
    """CPU seconds of every thread of this process, by name (Python's names, else the kernel's), Linux only."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                head, tail = f.read().rsplit(")", 1)
        except OSError:
            continue  # ended meanwhile
        fields = tail.split()
        name = names.get(int(tid)) or head.split("(", 1)[1]
        name = re.sub(r"\d+$", "#", name)  # numbered threads of one kind together
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def _xdf_recorder(conn, kind: str, name: str, path: str, drain_s: float) -> None:
    """Child process: one recorder of the LSL stream ``name``; reports (samples, CPU s, wall s)."""
    import gc

    import pylsl

    infos = pylsl.resolve_byprop("name", name, 1, 30)
    if not infos:
        conn.send(("error", f"no LSL stream {name!r}"))
        return
    # imports first: the CPU measured is the recording's
    if kind == "LabRecorder":
        import labrecorder

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # it prints a line per step of every stream
    elif kind == "lslacq record -o x.xdf":
        from lslacq_lsl.xdf_record import LslXdfRecording
    else:
        from lslacq.rec.xdfrecorder import XdfRecorder
        from lslacq_lsl.inlet import LslInlet
    threads0 = _threads_cpu()
    times0, t0 = os.times(), time.perf_counter()
    if kind == "LabRecorder":
        rec = labrecorder.Recording(path, infos)
        count = None
    elif kind == "lslacq record -o x.xdf":
        rec = LslXdfRecording(path, infos)
        count = lambda: sum(rec.counts().values())  # noqa: E731
    else:
        inlet = LslInlet(name="inlet")
        # XdfRecorder stamps samples from their indexes: no liblsl timestamp post-processing needed; a recorder
        # needs no low latency: the inlet takes what is queued every 0.5 s (LabRecorder's own pull interval)
        inlet.configure(name=name, resolve_timeout=30, clocksync=False, dejitter=False, pull_interval=0.5)
        inlet.outputs["signals"].configure(protocol="inproc")
        rec = XdfRecorder(name="rec")
        rec.configure(streams={name: inlet.outputs["signals"]}, filename=path)
        inlet.initialize()
        rec.initialize()
        rec.start()
        inlet.start()
        count = lambda: rec.counters()["samples_written"]  # noqa: E731
    conn.send(("ready", None))
    try:
        message = conn.recv() if conn.poll(600) else ("stop", None)
        sent = message[1]
        # the same drain time for every recorder (LabRecorder has no "caught up" signal)
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline:
            time.sleep(0.05)
        got = count() if count is not None else None
        inlet_cpu = _thread_cpu("inlet-") if kind == "LslInlet -> XdfRecorder" else None
        threads = _threads_cpu()  # before the teardown (ended threads leave /proc)
        threads = {k: v - threads0.get(k, 0.0) for k, v in threads.items()}
        if kind == "LabRecorder":
            rec.stop()
            del rec  # LabRecorder finishes its file when the Recording is destroyed
            gc.collect()
        elif kind == "lslacq record -o x.xdf":
            rec.stop()
            del rec  # its inlets are destroyed here, as LabRecorder's are (liblsl joins their threads)
            gc.collect()
        else:
            inlet.stop()
            rec.stop()
            rec.close()
            inlet.close()
        times1, wall = os.times(), time.perf_counter() - t0
        user, system = times1.user - times0.user, times1.system - times0.system
        conn.send(
            (
                "done",
                dict(
                    cpu=user + system,
                    user=user,
                    system=system,
                    wall=wall,
                    counted=got,
                    sent=sent,
                    inlet_cpu=inlet_cpu,
                    threads=threads,
                ),
            )
        )
    except BaseException as exc:
        conn.send(("error", repr(exc)))
        raise


def bench_xdf(workdir: Path, n_ch: int, rate: float, dtype: str, seconds: float, drain_s: float = 2.0) -> dict:
    """Record one LSL stream with LabRecorder and lslacq's two XDF recorders at once; return per recorder."""
    import uuid

    from lslacq.rec.xdf_check import scan_xdf

    name = f"bench-xdf-{n_ch}-{uuid.uuid4().hex[:6]}"
    ctx = multiprocessing.get_context("spawn")
    src_conn, child = ctx.Pipe()
    source = ctx.Process(target=_lsl_source, args=(child, name, n_ch, rate, dtype, seconds), daemon=True)
    source.start()
    procs, conns, paths = {}, {}, {}
    try:
        if not src_conn.poll(60):
            raise TimeoutError("the LSL source process did not start")
        src_conn.recv()
        for i, kind in enumerate(XDF_RECORDERS):
            paths[kind] = workdir / f"xdf-{n_ch}-{i}.xdf"
            conns[kind], child = ctx.Pipe()
            procs[kind] = ctx.Process(
                target=_xdf_recorder, args=(child, kind, name, str(paths[kind]), drain_s), daemon=True
            )
            procs[kind].start()
        for kind, conn in conns.items():
            if not conn.poll(120):
                raise TimeoutError(f"recorder {kind!r} did not start")
            state, detail = conn.recv()
            if state != "ready":
                raise RuntimeError(f"recorder {kind!r}: {detail}")
        time.sleep(1.0)  # every inlet subscribed (open_stream returns before the first sample is queued)
        src_conn.send("go")
        if not src_conn.poll(seconds * 3 + 120):
            raise TimeoutError("the LSL source did not finish")
        sent = src_conn.recv()
        for conn in conns.values():
            conn.send(("stop", sent))
        results = {}
        for kind, conn in conns.items():
            if not conn.poll(600):
                raise TimeoutError(f"recorder {kind!r} did not stop")
            state, detail = conn.recv()
            if state != "done":
                raise RuntimeError(f"recorder {kind!r}: {detail}")
            procs[kind].join(60)
            scan = scan_xdf(paths[kind])
            detail["recorded"] = sum(s.sample_count for s in scan.streams.values())
            detail["bytes"] = scan.size
            results[kind] = detail
        src_conn.send("close")
    finally:
        for proc in (*procs.values(), source):
            proc.join(30)
            if proc.is_alive():
                proc.kill()
                proc.join(10)
        for path in paths.values():
            if path.exists():
                path.unlink()
    return dict(sent=sent, recorders=results)


def print_xdf(seconds: float, workdir: Path, cases=CASES, threads: bool = False) -> None:
    print(
        f"\nXDF, {seconds:.0f} s per case: one LSL outlet (10 ms chunks, another process) recorded at the same "
        "time by three recorders, each in its own process; CPU = that process's CPU time from opening to closing "
        "the file / the wall time of the recording, % of one core (user + sys: its user and kernel parts); "
        "ratio = CPU / LabRecorder's; LslInlet = the CPU of the LslInlet's pull thread, included in its row's CPU"
    )
    print(
        f"{'case':<24}{'recorder':<26}{'sent':>10}{'recorded':>10}{'lost':>6}{'CPU s':>8}{'user':>7}{'sys':>7}"
        f"{'CPU %':>7}{'ratio':>7}{'LslInlet':>9}{'MB':>8}"
    )
    for label, n_ch, rate, dtype in cases:
        r = bench_xdf(workdir, n_ch, rate, dtype, seconds)
        base = r["recorders"]["LabRecorder"]["cpu"]
        for kind in XDF_RECORDERS:
            x = r["recorders"][kind]
            print(
                f"{label:<24}{kind:<26}{r['sent']:>10d}{x['recorded']:>10d}{r['sent'] - x['recorded']:>6d}"
                f"{x['cpu']:>8.2f}{x['user']:>7.2f}{x['system']:>7.2f}{100 * x['cpu'] / x['wall']:>7.1f}"
                f"{x['cpu'] / base:>7.2f}"
                f"{'-' if x['inlet_cpu'] is None else format(x['inlet_cpu'], '.2f'):>9}"
                f"{x['bytes'] / 1e6:>8.0f}",
                flush=True,
            )
        if threads:
            for kind in XDF_RECORDERS:
                per = sorted(r["recorders"][kind]["threads"].items(), key=lambda item: -item[1])
                print(
                    f"  {kind}: threads (CPU s, opening to before the teardown): "
                    + ", ".join(f"{k} {v:.2f}" for k, v in per if v > 0),
                    flush=True,
                )


# -- reading --------------------------------------------------------------------------------------------------
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
    del raw
    recording.close()
    return dict(fromfile=t_fromfile, open=t_open, mne=t_mne, n=n)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 s real time per case, 256 MB flat out")
    parser.add_argument("--rounds", type=int, default=7, help="flat-out rounds (median; default 7)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: the temporary directory)")
    parser.add_argument(
        "--seconds", type=float, default=None, help="seconds of real time per case (default 60; 5 with --quick)"
    )
    parser.add_argument("--xdf", action="store_true", help="only the XDF comparison with LabRecorder")
    parser.add_argument(
        "--case", choices=("256", "64"), default=None, help="only the case with this many channels (default: both)"
    )
    parser.add_argument(
        "--threads", action="store_true", help="XDF part: also the CPU of each recorder's threads, by name"
    )
    args = parser.parse_args(argv)
    seconds = args.seconds or (5.0 if args.quick else 60.0)
    cases = [c for c in CASES if args.case is None or c[1] == int(args.case)]
    megabytes = 256.0 if args.quick else 1000.0
    where = args.dir or Path(tempfile.gettempdir())
    need = 2.2 * megabytes * 1e6 + 100e6  # the flat-out recording, a bare file beside it, slack
    free = shutil.disk_usage(where).free
    if free < need:
        raise SystemExit(
            f"{where} has {free / 1e9:.1f} GB free; this run needs {need / 1e9:.1f} GB (use --dir or --quick)"
        )
    print(
        f"lslacq recording benchmark  (Python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
        f"{free / 1e9:.0f} GB free in {where})"
    )
    base = Path(tempfile.mkdtemp(prefix="lslacq-bench-rec-", dir=args.dir))
    os.environ.setdefault("LSLACQ_LIBLSL_LOG_LEVEL", "-2")  # the recorder processes' liblsl stays quiet
    if args.xdf:
        try:
            print_xdf(seconds, base, cases, args.threads)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return 0
    try:
        print(
            f"\nReal time, {seconds:.0f} s per case, 10 ms chunks from another process over tcp; CPU = this "
            "process's CPU time / wall time, % of one core"
        )
        print(
            f"{'case':<24}{'sent':>10}{'recorded':>10}{'lost':>6}{'rec MB/s':>10}{'bare MB/s':>10}"
            f"{'ratio':>7}{'rec CPU%':>10}{'bare CPU%':>10}"
        )
        for label, n_ch, rate, dtype in cases:
            r = bench_realtime(base, n_ch, rate, dtype, seconds)
            print(
                f"{label:<24}{r['sent']:>10d}{r['recorded']:>10d}{r['sent'] - r['recorded']:>6d}"
                f"{r['mbps']:>10.2f}{r['bare_mbps']:>10.2f}{r['mbps'] / r['bare_mbps']:>7.2f}"
                f"{r['cpu']:>10.1f}{r['bare_cpu']:>10.1f}"
            )
        print(
            f"\nFlat out, {megabytes:.0f} MB of the same 10 ms chunks, median of {args.rounds} rounds; ratio = "
            "recorder MB/s / bare file.write loop MB/s (target >= 0.8); recorder = receive from the stream + write"
        )
        print(
            f"{'case':<24}{'chunk':>9}{'bare':>8}{'bare+flush':>11}{'queued':>8}{'live':>8}"
            f"{'queued/bare':>12}{'quartiles':>12}{'/bare+flush':>12}{'live/bare':>10}"
        )
        flat = None
        for label, n_ch, rate, dtype in cases:
            r = bench_flat_out(base, n_ch, rate, dtype, megabytes, args.rounds)
            print(
                f"{label:<24}{r['chunk_kb']:>6.0f} kB{r['bare']:>8.0f}{r['bare_flush']:>11.0f}"
                f"{r['queued']:>8.0f}{r['live']:>8.0f}{r['ratio']:>12.2f}"
                f"{r['ratio_quartiles'][0]:>7.2f}-{r['ratio_quartiles'][1]:.2f}"
                f"{r['queued'] / r['bare_flush']:>12.2f}{r['live'] / r['bare']:>10.2f}"
            )
            if flat is not None:
                shutil.rmtree(flat[0])
            flat = (r["dirname"], dtype, n_ch, r["nbytes"])
        print(
            "(MB/s, medians; queued/bare = median over rounds of the ratio within a round, with its quartiles; "
            "bare+flush = bare loop with flush() every 1 s, the recorder's crash-safe default)"
        )
        dirname, dtype, n_ch, nbytes = flat
        r = bench_read(dirname, dtype, n_ch)
        print(
            f"\nReading {nbytes / 1e6:.0f} MB ({n_ch} ch {dtype}, {r['n']} samples, page cache warm); "
            "ratio = time / np.fromfile"
        )
        print(f"{'what':<34}{'s':>8}{'ratio':>8}")
        print(f"{'np.fromfile (baseline)':<34}{r['fromfile']:>8.3f}{1.0:>8.2f}")
        print(f"{'read_recording (memory-mapped)':<34}{r['open']:>8.4f}{r['open'] / r['fromfile']:>8.3f}")
        print(f"{'to_mne (float64 volts, in RAM)':<34}{r['mne']:>8.3f}{r['mne'] / r['fromfile']:>8.2f}")
        print(
            f"{'read_recording + to_mne':<34}{r['open'] + r['mne']:>8.3f}{(r['open'] + r['mne']) / r['fromfile']:>8.2f}"
        )
        shutil.rmtree(dirname)
        print_xdf(seconds, base, cases, args.threads)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
