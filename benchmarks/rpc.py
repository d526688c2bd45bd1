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
        for _ in range(rounds):
            _time_block(raw_call, block, raw)
            _time_block(lambda: rabs(1), block, call)
            _time_block(lambda: rsys.maxsize, block, attr)

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
    print(f"{'case':34s} {'median us':>10s} {'p99 us':>10s} {'ratio (median)':>15s}")
    print(f"{'raw pyzmq DEALER/ROUTER':34s} {raw_med:10.1f} {raw_p99:10.1f} {1.0:15.2f}")
    for name, samples in (("proxy call f(1) (sync)", call), ("proxy attribute access", attr)):
        med, p99 = _percentiles(samples)
        print(f"{name:34s} {med:10.1f} {p99:10.1f} {med / raw_med:15.2f}")
    print(f"\n{'pipelined throughput':34s} {'calls/s':>10s}")
    print(f"{'raw pyzmq echo':34s} {raw_rate:10.0f}")
    print(f"{'proxy async calls':34s} {rpc_rate:10.0f}   ({rpc_rate / raw_rate:.2f} x raw)")
    print("\ntarget: proxy call median <= 1.3 x raw; async > 25000 calls/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
