"""Stream throughput and latency across processes, next to raw pyzmq.

For each protocol (tcp, ipc) x transfer mode (plaindata, sharedmem) and each
chunk shape ((1024, 64) and (16, 64) float32), a spawned process receives
while this one sends:

* throughput: the sender runs flat out; MB/s and chunks/s are measured from
  the first send to the last receive, with the fraction of samples delivered;
* latency: chunks are paced 2 ms apart; one-way latency is receive time minus
  send time on the machine's monotonic clock (shared by all processes).

The baseline is raw pyzmq PUSH/PULL moving the same bytes over the same
transport in the same run; ratios are lslacq / raw.

``--readers N`` gives every lslacq stream N reading processes (fan-out; the
raw baseline keeps one reader): with per-reader flow control each reader has
its own queue, so this measures what fan-out costs.

Run: ``python benchmarks/streams.py [--quick] [--readers N] [--modes plaindata,sharedmem]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import tempfile
import time
import uuid

import numpy as np
import zmq

SPAWN = mp.get_context("spawn")


# -- receivers (child processes) -------------------------------------------------
def _recv_lslacq(params, n_chunks, ready, out_q):
    from lslacq.core.stream import InputStream

    inp = InputStream()
    inp.connect(params)  # the defaults a user gets
    ready.set()
    times = np.empty(n_chunks)
    samples = 0
    for k in range(n_chunks):
        _, data = inp.recv(with_data=True, timeout=60000)
        times[k] = time.perf_counter()
        samples += len(data)
    out_q.put((times, samples, inp.lost_samples))
    inp.close()


def _recv_raw(url, n_chunks, ready, out_q):
    sock = zmq.Context.instance().socket(zmq.PULL)
    sock.connect(url)
    ready.set()
    times = np.empty(n_chunks)
    nbytes = 0
    for k in range(n_chunks):
        frame = sock.recv(copy=False)
        times[k] = time.perf_counter()
        nbytes += len(frame)
    out_q.put((times, nbytes, 0))
    sock.close(0)


# -- one measurement ---------------------------------------------------------------
def _address(protocol: str) -> str:
    if protocol == "tcp":
        return "tcp://127.0.0.1"
    return f"ipc://{tempfile.gettempdir()}/lslacq-bench-{uuid.uuid4().hex[:8]}.ipc"


def _run(kind, protocol, mode, shape, n_chunks, pace_s, n_readers=1):
    data = np.random.default_rng(0).normal(size=shape).astype("float32")
    ready, out_q = SPAWN.Event(), SPAWN.Queue()
    procs = []
    if kind == "raw":
        sock = zmq.Context.instance().socket(zmq.PUSH)
        addr = _address(protocol)
        if protocol == "tcp":
            port = sock.bind_to_random_port(addr)
            url = f"{addr}:{port}"
        else:
            sock.bind(addr)
            url = addr
        procs = [SPAWN.Process(target=_recv_raw, args=(url, n_chunks, ready, out_q))]
        copy = data.nbytes < 65536

        def send(_k):
            sock.send(data, copy=copy)

        def close():
            sock.close(linger=1000)
    else:
        from lslacq.core.stream import OutputStream

        out = OutputStream(name="bench")
        out.configure(protocol=protocol, transfermode=mode.split("-")[0], dtype="float32", shape=(-1, shape[1]),
                      buffer_size=max(4096, 256 * shape[0]), double=not mode.endswith("-single"))
        readies = [SPAWN.Event() for _ in range(n_readers)]
        procs = [SPAWN.Process(target=_recv_lslacq, args=(out.params.to_dict(), n_chunks, r, out_q))
                 for r in readies]

        def send(_k):
            out.send(data)

        def close():
            out.close()

    for proc in procs:
        proc.start()
    try:
        ready.wait(60) if kind == "raw" else [r.wait(60) for r in readies]
        if kind != "raw":
            out.wait_for_subscribers(n_readers, timeout=30)
        else:
            time.sleep(0.3)  # PUSH/PULL has no subscription handshake to wait for
        sent = np.empty(n_chunks)
        for k in range(n_chunks):
            if pace_s:
                target = time.perf_counter() + pace_s
                while time.perf_counter() < target:
                    pass
            sent[k] = time.perf_counter()
            send(k)
        reports = [out_q.get(timeout=120) for _ in procs]
        times = max((r[0] for r in reports), key=lambda t: t[-1])  # the last reader to finish
        amount = min(r[1] for r in reports)
        lost = sum(r[2] for r in reports)
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
        close()
    elapsed = times[-1] - sent[0]
    total_bytes = n_chunks * data.nbytes
    delivered = (amount / (n_chunks * shape[0])) if kind != "raw" else amount / total_bytes
    latency = times - sent
    return dict(mbps=total_bytes / elapsed / 1e6, cps=n_chunks / elapsed, delivered=delivered,
                lat_med=np.median(latency) * 1e6, lat_p99=np.percentile(latency, 99) * 1e6, lost=lost)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer chunks (a rough, fast run)")
    parser.add_argument("--readers", type=int, default=1, help="reading processes per lslacq stream")
    parser.add_argument("--modes", default="plaindata,sharedmem,sharedmem-single",
                        help="comma-separated transfer modes to measure")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    scale = 0.2 if args.quick else 1.0
    print("# sharedmem: double ring (contiguous zero-copy reads, every chunk written twice); "
          "sharedmem-single: double=False")
    print(f"# readers per lslacq stream: {args.readers}")
    print(f"# lslacq stream benchmark -- {platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}")
    header = (f"{'transport':9} {'mode':16} {'chunk':>10} | {'MB/s':>8} {'chunks/s':>9} {'deliv':>6} "
              f"{'lat med us':>10} {'p99 us':>8} | {'raw MB/s':>8} {'raw ch/s':>9} {'raw med':>8} | "
              f"{'ratio thr':>9} {'ratio lat':>9}")
    print(header)
    print("-" * len(header))
    for shape in ((1024, 64), (16, 64)):
        n_thr = int((3000 if shape[0] > 100 else 60000) * scale)
        n_lat = int(500 * scale)
        for protocol in ("tcp", "ipc"):
            raw = _run("raw", protocol, None, shape, n_thr, 0)
            raw_lat = _run("raw", protocol, None, shape, n_lat, 0.002)
            for mode in modes:
                res = _run("lslacq", protocol, mode, shape, n_thr, 0, args.readers)
                lat = _run("lslacq", protocol, mode, shape, n_lat, 0.002, args.readers)
                key = "mbps" if shape[0] > 100 else "cps"
                print(f"{protocol:9} {mode:16} {str(shape):>10} | {res['mbps']:8.0f} {res['cps']:9.0f} "
                      f"{res['delivered']:6.3f} {lat['lat_med']:10.0f} {lat['lat_p99']:8.0f} | "
                      f"{raw['mbps']:8.0f} {raw['cps']:9.0f} {raw_lat['lat_med']:8.0f} | "
                      f"{res[key] / raw[key]:9.2f} {lat['lat_med'] / raw_lat['lat_med']:9.2f}", flush=True)
    print("\nratio thr: MB/s for (1024, 64) chunks, chunks/s for (16, 64), lslacq / raw pyzmq PUSH/PULL. "
          "deliv: fraction of samples delivered.")


if __name__ == "__main__":
    main()
