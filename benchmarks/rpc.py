"""Benchmark lslacq's RPC against a raw pyzmq DEALER/ROUTER round trip measured in the same run.

Cases (each against a server in another process):

- raw: a DEALER sends one small frame, a Python ROUTER echoes it (the floor).
- sync call: ``f(1)`` on a proxy to a remote builtin (one round trip).
- attribute: ``proxy.attr`` returning a value (one round trip).
- async throughput: N pipelined ``f(1, _sync='async')`` calls, then wait for the last.
  Compared with the raw pipelined echo throughput.

Raw and RPC blocks are interleaved so both see the same machine load.

Usage: ``python benchmarks/rpc.py [--quick]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import zmq

from lslacq.core.rpc import ProcessSpawner

_ECHO = r"""
import sys, zmq
sock = zmq.Context.instance().socket(zmq.ROUTER)
sock.setsockopt(zmq.SNDHWM, 0)  # like the RPC sockets: a ROUTER drops replies beyond its high-water mark
sock.setsockopt(zmq.RCVHWM, 0)
sock.bind("tcp://127.0.0.1:*")
sys.stdout.write(sock.getsockopt(zmq.LAST_ENDPOINT).decode() + "\n"); sys.stdout.flush()
while True:
    msg = sock.recv_multipart()
    if msg[1] == b"quit":
        break
    sock.send_multipart(msg)
"""


def _percentiles(samples):
    samples = sorted(samples)
    return statistics.median(samples) * 1e6, samples[int(0.99 * (len(samples) - 1))] * 1e6


def _time_block(fn, n, out):
    perf = time.perf_counter
    for _ in range(n):
        t0 = perf()
        fn()
        out.append(perf() - t0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (about 3 s)")
    args = parser.parse_args(argv)
    rounds, block, n_async = (4, 250, 5000) if args.quick else (10, 500, 20000)

    echo = subprocess.Popen([sys.executable, "-c", _ECHO], stdout=subprocess.PIPE, text=True)
    addr = echo.stdout.readline().strip()
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.SNDHWM, 0)
    dealer.setsockopt(zmq.RCVHWM, 0)
    dealer.setsockopt(zmq.RCVTIMEO, 30000)  # a lost reply fails the run instead of hanging it
    dealer.connect(addr)
    payload = b"x" * 64

    def raw_call():
        dealer.send(payload)
        dealer.recv()

    proc = ProcessSpawner(name="bench")
    try:
        rbuiltins = proc.client._import("builtins")
        rabs = rbuiltins.abs
        rsys = proc.client._import("sys")
        for _ in range(200):  # warm up both paths
            raw_call()
            rabs(1)
            rsys.maxsize

        raw, call, attr = [], [], []
        round_ratios = {"call": [], "attr": []}
        for _ in range(rounds):
            r, c, a = [], [], []
            _time_block(raw_call, block, r)
            _time_block(lambda: rabs(1), block, c)
            _time_block(lambda: rsys.maxsize, block, a)
            round_ratios["call"].append(statistics.median(c) / statistics.median(r))
            round_ratios["attr"].append(statistics.median(a) / statistics.median(r))
            raw += r
            call += c
            attr += a

        # pipelined throughput
        t0 = time.perf_counter()
        for _ in range(n_async):
            dealer.send(payload)
        for _ in range(n_async):
            dealer.recv()
        raw_rate = n_async / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        futures = [rabs(1, _sync="async") for _ in range(n_async)]
        futures[-1].result(60)
        rpc_rate = n_async / (time.perf_counter() - t0)
        assert all(f.done() and f.result() == 1 for f in futures)
    finally:
        proc.stop()
        dealer.send(b"quit")
        echo.wait(10)
        dealer.close()

    raw_med, raw_p99 = _percentiles(raw)
    print(f"{'case':34s} {'median us':>10s} {'p99 us':>10s} {'ratio':>7s} {'per-round ratio':>16s}")
    print(f"{'raw pyzmq DEALER/ROUTER':34s} {raw_med:10.1f} {raw_p99:10.1f} {1.0:7.2f}")
    for name, key, samples in (("proxy call f(1) (sync)", "call", call), ("proxy attribute access", "attr", attr)):
        med, p99 = _percentiles(samples)
        print(f"{name:34s} {med:10.1f} {p99:10.1f} {med / raw_med:7.2f} {statistics.median(round_ratios[key]):16.2f}")
    print(
        "(ratio: overall medians; per-round ratio: median over rounds of each round's ratio, "
        "less sensitive to load changes during the run)"
    )
    print(f"\n{'pipelined throughput':34s} {'calls/s':>10s}")
    print(f"{'raw pyzmq echo':34s} {raw_rate:10.0f}")
    print(f"{'proxy async calls':34s} {rpc_rate:10.0f}   ({rpc_rate / raw_rate:.2f} x raw)")
    print("\ntarget: proxy call median <= 1.3 x raw; async > 25000 calls/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
