"""Soak: the demo graph plus a filter and a recorder across three processes, for minutes, sampled each minute.

The graph (``examples/graphs/demo.toml``'s nodes, spread out, plus a filter
and a recorder):

- nodegroup ``acq``: ``SimulatedEEG`` (32 channels at 500 Hz, a stimulus
  event each second);
- nodegroup ``dsp``: ``SosFilter`` (4th-order 1-40 Hz band-pass) of the EEG;
- nodegroup ``rec``: ``RawRecorder`` of the raw EEG, the filtered EEG and the
  events;
- this process: the demo's two ``LslOutlet`` (filtered EEG and markers) and
  a pylsl inlet pulling the EEG outlet as an LSL client would;
- plus the manager process.

Every process's RSS, open file descriptors and threads are sampled at the
start of the run (minute 0, after start-up) and at the end of each minute.
The baseline is the first minute's sample (start-up and first-use
allocations are done by then); each later sample is printed with its
difference from it. Verdict, per process: RSS growth under 5 MB/h
(least-squares slope over the samples from minute 1 on), no fd growth and no
thread growth (last sample == first minute's); and zero loss: no node lost a
sample, the recording holds every sample each stream sent with no
discontinuity, and the pylsl inlet received every sample the outlet pushed.

Run: ``python benchmarks/soak.py [--minutes 10] [--interval 60]``
(``--interval`` is the sampling period in seconds; the growth limits are
per hour whatever it is).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import threading
import time

import numpy as np
import psutil

N_CHAN, RATE = 32, 500.0
RSS_LIMIT_MB_PER_H = 5.0


class _LslClient(threading.Thread):
    """Pull the named LSL stream until stopped, counting samples (an LSL client in this process)."""

    def __init__(self, name: str):
        super().__init__(name="soak-pylsl-inlet", daemon=True)
        self.stream_name = name
        self.received = 0
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        import pylsl

        try:
            infos = pylsl.resolve_byprop("name", self.stream_name, timeout=10.0)
            if not infos:
                raise RuntimeError(f"no LSL stream named {self.stream_name!r} within 10 s")
            inlet = pylsl.StreamInlet(infos[0], max_buflen=360)
            inlet.open_stream(timeout=10.0)
            self.ready.set()
            buffer = np.empty((4096, N_CHAN), dtype=np.float32)
            idle_since = None
            while True:
                _, stamps = inlet.pull_chunk(timeout=0.2, max_samples=len(buffer), dest_obj=buffer)
                n = len(stamps)
                self.received += n
                if self.stopping.is_set():  # drain: stop after 2 s with nothing new
                    if n:
                        idle_since = None
                    elif idle_since is None:
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since > 2.0:
                        break
            inlet.close_stream()
        except BaseException as exc:
            self.error = exc
            self.ready.set()


def _sample(procs: dict[str, psutil.Process]) -> dict[str, tuple[float, int, int]]:
    """``{process: (rss MB, open fds, threads)}``."""
    out = {}
    for label, proc in procs.items():
        with proc.oneshot():
            out[label] = (proc.memory_info().rss / 1e6, proc.num_fds(), proc.num_threads())
    return out


def _slope_per_hour(minutes: list[float], values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    return float(np.polyfit(np.asarray(minutes) / 60.0, np.asarray(values), 1)[0])


def build(man, dirname: str):
    """Build the soak graph, initialized, not started; return ``(nodes, lsl_name)``."""
    from lslacq.dsp import design_sos
    from lslacq_lsl.outlet import LslOutlet

    ng_acq = man.create_nodegroup("acq")
    ng_dsp = man.create_nodegroup("dsp")
    ng_rec = man.create_nodegroup("rec")
    eeg = ng_acq.create_node("SimulatedEEG", name="eeg")
    eeg.configure(nb_channel=N_CHAN, sample_rate=RATE, event_interval=1.0)
    for out in ("signals", "events"):
        eeg.outputs[out].configure(protocol="tcp", interface="127.0.0.1")
    eeg.initialize()
    filt = ng_dsp.create_node("SosFilter", name="filt")
    filt.configure(coefficients=design_sos(kind="bandpass", freqs=[1.0, 40.0], sample_rate=RATE, order=4))
    filt.inputs["signals"].connect(eeg.outputs["signals"])
    filt.outputs["signals"].configure(protocol="tcp", interface="127.0.0.1")
    filt.initialize()
    rec = ng_rec.create_node("RawRecorder", name="rec")
    rec.configure(
        streams={"raw": eeg.outputs["signals"], "filtered": filt.outputs["signals"], "events": eeg.outputs["events"]},
        dirname=os.path.join(dirname, "rec"),
    )
    rec.initialize()
    lsl_name = f"lslacq-soak-{os.getpid()}"
    outlet = LslOutlet(name="eeg_outlet")
    outlet.configure(name=lsl_name, type="EEG")
    outlet.inputs["signals"].connect(filt.outputs["signals"])
    outlet.initialize()
    markers = LslOutlet(name="marker_outlet")
    markers.configure(name=f"{lsl_name}-Markers", type="Markers", reference="eeg_outlet")
    markers.inputs["signals"].connect(eeg.outputs["events"])
    markers.initialize()
    nodes = {"eeg": eeg, "filt": filt, "rec": rec, "eeg_outlet": outlet, "marker_outlet": markers}
    groups = {"acq": ng_acq, "dsp": ng_dsp, "rec": ng_rec}
    return nodes, groups, lsl_name


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def run(minutes: float, interval: float, dirname: str) -> int:
    from lslacq.core import create_manager
    from lslacq.rec import read_recording

    man = create_manager("rpc", auto_close_at_exit=False)
    nodes = {}
    client = None
    try:
        nodes, groups, lsl_name = build(man, dirname)
        me = psutil.Process()
        procs = {"main": me}
        for label, ng in groups.items():
            procs[label] = psutil.Process(ng._client()._import("os").getpid())
        others = [p for p in me.children(recursive=True) if p.pid not in {q.pid for q in procs.values()}]
        managers = [p for p in others if "resource_tracker" not in " ".join(p.cmdline())]
        if len(managers) == 1:
            procs["manager"] = managers[0]
        # readers before sources (pyacq's order)
        for name in ("rec", "eeg_outlet", "marker_outlet", "filt"):
            nodes[name].start()
        client = _LslClient(lsl_name)
        client.start()
        nodes["eeg"].start()
        if not client.ready.wait(20) or client.error is not None:
            raise RuntimeError(f"the pylsl inlet did not connect: {client.error}")

        t0 = time.monotonic()
        samples = [(0.0, _sample(procs))]
        n_samples = int(round(minutes * 60 / interval))
        header = f"{'min':>5} | " + " | ".join(f"{p + ' MB':>10} {'fds':>4} {'thr':>4}" for p in procs)
        print(header)
        print("-" * len(header))

        def show(t_min: float, row: dict, base: dict | None) -> None:
            cells = []
            for p, (rss, fds, thr) in row.items():
                if base is None:
                    cells.append(f"{rss:10.1f} {fds:4d} {thr:4d}")
                else:
                    b = base[p]
                    cells.append(f"{rss - b[0]:+10.2f} {fds - b[1]:+4d} {thr - b[2]:+4d}")
            print(f"{t_min:5.1f} | " + " | ".join(cells), flush=True)

        show(0.0, samples[0][1], None)
        for k in range(1, n_samples + 1):
            delay = t0 + k * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the soak itself: nothing to do but wait for the next sample
            t_min = (time.monotonic() - t0) / 60.0
            row = _sample(procs)
            samples.append((t_min, row))
            show(t_min, row, None if k == 1 else samples[1][1])
            for name, node in nodes.items():
                if node.error is not None:
                    print(f"# node {name} failed: {node.error}")
        t_run = time.monotonic() - t0

        nodes["eeg"].stop()
        sent = {"raw": int(nodes["eeg"].counters()["samples_out"])}
        _wait(lambda: int(nodes["filt"].counters()["samples_out"]) >= sent["raw"], 30)
        nodes["filt"].stop()
        sent["filtered"] = int(nodes["filt"].counters()["samples_out"])
        _wait(lambda: int(nodes["eeg_outlet"].counters()["samples_in"]) >= sent["filtered"], 30)
        client.stopping.set()
        client.join(30)
        pushed = int(nodes["eeg_outlet"].counters()["samples_in"])
        _wait(lambda: int(nodes["rec"].counters()["samples_written"]) >= sent["raw"] + sent["filtered"], 60)
        markers_in = int(nodes["marker_outlet"].counters()["samples_in"])
        lost = {}
        for name, node in nodes.items():
            node.stop()
            lost[name] = int(node.counters().get("lost_samples") or 0)
        errors = {name: str(node.error) for name, node in nodes.items() if node.error is not None}
        for node in nodes.values():
            node.close()
    finally:
        if client is not None:
            client.stopping.set()
        man.close()

    with read_recording(os.path.join(dirname, "rec")) as recording:
        recorded = {name: len(recording[name]) for name in ("raw", "filtered", "events")}
        # a gap or a restart in a signal file: its stream indexes are not consecutive
        discontinuities = {
            name: int(np.count_nonzero(np.diff(recording[name].indexes) != 1)) for name in ("raw", "filtered")
        }

    # verdict
    print()
    rows = samples[1:] if len(samples) > 2 else samples
    times = [t for t, _ in rows]
    ok = True
    print(f"{'process':>8} | {'RSS min1':>8} {'RSS last':>8} {'MB/h':>7} | {'fds':>9} | {'threads':>9} | verdict")
    for p in procs:
        rss = [row[p][0] for _, row in rows]
        fds = [row[p][1] for _, row in rows]
        thr = [row[p][2] for _, row in rows]
        slope = _slope_per_hour(times, rss)
        flat = slope < RSS_LIMIT_MB_PER_H and fds[-1] <= fds[0] and thr[-1] <= thr[0]
        ok &= flat
        print(
            f"{p:>8} | {rss[0]:8.1f} {rss[-1]:8.1f} {slope:+7.2f} | {fds[0]:4d}->{fds[-1]:<4d} | "
            f"{thr[0]:4d}->{thr[-1]:<4d} | {'flat' if flat else 'GROWS'}"
        )
    complete = (
        recorded["raw"] == sent["raw"]
        and recorded["filtered"] == sent["filtered"]
        and recorded["events"] == markers_in
        and client.received == pushed
        and pushed == sent["filtered"]
    )
    no_loss = not any(lost.values()) and not any(discontinuities.values()) and complete and not errors
    ok &= no_loss
    print(
        f"\nrun {t_run / 60:.1f} min; samples sent: eeg {sent['raw']} ({sent['raw'] / t_run:.1f}/s), "
        f"filtered {sent['filtered']}; recorded: raw {recorded['raw']}, filtered {recorded['filtered']}, "
        f"events {recorded['events']} (marker outlet: {markers_in})"
        f"; LSL outlet pushed {pushed}, pylsl inlet received {client.received}"
    )
    print(
        f"lost_samples per node: {lost}; discontinuities in the recording: {discontinuities}"
        + (f"; node errors: {errors}" if errors else "")
    )
    print(
        f"\nverdict: {'PASS' if ok else 'FAIL'} -- per process RSS slope < {RSS_LIMIT_MB_PER_H:g} MB/h "
        "(least squares from minute 1), fds and threads at the end <= minute 1; zero loss "
        f"({'yes' if no_loss else 'NO'})"
    )
    if len(rows) < 6:
        print(
            f"note: {len(rows)} samples from the baseline on: the RSS slope of so short a run is mostly noise "
            "(allocator and page-cache steps of ~0.1 MB); soak for 30 minutes or more for a verdict on memory."
        )
    print(
        "table: minute 0 and minute 1 absolute (RSS MB, open fds, threads); later rows the difference from "
        "minute 1, the baseline."
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak (default 10)")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between samples (default 60)")
    parser.add_argument("--dir", default=None, help="directory for the recording (default: a temporary one)")
    args = parser.parse_args()
    print(
        f"# soak benchmark -- {platform.node()} {os.cpu_count()} cpus, python {platform.python_version()}; "
        f"{N_CHAN} ch @ {RATE:g} Hz, {args.minutes:g} min, a sample every {args.interval:g} s"
    )
    tmp = tempfile.mkdtemp(prefix="lslacq-soak-", dir=args.dir)
    try:
        return run(args.minutes, args.interval, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
