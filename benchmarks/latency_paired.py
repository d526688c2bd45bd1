"""One-hop latency of a stream against raw pyzmq PUSH/PULL, paired chunk by chunk (for a busy machine).

``streams.py`` measures lslacq's latency and raw PUSH/PULL's in separate runs
seconds apart; on a shared 2-core machine their medians move by 2-5x between
runs, so one ratio says little. Here one writer process sends the same
(1, 32) float64 chunk alternately on a raw PUSH socket and on an lslacq
``OutputStream`` (the defaults a user gets), one every 0.5 ms (each path
every 1 ms, busy-wait pacing as in ``streams.py``; which one goes first
alternates), and one reader process receives both (a zmq poller on the PULL
socket and the InputStream's socket). Both paths see the same load at a
sub-millisecond grain, and their ratio is stable where the absolute numbers
are not.

Per run: median one-way latency (receive time minus send time on the
monotonic clock shared by the processes) of each path and their ratio, and
where the difference goes: the median time of the writer's send call and of
the reader's receive call (after the poller said the message is there) for
each path.

Run: ``python benchmarks/latency_paired.py [--protocols tcp,ipc] [--chunks 2000] [--runs 3]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import time
import uuid

import numpy as np
import zmq

SPAWN = mp.get_context("spawn")


def _reader(url: str, params: dict, n: int, ready, out_q) -> None:
    from lslacq.core.stream import InputStream

    pull = zmq.Context.instance().socket(zmq.PULL)
    pull.connect(url)
    inp = InputStream()
    inp.connect(params)
    poller = zmq.Poller()
    poller.register(pull, zmq.POLLIN)
    poller.register(inp.socket, zmq.POLLIN)
    ready.set()
    got = {"raw": np.empty(n), "lslacq": np.empty(n)}
    took = {"raw": np.empty(n), "lslacq": np.empty(n)}
    count = {"raw": 0, "lslacq": 0}
    while count["raw"] < n or count["lslacq"] < n:
        for sock, _ in poller.poll(60000):
            start = time.perf_counter()
            if sock is pull:
                pull.recv(copy=False)
                key = "raw"
            else:
                inp.recv(with_data=True, timeout=0)
                key = "lslacq"
            now = time.perf_counter()
            got[key][count[key]], took[key][count[key]] = now, now - start
            count[key] += 1
    out_q.put((got, took))
    inp.close()
    pull.close(0)


def run(protocol: str, n: int) -> dict:
    from lslacq.core.stream import OutputStream

    data = np.random.default_rng(0).normal(size=(1, 32))
    push = zmq.Context.instance().socket(zmq.PUSH)
    if protocol == "tcp":
        url = f"tcp://127.0.0.1:{push.bind_to_random_port('tcp://127.0.0.1')}"
    else:
        url = f"ipc://{tempfile.gettempdir()}/lslacq-paired-{uuid.uuid4().hex[:8]}.ipc"
        push.bind(url)
    out = OutputStream(name="paired")
    out.configure(protocol=protocol, dtype="float64", shape=(-1, 32))
    ready, out_q = SPAWN.Event(), SPAWN.Queue()
    proc = SPAWN.Process(target=_reader, args=(url, out.params.to_dict(), n, ready, out_q))
    proc.start()
    sent = {"raw": np.empty(n), "lslacq": np.empty(n)}
    call = {"raw": np.empty(n), "lslacq": np.empty(n)}
    try:
        ready.wait(60)
        out.wait_for_subscribers(1, timeout=30)
        time.sleep(0.3)  # PUSH/PULL has no handshake to wait for
        for k in range(n):
            for key in ("raw", "lslacq") if k % 2 == 0 else ("lslacq", "raw"):
                target = time.perf_counter() + 0.0005
                while time.perf_counter() < target:
                    pass
                start = time.perf_counter()
                if key == "raw":
                    push.send(data, copy=True)
                else:
                    out.send(data)
                sent[key][k], call[key][k] = start, time.perf_counter() - start
        got, took = out_q.get(timeout=120)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
        out.close()
        push.close(0)
    result = {}
    for key in ("raw", "lslacq"):
        result[key] = float(np.median(got[key] - sent[key]) * 1e6)
        result[f"send_{key}"] = float(np.median(call[key]) * 1e6)
        result[f"recv_{key}"] = float(np.median(took[key]) * 1e6)
    result["ratio"] = result["lslacq"] / result["raw"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocols", default="tcp,ipc")
    parser.add_argument("--chunks", type=int, default=2000, help="chunks per path and run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"# paired one-hop latency, (1, 32) f64, each path every 1 ms; load average {os.getloadavg()[0]:.2f}")
    header = (
        f"{'case':8} | {'raw us':>7} {'lslacq us':>9} {'ratio':>6} | {'send raw / lslacq':>18} | "
        f"{'recv raw / lslacq':>18}"
    )
    print(header)
    print("-" * len(header))
    for protocol in args.protocols.split(","):
        ratios = []
        for _ in range(args.runs):
            r = run(protocol, args.chunks)
            ratios.append(r["ratio"])
            print(
                f"{protocol:8} | {r['raw']:7.0f} {r['lslacq']:9.0f} {r['ratio']:6.2f} | "
                f"{r['send_raw']:8.1f} {r['send_lslacq']:8.1f} us | {r['recv_raw']:8.1f} {r['recv_lslacq']:8.1f} us",
                flush=True,
            )
        print(f"{protocol:8} | median ratio over {args.runs} runs: {statistics.median(ratios):.2f}", flush=True)
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
