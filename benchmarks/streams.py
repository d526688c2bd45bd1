"""Stream throughput and latency, next to raw pyzmq, at the defaults a user gets.

Cases, each against its raw pyzmq baseline measured in the same run:

* flat out, one reader in another process: a plain ``OutputStream`` sending
  as fast as it can (a script's send loop: ``on_full='wait'``, lossless by
  back-pressure) to an ``InputStream``, tcp and ipc, plaindata and
  sharedmem, chunks of (1024, 64) and (16, 64) float32; baseline: PUSH/PULL
  of the same bytes. MB/s and chunks/s from the first send to the last
  receive, and the fraction of samples delivered;
* inproc: a writer thread and a reader thread of one process; baseline:
  inproc PUSH/PULL between two threads;
* fan-out (``--readers N``, default 3 in a full run): N reading processes;
  baseline: PUB/SUB with N subscribers (each subscriber's rate; PUB drops
  what a slow subscriber cannot take, so its delivered fraction is shown);
* latency: a (1, 32) float64 chunk every 1 ms; one-way latency is receive
  time minus send time on the machine's monotonic clock (shared by all
  processes), median and p99; baseline PUSH/PULL.

Ratios are lslacq / raw (>1 is faster for throughput, slower for latency).
Nothing is tuned: no bound is raised, every stream has the defaults.

Run: ``python benchmarks/streams.py [--quick] [--readers N] [--modes plaindata,sharedmem]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import queue
import tempfile
import threading
import time
import uuid

import numpy as np
import zmq

SPAWN = mp.get_context("spawn")


# -- receivers (child processes or threads) ------------------------------------------
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


def _recv_raw(url, n_chunks, ready, out_q, kind="pull", chunk_bytes=0):
    sock = zmq.Context.instance().socket(zmq.PULL if kind == "pull" else zmq.SUB)
    if kind == "sub":
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(url)
    ready.set()
    times = np.full(n_chunks, np.nan)
    nbytes = 0
    sock.setsockopt(zmq.RCVTIMEO, 2000 if kind == "sub" else 60000)  # a SUB may never see what PUB dropped
    k = 0
    try:
        while k < n_chunks:
            frame = sock.recv(copy=False)
            times[k] = time.perf_counter()
            nbytes += len(frame)
            k += 1
    except zmq.Again:
        pass
    out_q.put((times, nbytes, 0))
    sock.close(0)


# -- one measurement -----------------------------------------------------------------
def _address(protocol: str) -> str:
    if protocol == "tcp":
        return "tcp://127.0.0.1"
    if protocol == "inproc":
        return f"inproc://bench-{uuid.uuid4().hex[:8]}"
    return f"ipc://{tempfile.gettempdir()}/lslacq-bench-{uuid.uuid4().hex[:8]}.ipc"


def _start_readers(targets, threaded: bool):
    if threaded:
        workers = [threading.Thread(target=t, args=a, daemon=True) for t, a in targets]
    else:
        workers = [SPAWN.Process(target=t, args=a) for t, a in targets]
    for w in workers:
        w.start()
    return workers


def _run(kind, protocol, mode, data, n_chunks, pace_s, n_readers=1):
    """Run one case; ``kind`` is 'raw' (PUSH/PULL, or PUB/SUB for several readers) or 'lslacq'."""
    threaded = protocol == "inproc"
    queue_cls = queue.Queue if threaded else SPAWN.Queue
    event_cls = threading.Event if threaded else SPAWN.Event
    out_q = queue_cls()
    readies = [event_cls() for _ in range(n_readers)]
    if kind == "raw":
        fan = n_readers > 1
        sock = zmq.Context.instance().socket(zmq.PUB if fan else zmq.PUSH)
        addr = _address(protocol)
        if protocol == "tcp":
            url = f"{addr}:{sock.bind_to_random_port(addr)}"
        else:
            sock.bind(addr)
            url = addr
        workers = _start_readers(
            [(_recv_raw, (url, n_chunks, r, out_q, "sub" if fan else "pull")) for r in readies], threaded
        )
        copy = data.nbytes < 65536

        def send():
            sock.send(data, copy=copy)

        def close():
            sock.close(linger=1000)
    else:
        from lslacq.core.stream import OutputStream

        out = OutputStream(name="bench")
        out.configure(
            protocol=protocol,
            transfermode=mode.split("-")[0],
            dtype=data.dtype.str,
            shape=(-1,) + data.shape[1:],
            buffer_size=max(4096, 256 * data.shape[0]),
            double=not mode.endswith("-single"),
        )
        workers = _start_readers(
            [(_recv_lslacq, (out.params.to_dict(), n_chunks, r, out_q)) for r in readies], threaded
        )

        def send():
            out.send(data)

        def close():
            out.close()

    try:
        for r in readies:
            r.wait(60)
        if kind != "raw":
            out.wait_for_subscribers(n_readers, timeout=30)
        else:
            time.sleep(0.3)  # PUSH/PULL and PUB/SUB have no subscription handshake to wait for
        sent = np.empty(n_chunks)
        for k in range(n_chunks):
            if pace_s:
                target = time.perf_counter() + pace_s
                while time.perf_counter() < target:
                    pass
            sent[k] = time.perf_counter()
            send()
        reports = [out_q.get(timeout=120) for _ in workers]
    finally:
        for w in workers:
            w.join(30)
            if hasattr(w, "kill") and w.is_alive():
                w.kill()
        close()
    per_reader = []
    for times, amount, lost in reports:
        got = np.isfinite(times)
        last = np.nanmax(times) if got.any() else sent[0] + 1e-9
        elapsed = last - sent[0]
        delivered = amount / (n_chunks * data.shape[0]) if kind != "raw" else amount / (n_chunks * data.nbytes)
        latency = times[got] - sent[got]
        per_reader.append(
            dict(
                mbps=delivered * n_chunks * data.nbytes / elapsed / 1e6,
                cps=delivered * n_chunks / elapsed,
                delivered=delivered,
                lost=lost,
                lat_med=np.median(latency) * 1e6 if len(latency) else np.nan,
                lat_p99=np.percentile(latency, 99) * 1e6 if len(latency) else np.nan,
            )
        )
    # the slowest reader is the one a pipeline waits for
    return min(per_reader, key=lambda r: r["cps"])


def _row(label, res, raw, key):
    return (
        f"{label:34} | {res['mbps']:8.0f} {res['cps']:9.0f} {res['delivered']:6.3f} | "
        f"{raw['mbps']:8.0f} {raw['cps']:9.0f} {raw['delivered']:6.3f} | {res[key] / raw[key]:6.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer chunks (a rough, fast run)")
    parser.add_argument(
        "--readers", type=int, default=None, help="readers of the fan-out case (default 3; 0 or 1 skips it)"
    )
    parser.add_argument(
        "--modes", default="plaindata,sharedmem,sharedmem-single", help="comma-separated transfer modes to measure"
    )
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    scale = 0.2 if args.quick else 1.0
    n_fan = 3 if args.readers is None else args.readers
    print(
        f"# lslacq stream benchmark -- {platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
        f"python {platform.python_version()}, pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}"
    )
    print(
        "# sharedmem: double ring (contiguous zero-copy reads); sharedmem-single: double=False. Defaults "
        "everywhere (no bound raised)."
    )
    header = (
        f"{'case':34} | {'MB/s':>8} {'chunks/s':>9} {'deliv':>6} | {'raw MB/s':>8} {'raw ch/s':>9} "
        f"{'deliv':>6} | {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for shape in ((1024, 64), (16, 64)):
        data = np.random.default_rng(0).normal(size=shape).astype("float32")
        n_thr = int((3000 if shape[0] > 100 else 60000) * scale)
        key = "mbps" if shape[0] > 100 else "cps"
        for protocol in ("tcp", "ipc"):
            raw = _run("raw", protocol, None, data, n_thr, 0)
            for mode in modes:
                res = _run("lslacq", protocol, mode, data, n_thr, 0)
                print(_row(f"{protocol} {mode} {shape}", res, raw, key), flush=True)
        raw = _run("raw", "inproc", None, data, n_thr, 0)
        res = _run("lslacq", "inproc", "plaindata", data, n_thr, 0)
        print(_row(f"inproc plaindata {shape} (threads)", res, raw, key), flush=True)
        if n_fan > 1:
            for protocol in ("tcp", "ipc"):
                raw = _run("raw", protocol, None, data, n_thr, 0, n_fan)
                res = _run("lslacq", protocol, "plaindata", data, n_thr, 0, n_fan)
                print(_row(f"{protocol} plaindata {shape} x{n_fan} readers", res, raw, key), flush=True)
    print(
        "\nratio: MB/s for (1024, 64) chunks, chunks/s for (16, 64), lslacq / raw pyzmq (PUSH/PULL; PUB/SUB for "
        "fan-out, slowest reader). deliv: fraction of samples delivered.\n"
    )
    lat_header = (
        f"{'latency, (1, 32) f64 every 1 ms':34} | {'med us':>8} {'p99 us':>8} | {'raw med':>8} {'raw p99':>8} | "
        f"{'ratio':>6}"
    )
    print(lat_header)
    print("-" * len(lat_header))
    data = np.random.default_rng(0).normal(size=(1, 32))
    n_lat = int(2000 * scale)
    for protocol in ("tcp", "ipc"):
        raw = _run("raw", protocol, None, data, n_lat, 0.001)
        for mode in modes:
            res = _run("lslacq", protocol, mode, data, n_lat, 0.001)
            print(
                f"{protocol + ' ' + mode:34} | {res['lat_med']:8.0f} {res['lat_p99']:8.0f} | "
                f"{raw['lat_med']:8.0f} {raw['lat_p99']:8.0f} | {res['lat_med'] / raw['lat_med']:6.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
