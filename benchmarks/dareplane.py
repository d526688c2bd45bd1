"""EventLoop timing and CPU: lslacq_dareplane.EventLoop vs dareplane-utils' EventLoop, same run.

Cases
-----
* loaded: dt = 10 ms, a callback busy for 20 % of dt. Reports the mean period
  error (target: within 1 % of dt), the tick jitter and the CPU used by
  the loop besides the callback.
* idle: dt = 10 ms and 100 ms, an empty callback. Reports the CPU time the
  loop thread uses per second (target: below dareplane's).

Also: the module server's UP round trip (ours vs dareplane's DefaultServer,
raw-socket client) when --server is given.

Also, with --logging: records/s through each JSON log handler (ours vs
dareplane's UJsonSocketHandler) into a raw-socket sink.

Usage: python benchmarks/dareplane.py [--quick] [--server] [--logging]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def measure(loop_cls, dt: float, duration: float, load: float) -> dict:
    loop = loop_cls(dt_s=dt)
    ticks: list[float] = []

    def tick(ctx=None):
        ticks.append(time.perf_counter())
        if load:
            busy(load * dt)

    loop.add_callback(tick)
    loop.add_delayed_callback_once(lambda ctx=None: loop.stop_event.set(), dt=duration)
    cpu0 = time.thread_time()
    wall0 = time.perf_counter()
    loop.run()
    wall = time.perf_counter() - wall0
    cpu = time.thread_time() - cpu0
    periods = [b - a for a, b in pairwise(ticks)]
    mean = statistics.fmean(periods)
    callback_cpu = load * dt * len(ticks)
    return {
        "ticks": len(ticks),
        "mean_period_ms": mean * 1e3,
        "period_error_pct": (mean - dt) / dt * 100,
        "jitter_ms": statistics.pstdev(periods) * 1e3,
        "max_late_ms": max(abs(p - dt) for p in periods) * 1e3,
        "loop_cpu_pct": max(cpu - callback_cpu, 0.0) / wall * 100,
    }


OUR_SERVER = (
    "import threading\n"
    "from lslacq_dareplane import DefaultServer\n"
    "s = DefaultServer(0, name='bench')\n"
    "s.init_server()\n"
    "print('PORT', s.port, flush=True)\n"
    "s.start_listening()\n"
)


def server_up_rtt(n: int) -> None:
    """UP round trips from a raw socket client; both servers run in their own process."""
    import socket

    peer = Path(__file__).resolve().parents[1] / "tests/bridges/dareplane/peers/dareplane_server.py"
    procs = {
        "dareplane DefaultServer": subprocess.Popen([sys.executable, str(peer)], stdout=subprocess.PIPE, text=True),
        "lslacq DefaultServer": subprocess.Popen([sys.executable, "-c", OUR_SERVER], stdout=subprocess.PIPE, text=True),
    }
    results: dict[str, list[float]] = {label: [] for label in procs}
    socks = {}
    try:
        for label, proc in procs.items():
            port = int(proc.stdout.readline().split()[1])
            socks[label] = socket.create_connection(("127.0.0.1", port))
            socks[label].recv(100)
        rounds = 10
        for _ in range(rounds):  # interleaved rounds, median: the machine's load hits both alike
            for label, s in socks.items():
                t0 = time.perf_counter()
                for _ in range(n // rounds):
                    s.sendall(b"UP;")
                    s.recv(10)
                results[label].append((time.perf_counter() - t0) / (n // rounds) * 1e6)
        for s in socks.values():
            s.sendall(b"CLOSE;")
    finally:
        for s in socks.values():
            s.close()
        for proc in procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    results = {label: statistics.median(v) for label, v in results.items()}
    base = results["dareplane DefaultServer"]
    print(f"\nUP round trip ({n} requests, one raw-socket client, each server in its own process)")
    for label, us in results.items():
        print(f"  {label:26s} {us:8.1f} us   ratio vs dareplane {us / base:5.2f}")


def log_throughput(n: int) -> None:
    """Measure the records per second each JSON socket handler sends into a raw-socket sink (drained, not parsed)."""
    import logging
    import logging.handlers
    import socket
    import threading

    from dareplane_utils.logging.ujson_socket_handler import UJsonSocketHandler

    from lslacq_dareplane.log_forwarding import JsonSocketHandler

    def sink(server: socket.socket, counter: list) -> None:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(1 << 20):
                counter[0] += len(chunk)

    results = {}
    for label, cls in (
        ("dareplane UJsonSocketHandler", UJsonSocketHandler),
        ("lslacq JsonSocketHandler", JsonSocketHandler),
    ):
        server = socket.create_server(("127.0.0.1", 0))
        counter = [0]
        th = threading.Thread(target=sink, args=(server, counter))
        th.start()
        handler = cls("127.0.0.1", server.getsockname()[1])
        logger = logging.getLogger(f"bench.{cls.__name__}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        t0 = time.perf_counter()
        for i in range(n):
            logger.info("sample %d of %s at %.3f", i, "EEG", 1.5)
        elapsed = time.perf_counter() - t0
        handler.close()
        th.join(10)
        server.close()
        logger.removeHandler(handler)
        results[label] = (n / elapsed, counter[0] / n)
    base = results["dareplane UJsonSocketHandler"][0]
    print(f"\nlog forwarding ({n} records, one sender thread, raw-socket sink)")
    for label, (rate, size) in results.items():
        print(f"  {label:30s} {rate:10.0f} records/s  {size:6.0f} B/record   ratio vs dareplane {rate / base:5.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s per case instead of 4 s")
    parser.add_argument("--server", action="store_true", help="also measure the module server's UP round trip")
    parser.add_argument("--logging", action="store_true", help="also measure log forwarding throughput")
    args = parser.parse_args(argv)
    duration = 1.0 if args.quick else 4.0

    from dareplane_utils.general.event_loop import EventLoop as DareplaneLoop

    from lslacq_dareplane import EventLoop

    cases = [("loaded dt=10ms, callback 20%", 0.010, 0.2), ("idle dt=10ms", 0.010, 0.0), ("idle dt=100ms", 0.100, 0.0)]
    print(f"EventLoop benchmark, {duration:.0f} s per case (ratios: lslacq / dareplane, measured now)")
    for title, dt, load in cases:
        theirs = measure(DareplaneLoop, dt, duration, load)
        ours = measure(EventLoop, dt, duration, load)
        print(f"\n{title}")
        print(f"  {'':22s} {'lslacq':>10s} {'dareplane':>10s} {'ratio':>7s}")
        for key in ("mean_period_ms", "period_error_pct", "jitter_ms", "max_late_ms", "loop_cpu_pct"):
            a, b = ours[key], theirs[key]
            ratio = f"{a / b:7.2f}" if b else "    n/a"
            print(f"  {key:22s} {a:10.3f} {b:10.3f} {ratio}")
        ok_period = abs(ours["period_error_pct"]) <= 1.0
        ok_cpu = ours["loop_cpu_pct"] <= theirs["loop_cpu_pct"]
        print(
            f"  target: |period error| <= 1 %: {'met' if ok_period else 'NOT met'}; "
            f"loop CPU below dareplane: {'met' if ok_cpu else 'NOT met'}"
        )
    if args.server:
        server_up_rtt(200 if args.quick else 2000)
    if args.logging:
        log_throughput(5000 if args.quick else 50000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
