"""LSL bridge benchmarks: ratios against bare pylsl / dareplane-utils measured in the same run.

Cases
-----
* outlet: 64 channels at 10 kHz float32, 100-sample chunks paced in real
  time. Baseline: a thread pushing the chunks straight into a pylsl
  StreamOutlet. Bridge: the same thread sends them into a graph output
  (inproc) read by an LslOutlet node. A consumer in another process pulls
  everything, checks every value (zero loss) and measures push-to-available
  latency (its local_clock() when a sample is pulled minus the sample's
  timestamp; for the bridge the timestamp is index-derived, so this includes
  the graph hop). Rounds of (bare, bridge at each ``--push-intervals``) are
  interleaved so machine load hits every variant alike. Reports the CPU of
  the LslOutlet thread against the bare pushing thread (the bridge itself;
  target <= 1.5) and of the whole producer process (graph send + bridge).
* watcher: 32 channels at 10 kHz from a pylsl outlet in another process;
  lslacq_lsl.StreamWatcher and dareplane-utils' StreamWatcher both connected,
  update() called every 10 ms on each. Reports per-call cost and CPU per
  second of stream (dareplane / ours; target >= 2), the cost of an update()
  with nothing queued, and whether both buffers hold identical data.

liblsl is configured for this machine only (127.0.0.1, no multicast) unless
LSLAPICFG is already set.

Usage: python benchmarks/lsl.py [--quick] [--case outlet|watcher|all] [--rounds N] [--push-intervals 0,20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid

import numpy as np

_CFG = """[ports]
IPv6 = disable
[multicast]
ResolveScope = machine
[lab]
KnownPeers = {127.0.0.1}
[tuning]
UnicastMinRTT = 0.1
UnicastMaxRTT = 0.5
[log]
level = -2
"""
if "LSLAPICFG" not in os.environ:
    _cfg_file = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
    _cfg_file.write(_CFG)
    _cfg_file.close()
    os.environ["LSLAPICFG"] = _cfg_file.name

import psutil  # noqa: E402
import pylsl  # noqa: E402

CONSUMER = textwrap.dedent("""
    import json, sys, time
    import numpy as np, pylsl
    source_id, n_expected, n_ch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    info = pylsl.resolve_byprop("source_id", source_id, timeout=20)[0]
    inlet = pylsl.StreamInlet(info, max_buflen=60)
    inlet.open_stream(timeout=20)
    print("ready", flush=True)
    buf = np.empty((4096, n_ch), np.float32)
    got, bad, lat = 0, 0, []
    deadline = time.monotonic() + 120
    while got < n_expected and time.monotonic() < deadline:
        data, ts = inlet.pull_chunk(timeout=0.2, max_samples=4096, dest_obj=buf, as_numpy=True)
        n = len(ts)
        if not n:
            continue
        now = pylsl.local_clock()
        lat.append(now - ts[-1])
        k = np.arange(got, got + n) % 1000
        bad += int(np.count_nonzero(data[:, 0] != k))
        got += n
    print(json.dumps({"received": got, "bad": bad, "latency_ms": [float(np.median(lat) * 1e3),
                      float(np.percentile(lat, 95) * 1e3)]}), flush=True)
""")

PRODUCER = textwrap.dedent("""
    import sys, time
    import numpy as np, pylsl
    name, seconds, n_ch, srate = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", n_ch, srate, "float32", name))
    chunk = 100
    data = (np.arange(chunk * 100)[:, None] % 1000 + np.zeros((1, n_ch))).astype(np.float32)
    print("ready", flush=True)
    sys.stdin.readline()  # go
    t0, k = time.perf_counter(), 0
    while k * chunk < seconds * srate:
        due = t0 + (k + 1) * chunk / srate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        outlet.push_chunk(data[(k % 100) * chunk:(k % 100 + 1) * chunk])
        k += 1
    print("done", k * chunk, flush=True)
    sys.stdin.readline()  # wait until the watchers have drained
""")


def _pace(seconds: float, srate: float, n_ch: int, push) -> int:
    """Call push(chunk) with 100-sample chunks in real time; return samples pushed."""
    chunk = 100
    pattern = (np.arange(1000)[:, None] + np.zeros((1, n_ch))).astype(np.float32)
    t0, k = time.perf_counter(), 0
    n_total = int(seconds * srate)
    while k * chunk < n_total:
        due = t0 + (k + 1) * chunk / srate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        start = (k * chunk) % 1000
        push(np.ascontiguousarray(pattern[start : start + chunk]))
        k += 1
    return k * chunk


def _thread_cpu(native_id: int) -> float:
    """CPU seconds used so far by the thread with this native id (ns resolution on Linux)."""
    try:
        with open(f"/proc/self/task/{native_id}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except OSError:
        pass
    for t in psutil.Process().threads():  # clock-tick resolution
        if t.id == native_id:
            return t.user_time + t.system_time
    return 0.0


def _consumer(source_id: str, n: int, n_ch: int):
    proc = subprocess.Popen(
        [sys.executable, "-c", CONSUMER, source_id, str(n), str(n_ch)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _bare_run(seconds: float, n_ch: int, srate: float, n: int) -> dict:
    """Run a bare pylsl outlet, the chunks pushed from this thread."""
    sid = f"bench-bare-{uuid.uuid4().hex[:6]}"
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(sid, "EEG", n_ch, srate, "float32", sid))
    consumer = _consumer(sid, n, n_ch)
    cpu0, t0 = time.process_time(), _thread_cpu(threading.get_native_id())
    pushed = _pace(seconds, srate, n_ch, lambda c: outlet.push_chunk(c, timestamp=pylsl.local_clock()))
    thread_cpu = _thread_cpu(threading.get_native_id()) - t0  # the thread that waits for and pushes each chunk
    cpu = time.process_time() - cpu0
    out = json.loads(consumer.communicate(timeout=120)[0])
    outlet = None  # liblsl destroys it
    return dict(out, pushed=pushed, cpu_s=cpu, thread_cpu_s=thread_cpu)


def outlet_case(seconds: float, push_intervals: tuple = (0.0,), rounds: int = 3) -> list[dict]:
    """Run rounds of (bare, bridge at each push_interval), interleaved so machine load hits all alike."""
    n_ch, srate = 64, 10_000.0
    n = int(seconds * srate)
    results = []
    for _ in range(rounds):
        r = {"bare": _bare_run(seconds, n_ch, srate, n)}
        for push_interval in push_intervals:
            r[f"bridge {push_interval * 1e3:g} ms"] = _bridge_run(seconds, n_ch, srate, n, push_interval)
        results.append(r)
    return results


def _bridge_run(seconds: float, n_ch: int, srate: float, n: int, push_interval: float) -> dict:
    """Graph output -> LslOutlet node, the chunks sent from this thread."""
    from lslacq.core.stream import OutputStream
    from lslacq_lsl import LslOutlet

    src = OutputStream(name="bench")
    src.configure(protocol="inproc", dtype="float32", shape=(-1, n_ch), sample_rate=srate)
    node = LslOutlet(name="bench-outlet")
    node.configure(name=f"bench-bridge-{uuid.uuid4().hex[:6]}", push_interval=push_interval)
    node.inputs["signals"].connect(src)
    node.initialize()
    node.start()
    consumer = _consumer(node.source_id, n, n_ch)
    outlet_thread = node._thread.native_id
    cpu0, t0 = time.process_time(), _thread_cpu(outlet_thread)
    pushed = _pace(seconds, srate, n_ch, src.send)
    wait_deadline = time.monotonic() + 10
    while node.n_pushed < pushed and time.monotonic() < wait_deadline:
        time.sleep(0.01)
    thread_cpu = _thread_cpu(outlet_thread) - t0  # the LslOutlet thread: waits for, receives and pushes each chunk
    cpu = time.process_time() - cpu0
    out = json.loads(consumer.communicate(timeout=120)[0])
    node.close()
    src.close()
    return dict(out, pushed=pushed, cpu_s=cpu, thread_cpu_s=thread_cpu)


def watcher_case(seconds: float, interval: float = 0.01) -> dict:
    import dareplane_utils.stream_watcher.lsl_stream_watcher as dp

    from lslacq_lsl import StreamWatcher

    n_ch, srate = 32, 10_000.0
    name = f"bench-watch-{uuid.uuid4().hex[:6]}"
    producer = subprocess.Popen(
        [sys.executable, "-c", PRODUCER, name, str(seconds), str(n_ch), str(srate)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert producer.stdout.readline().strip() == "ready"
    theirs = dp.StreamWatcher(name, buffer_size_s=2)
    theirs.connect_to_stream()
    theirs.inlet.open_stream(timeout=10)
    ours = StreamWatcher(name, buffer_size_s=2, clocksync=False)
    ours.connect_to_stream()

    # update() with nothing queued
    idle = {}
    for label, sw in (("dareplane", theirs), ("lslacq", ours)):
        t0 = time.perf_counter()
        for _ in range(2000):
            sw.update()
        idle[label] = (time.perf_counter() - t0) / 2000 * 1e6

    costs = {"dareplane": [], "lslacq": []}
    cpu = {"dareplane": 0.0, "lslacq": 0.0}
    pushed = []

    def wait_done():
        pushed.append(int(producer.stdout.readline().split()[1]))

    waiter = threading.Thread(target=wait_done, daemon=True)
    waiter.start()
    producer.stdin.write("go\n")
    producer.stdin.flush()
    order = [("dareplane", theirs), ("lslacq", ours)]
    deadline = time.monotonic() + seconds + 30
    while time.monotonic() < deadline:
        order.reverse()  # alternate who goes first
        for label, sw in order:
            c0, t0 = time.thread_time(), time.perf_counter()
            sw.update()
            costs[label].append(time.perf_counter() - t0)
            cpu[label] += time.thread_time() - c0
        if pushed and theirs.n_new >= pushed[0] and ours.n_new >= pushed[0]:
            break
        time.sleep(interval)
    producer.stdin.write("bye\n")
    producer.stdin.flush()
    producer.wait(timeout=30)
    waiter.join(5)
    identical = np.array_equal(ours.unfold_buffer(), theirs.unfold_buffer()) and np.array_equal(
        ours.unfold_buffer_t(), theirs.unfold_buffer_t()
    )
    result = {
        "samples": {"dareplane": theirs.n_new, "lslacq": ours.n_new},
        "update_us_median": {k: float(np.median(v) * 1e6) for k, v in costs.items()},
        "update_us_mean": {k: float(np.mean(v) * 1e6) for k, v in costs.items()},
        "cpu_ms_per_s": {k: v / seconds * 1e3 for k, v in cpu.items()},
        "idle_update_us": idle,
        "identical": identical,
    }
    ours.disconnect()
    theirs.disconnect()
    return result


def pull_floor(n_samples: int = 1000, n_ch: int = 32, repeats: int = 100) -> dict:
    """Cost of one raw liblsl pull of n_samples (the floor any StreamWatcher pays) vs our update()."""
    import ctypes

    from lslacq_lsl import StreamWatcher

    name = f"bench-floor-{uuid.uuid4().hex[:6]}"
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EEG", n_ch, 10_000.0, "float32", name))
    sw = StreamWatcher(name, buffer_size_s=2, clocksync=False)
    sw.connect_to_stream()
    raw = pylsl.StreamInlet(pylsl.resolve_byprop("source_id", name, timeout=10)[0])
    raw.open_stream(timeout=10)
    chunk = np.zeros((n_samples, n_ch), np.float32)
    buf, ts = np.empty((n_samples, n_ch), np.float32), np.empty(n_samples)
    err = ctypes.c_int()
    t_raw, t_ours = [], []
    for _ in range(repeats):
        outlet.push_chunk(chunk)
        deadline = time.monotonic() + 5
        while (
            raw.samples_available() < n_samples or sw.inlet.samples_available() < n_samples
        ) and time.monotonic() < deadline:
            time.sleep(0.001)
        t0 = time.perf_counter()
        raw.do_pull_chunk(
            raw.obj,
            ctypes.c_void_p(buf.ctypes.data),
            ctypes.c_void_p(ts.ctypes.data),
            ctypes.c_size_t(buf.size),
            ctypes.c_size_t(n_samples),
            ctypes.c_double(0.0),
            ctypes.byref(err),
        )
        t_raw.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sw.update()
        t_ours.append(time.perf_counter() - t0)
    sw.disconnect()
    del raw, outlet
    return {"raw_us": float(np.median(t_raw) * 1e6), "ours_us": float(np.median(t_ours) * 1e6)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (2 s per case)")
    parser.add_argument("--case", choices=("outlet", "watcher", "all"), default="all")
    parser.add_argument("--intervals", default="10,1", help="update() periods in ms for the watcher case")
    parser.add_argument("--push-intervals", default="0,20", help="LslOutlet push_interval values in ms (outlet case)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the outlet case")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else 5.0
    print(
        f"liblsl {pylsl.library_version()}, pylsl {pylsl.__version__}, {os.cpu_count()} cores, {seconds:g} s per case"
    )
    if args.case in ("outlet", "all"):
        intervals = [float(x) / 1e3 for x in args.push_intervals.split(",")]
        rounds = outlet_case(seconds, tuple(intervals), args.rounds)
        print(
            f"\n== outlet: 64 ch @ 10 kHz float32, 100-sample chunks, consumer in another process, "
            f"{args.rounds} interleaved rounds =="
        )
        for k, r in enumerate(rounds):
            bare = r["bare"]
            for label, x in r.items():
                ratios = (
                    ""
                    if label == "bare"
                    else (
                        f"; LslOutlet thread / bare pusher thread {x['thread_cpu_s'] / bare['thread_cpu_s']:.2f}x, "
                        f"process / bare {x['cpu_s'] / bare['cpu_s']:.2f}x"
                    )
                )
                print(
                    f"round {k + 1} {label:>12}: received {x['received']}/{x['pushed']}, wrong values {x['bad']}, "
                    f"latency median {x['latency_ms'][0]:.1f} ms p95 {x['latency_ms'][1]:.1f} ms, "
                    f"process CPU {x['cpu_s'] / seconds * 100:.1f} %{ratios}"
                )
        print("median over rounds:")
        for label in rounds[0]:
            if label == "bare":
                continue
            thread = np.median([r[label]["thread_cpu_s"] / r["bare"]["thread_cpu_s"] for r in rounds])
            process = np.median([r[label]["cpu_s"] / r["bare"]["cpu_s"] for r in rounds])
            lossless = all(r[label]["received"] == r[label]["pushed"] and r[label]["bad"] == 0 for r in rounds)
            print(
                f"  {label}: bridge CPU (LslOutlet thread) / bare pylsl pusher thread {thread:.2f}x (target <= 1.5); "
                f"whole producer process (device-side graph send + bridge) / bare pylsl {process:.2f}x; "
                f"zero loss: {lossless}"
            )
    for interval_ms in [float(x) for x in args.intervals.split(",")] if args.case in ("watcher", "all") else []:
        r = watcher_case(seconds, interval_ms / 1e3)
        print(f"\n== StreamWatcher.update(): 32 ch @ 10 kHz, called every {interval_ms:g} ms, same stream ==")
        for label in ("dareplane", "lslacq"):
            print(
                f"{label:>9}: samples {r['samples'][label]}, update() median {r['update_us_median'][label]:.1f} us "
                f"mean {r['update_us_mean'][label]:.1f} us, CPU {r['cpu_ms_per_s'][label]:.2f} ms/s, "
                f"empty update() {r['idle_update_us'][label]:.2f} us"
            )
        print(
            f"dareplane / lslacq: update() {r['update_us_mean']['dareplane'] / r['update_us_mean']['lslacq']:.1f}x, "
            f"CPU {r['cpu_ms_per_s']['dareplane'] / r['cpu_ms_per_s']['lslacq']:.1f}x, "
            f"empty update() {r['idle_update_us']['dareplane'] / r['idle_update_us']['lslacq']:.1f}x "
            f"(target >= 2); identical buffers: {r['identical']}"
        )
    if args.case in ("watcher", "all"):
        f = pull_floor()
        print(
            f"\nfloor: one raw liblsl pull of 1000 x 32 samples {f['raw_us']:.1f} us; StreamWatcher.update() of "
            f"the same {f['ours_us']:.1f} us ({f['ours_us'] / f['raw_us']:.2f}x the floor)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
