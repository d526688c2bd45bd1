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

The bare loop's CPU varies several-fold from run to run on a virtual machine
(0.15-0.80 cores for 16 probes on the benchmark VM: most of it is the kernel
filling page-cache pages, whose cost depends on whether the host still backs
them; docs/benchmarks.md), so bare loop and graph alternate over ``--rounds``
rounds (3; 1 with ``--quick``; the bare loop first in odd rounds, the graph
first in even ones) and the table gives each round, then the
medians, the ratio of the medians and the spread of the per-round ratios.

Run: ``python benchmarks/scale.py [--probes 1,4,16] [--seconds 20] [--rounds 3] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
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


def _round(n: int, seconds: float, bare_first: bool) -> tuple[dict, dict]:
    """One round: the bare loop and the graph, in this order or the other (rounds alternate it)."""
    tmp = tempfile.mkdtemp(prefix="lslacq-scale-")
    try:
        if bare_first:
            bare = _bare_loop(n, seconds, tmp)
            res = _graph(n, seconds, tmp)
        else:
            res = _graph(n, seconds, tmp)
            bare = _bare_loop(n, seconds, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return bare, res


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", default=None, help="comma-separated probe counts (default 1,4,16)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per run (default 20)")
    parser.add_argument(
        "--rounds", type=int, default=None, help="bare/graph rounds per probe count, alternating (default 3)"
    )
    parser.add_argument("--quick", action="store_true", help="1 and 4 probes, 5 s, 1 round")
    args = parser.parse_args()
    probes = [int(x) for x in (args.probes or ("1,4" if args.quick else "1,4,16")).split(",")]
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    rounds = args.rounds or (1 if args.quick else 3)
    if rounds < 1:
        raise SystemExit(f"--rounds must be >= 1, not {rounds}")
    print(
        f"# scale benchmark -- {platform.node()} {os.cpu_count()} cpus, python {platform.python_version()}; "
        f"{N_CHAN} ch @ {RATE} Hz int16 per probe, {seconds:g} s per run, {rounds} round(s) bare/graph "
        f"alternating; load average {_load()}"
    )
    header = (
        f"{'probes':>6} {'round':>6} {'MB/s':>7} | {'dev cores':>9} {'rec cores':>9} {'graph':>6} | {'bare':>6} | "
        f"{'ratio':>6} | {'lost':>6} {'identical':>9} | {'load 1 min':>10}"
    )
    print(header)
    print("-" * len(header))
    summary = []
    for n in probes:
        mbps = n * RATE * N_CHAN * 2 / 1e6
        runs = []
        for r in range(rounds):
            bare, res = _round(n, seconds, bare_first=r % 2 == 0)
            graph = res["cores_dev"] + res["cores_rec"]
            runs.append((bare["cores"], res["cores_dev"], res["cores_rec"], graph, res["lost"], res["identical"]))
            print(
                f"{n:6d} {r + 1:6d} {mbps:7.0f} | {res['cores_dev']:9.2f} {res['cores_rec']:9.2f} {graph:6.2f} | "
                f"{bare['cores']:6.2f} | {graph / bare['cores']:6.2f} | {res['lost']:6d} "
                f"{str(res['identical']):>9} | {os.getloadavg()[0]:10.1f}",
                flush=True,
            )
        med = [statistics.median(run[i] for run in runs) for i in range(4)]
        ratios = [run[3] / run[0] for run in runs]
        summary.append((n, mbps, med, ratios, sum(run[4] for run in runs), all(run[5] for run in runs), runs))
    print(f"\nmedians over {rounds} round(s) (min-max):")
    header = (
        f"{'probes':>6} {'MB/s':>7} | {'rec cores':>16} {'graph':>16} | {'bare':>16} | "
        f"{'median ratio':>12} {'per round':>11} | {'lost':>6} {'identical':>9}"
    )
    print(header)
    print("-" * len(header))
    for n, mbps, med, ratios, lost, identical, runs in summary:
        spread = [
            f"{med[i]:.2f} ({min(run[i] for run in runs):.2f}-{max(run[i] for run in runs):.2f})" for i in (2, 3, 0)
        ]
        print(
            f"{n:6d} {mbps:7.0f} | {spread[0]:>16} {spread[1]:>16} | {spread[2]:>16} | "
            f"{med[3] / med[0]:12.2f} {min(ratios):5.2f}-{max(ratios):<5.2f} | {lost:6d} {str(identical):>9}"
        )
    print(
        "\ngraph: CPU of the probes' NodeGroup + the recorder's NodeGroup (cores); bare: one process copying and "
        "writing the same chunks on the same schedule; ratio = graph / bare (median ratio: of the medians; per "
        "round: the lowest and highest of the rounds' ratios). identical: every recorded sample equals the "
        f"device's. The bare loop's CPU is mostly the kernel's page cache, noisy on a VM (docs/benchmarks.md). "
        f"Load average at the end: {_load()}"
    )


if __name__ == "__main__":
    main()
