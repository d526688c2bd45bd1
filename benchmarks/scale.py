"""Scale: N Neuropixels-like probes recorded through a distributed graph, next to a bare write loop.

Each probe is a ``NumpyDeviceBuffer`` of 384 channels at 30 kHz, int16, in
chunks of 10 ms, all in one NodeGroup process; one ``RawRecorder`` in a
second NodeGroup records every probe (tcp streams, the defaults a user gets)
for ``--seconds`` (20). Measured: CPU of each NodeGroup process (cores, from
psutil over the run), samples lost, and that the files hold exactly what the
devices sent. The baseline, in the same run: a bare paced loop in one
process that, for every probe, copies each chunk out of the same buffer and
``file.write``s it (what the graph does, minus streams and nodes); its CPU
is the floor. The ratio is graph (both processes) / bare loop.

Run: ``python benchmarks/scale.py [--probes 1,4,16] [--seconds 20] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time

import numpy as np
import psutil

RATE, N_CHAN, CHUNK = 30_000, 384, 300  # 10 ms chunks
BUFFER_SAMPLES = 30_000  # each device loops over 1 s of data


def _buffer(probe: int) -> np.ndarray:
    rng = np.random.default_rng(probe)
    return rng.integers(-2000, 2000, size=(BUFFER_SAMPLES, N_CHAN), dtype=np.int16)


def _bare_loop(n_probes: int, seconds: float, dirname: str) -> dict:
    """Run the floor: copy and write the same chunks on the same schedule in one process."""
    buffers = [_buffer(k) for k in range(n_probes)]
    files = [open(os.path.join(dirname, f"bare{k}.raw"), "wb") for k in range(n_probes)]
    period = CHUNK / RATE
    proc = psutil.Process()
    cpu0 = proc.cpu_times()
    t0 = time.perf_counter()
    k = 0
    try:
        while True:
            due = t0 + k * period
            if due - t0 >= seconds:
                break
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pos = (k * CHUNK) % BUFFER_SAMPLES
            for buf, f in zip(buffers, files, strict=True):
                f.write(buf[pos : pos + CHUNK].copy())
            k += 1
    finally:
        for f in files:
            f.close()
    cpu1 = proc.cpu_times()
    wall = time.perf_counter() - t0
    return {"cores": (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall, "samples": k * CHUNK}


def _graph(n_probes: int, seconds: float, dirname: str) -> dict:
    from lslacq.core import create_manager
    from lslacq.rec import read_recording

    man = create_manager("rpc", auto_close_at_exit=False)
    try:
        ng_dev = man.create_nodegroup("probes")
        ng_rec = man.create_nodegroup("recorder")
        pids = [ng._client()._import("os").getpid() for ng in (ng_dev, ng_rec)]
        devs = []
        for k in range(n_probes):
            dev = ng_dev.create_node("NumpyDeviceBuffer", name=f"probe{k}")
            dev.configure(nb_channel=N_CHAN, sample_interval=1 / RATE, chunksize=CHUNK, buffer=_buffer(k))
            dev.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
            dev.initialize()
            devs.append(dev)
        rec = ng_rec.create_node("RawRecorder", name="rec")
        rec.configure(
            streams={f"probe{k}": dev.output for k, dev in enumerate(devs)}, dirname=os.path.join(dirname, "rec")
        )
        rec.initialize()
        rec.start()
        procs = [psutil.Process(pid) for pid in pids]
        cpu0 = [p.cpu_times() for p in procs]
        t0 = time.perf_counter()
        for dev in devs:
            dev.start()
        time.sleep(seconds)  # the measured run itself
        for dev in devs:
            dev.stop()
        wall = time.perf_counter() - t0
        cpu1 = [p.cpu_times() for p in procs]
        sent = [int(dev.counters()["samples_out"]) for dev in devs]
        deadline = time.monotonic() + 60
        while rec.counters()["samples_written"] < sum(sent) and time.monotonic() < deadline:  # every stream
            time.sleep(0.1)
        rec.stop()
        lost = int(rec.counters()["lost_samples"])
        cores = [(b.user + b.system - a.user - a.system) / wall for a, b in zip(cpu0, cpu1, strict=True)]
    finally:
        man.close()
    recording = read_recording(os.path.join(dirname, "rec"))
    identical = True
    recorded = 0
    for k in range(n_probes):
        stream = recording[f"probe{k}"]
        recorded += len(stream)
        start = stream.start_index
        positions = np.arange(start, start + len(stream)) % BUFFER_SAMPLES
        same = bool(np.array_equal(stream.data, _buffer(k)[positions]))
        if not same or len(stream) != sent[k]:
            print(
                f"# probe{k}: {len(stream)} samples recorded from index {start}, {sent[k]} sent, data "
                f"{'equal' if same else 'DIFFERENT'}"
            )
        identical &= same and len(stream) == sent[k]
    return {
        "cores_dev": cores[0],
        "cores_rec": cores[1],
        "lost": lost,
        "identical": identical,
        "recorded": recorded,
        "sent": sum(sent),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", default=None, help="comma-separated probe counts (default 1,4,16)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per run (default 20)")
    parser.add_argument("--quick", action="store_true", help="1 and 4 probes, 5 s")
    args = parser.parse_args()
    probes = [int(x) for x in (args.probes or ("1,4" if args.quick else "1,4,16")).split(",")]
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    print(
        f"# scale benchmark -- {platform.node()} {os.cpu_count()} cpus, python {platform.python_version()}; "
        f"{N_CHAN} ch @ {RATE} Hz int16 per probe, {seconds:g} s"
    )
    header = (
        f"{'probes':>6} {'MB/s':>7} | {'dev cores':>9} {'rec cores':>9} {'graph':>6} | {'bare':>6} | "
        f"{'ratio':>6} | {'lost':>6} {'identical':>9}"
    )
    print(header)
    print("-" * len(header))
    for n in probes:
        tmp = tempfile.mkdtemp(prefix="lslacq-scale-")
        try:
            bare = _bare_loop(n, seconds, tmp)
            res = _graph(n, seconds, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        graph = res["cores_dev"] + res["cores_rec"]
        mbps = n * RATE * N_CHAN * 2 / 1e6
        print(
            f"{n:6d} {mbps:7.0f} | {res['cores_dev']:9.2f} {res['cores_rec']:9.2f} {graph:6.2f} | "
            f"{bare['cores']:6.2f} | {graph / bare['cores']:6.2f} | {res['lost']:6d} {str(res['identical']):>9}",
            flush=True,
        )
    print(
        "\ngraph: CPU of the probes' NodeGroup + the recorder's NodeGroup (cores); bare: one process copying and "
        "writing the same chunks on the same schedule; ratio = graph / bare. identical: every recorded sample "
        "equals the device's."
    )


if __name__ == "__main__":
    main()
