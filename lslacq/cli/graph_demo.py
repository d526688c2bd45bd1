"""``lslacq graph-demo``: a simulated device streamed through a graph across two processes, no LSL involved.

The device (a :class:`~lslacq.devices.NumpyDeviceBuffer`) runs in a spawned
child process; this process connects an InputStream to its output and prints
live counters: throughput, one-way latency (scheduled time of the newest
sample to its arrival, both on the machine's monotonic clock) and sample
continuity (lost samples, index errors).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import statistics
import threading
import time

__all__ = ["add_parser", "run_demo", "DemoStats"]


def _device_process(config: dict, params_queue, stop_event) -> None:
    """Child: run the device node until told to stop or the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops us
    from lslacq.devices.numpy_device import NumpyDeviceBuffer

    parent = os.getppid()
    dev = NumpyDeviceBuffer(name="sim-device")
    dev.configure(nb_channel=config["channels"], sample_interval=1.0 / config["rate"], chunksize=config["chunksize"])
    dev.output.configure(protocol=config["protocol"], transfermode=config["transfermode"])
    dev.initialize()
    params_queue.put(dev.output.params.to_dict())
    dev.output.wait_for_subscribers(1, timeout=30)
    dev.start()
    params_queue.put(("started", time.monotonic()))
    try:
        while not stop_event.wait(0.2):
            if os.getppid() != parent or dev.error is not None:
                break
    finally:
        dev.close()


class DemoStats:
    """Counters the demo prints: samples, chunks, lost samples, latency."""

    def __init__(self, sample_rate: float, nb_channel: int, itemsize: int):
        self.sample_rate = sample_rate
        self.bytes_per_sample = nb_channel * itemsize
        self.samples = 0
        self.chunks = 0
        self.index_errors = 0
        self.lost_samples = 0
        self.latencies: list[float] = []
        self.last_index = 0

    def add(self, index: int, n: int, arrival: float, t0: float) -> None:
        """Count a chunk of ``n`` samples ending at ``index`` that arrived at ``arrival``."""
        if index - n != self.last_index:
            self.index_errors += 1
        self.last_index = index
        self.samples += n
        self.chunks += 1
        self.latencies.append(arrival - (t0 + (index - 1) / self.sample_rate))

    def line(self, elapsed: float, lost: int) -> str:
        """Format the counters since the start as one status line (and reset the latencies)."""
        lat = sorted(self.latencies) or [float("nan")]
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
        self.latencies.clear()
        return (
            f"{elapsed:6.1f} s  {self.samples / elapsed:9.0f} samples/s  "
            f"{self.samples * self.bytes_per_sample / elapsed / 1e6:6.2f} MB/s  {self.chunks:7d} chunks  "
            f"latency median {1e3 * statistics.median(lat):6.2f} ms p99 {1e3 * p99:6.2f} ms  "
            f"lost {lost} samples  index errors {self.index_errors}"
        )


def run_demo(
    duration: float | None = 10.0,
    channels: int = 32,
    rate: float = 1000.0,
    chunksize: int = 32,
    protocol: str = "tcp",
    transfermode: str = "plaindata",
    interval: float = 1.0,
    stop_event: threading.Event | None = None,
    out=print,
) -> DemoStats:
    """Run the two-process demo; return the final counters."""
    import numpy as np

    from lslacq.core.stream import InputStream

    ctx = mp.get_context("spawn")
    params_queue, child_stop = ctx.Queue(), ctx.Event()
    config = dict(channels=channels, rate=rate, chunksize=chunksize, protocol=protocol, transfermode=transfermode)
    proc = ctx.Process(target=_device_process, args=(config, params_queue, child_stop), name="sim-device", daemon=True)
    proc.start()
    stop_event = stop_event or threading.Event()
    inp = InputStream(name="demo-input")
    try:
        params = params_queue.get(timeout=60)
        inp.connect(params)
        _, t0 = params_queue.get(timeout=60)
        out(
            f"device process {proc.pid}: {channels} channels @ {rate:g} Hz, chunks of {chunksize}, "
            f"{protocol}/{transfermode} at {params['url']}"
        )
        stats = DemoStats(rate, channels, np.dtype(params["dtype"]).itemsize)
        start = time.monotonic()
        next_print = start + interval
        while not stop_event.is_set():
            now = time.monotonic()
            if duration is not None and now - start >= duration:
                break
            if inp.poll(100):
                index, data = inp.recv(with_data=True)
                stats.add(index, len(data), time.monotonic(), t0)
            if now >= next_print:
                out(stats.line(now - start, inp.lost_samples))
                next_print += interval
            if not proc.is_alive():
                raise RuntimeError(f"device process exited with code {proc.exitcode}")
        out(stats.line(time.monotonic() - start, inp.lost_samples))
        stats.lost_samples = inp.lost_samples
        return stats
    finally:
        inp.close()
        child_stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join(5)


def add_parser(subparsers, name: str = "graph-demo") -> argparse.ArgumentParser:
    """Register the two-process demo as the ``graph-demo`` sub-command."""
    parser = subparsers.add_parser(
        name, help="stream a simulated device between two processes, with live counters", description=__doc__
    )
    parser.add_argument("--duration", type=float, default=None, help="seconds to run (default: until Ctrl-C)")
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--rate", type=float, default=1000.0, help="sample rate in Hz")
    parser.add_argument("--chunksize", type=int, default=32)
    parser.add_argument("--protocol", choices=("tcp", "ipc"), default="tcp")
    parser.add_argument("--transfermode", choices=("plaindata", "sharedmem"), default="plaindata")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between counter lines")
    parser.set_defaults(func=_main)
    return parser


def _main(args) -> int:
    try:
        stats = run_demo(
            args.duration, args.channels, args.rate, args.chunksize, args.protocol, args.transfermode, args.interval
        )
    except KeyboardInterrupt:  # Ctrl-C / SIGTERM: run_demo has stopped the device process
        print("lslacq graph-demo: interrupted", flush=True)
        return 0
    return 0 if stats.lost_samples == 0 and stats.index_errors == 0 else 1
