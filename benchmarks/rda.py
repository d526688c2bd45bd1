"""Sustained RDA reception: lslacq's Client and BrainAmpSocket next to a raw socket.

For each case (128 channels @ 5 kHz and 64 channels @ 25 kHz, float32), an
``lslacq rda-emulator`` process streams in real time and three receivers in
this process read the very same byte stream at the same time:

* raw: a thread doing ``socket.recv_into`` into a 1 MiB buffer and nothing else (the baseline);
* client: :class:`lslacq.devices.rda.Client` (parse, scale to uV, ring buffer, markers);
* node: :class:`lslacq.devices.BrainAmpSocket` sending ``signals`` over tcp to an
  InputStream read by a thread here (receiver + zmq send + zmq receive).

Reported per receiver: samples received, lost samples (the emulator's channel 0
counts samples, so any gap or repeat is found), the effective sample rate,
CPU time of its threads as % of one core, and CPU per received MB as a ratio
to the raw recv of the same bytes (the parse cost).

Run: ``python benchmarks/rda.py [--quick] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import psutil

from lslacq.core.stream import InputStream
from lslacq.devices.brainampsocket import BrainAmpSocket
from lslacq.devices.rda import Client

CASES = [(128, 5000.0), (64, 25000.0)]


def start_emulator(n_channels, rate, block_ms):
    cmd = [
        sys.executable,
        "-m",
        "lslacq.cli",
        "rda-emulator",
        "--port",
        "0",
        "--channels",
        str(n_channels),
        "--rate",
        str(rate),
        "--block-ms",
        str(block_ms),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    line = proc.stdout.readline()
    match = re.search(r"on ([\d.]+):(\d+):", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"emulator did not start: {line!r}")
    return proc, (match.group(1), int(match.group(2)))


class RawReceiver(threading.Thread):
    """Baseline: receive bytes, do nothing with them."""

    def __init__(self, address):
        super().__init__(name="raw-recv", daemon=True)
        self.sock = socket.create_connection(address)
        self.sock.settimeout(0.2)
        self.nbytes = 0
        self.stop_event = threading.Event()

    def run(self):
        buf = bytearray(1 << 20)
        while not self.stop_event.is_set():
            try:
                n = self.sock.recv_into(buf)
            except TimeoutError:
                continue
            if not n:
                break
            self.nbytes += n
        self.sock.close()


class NodeReader(threading.Thread):
    """Reads the node's 'signals' output, keeps the counter channel."""

    def __init__(self, output):
        super().__init__(name="node-reader", daemon=True)
        self.inp = InputStream()
        self.inp.connect(output)
        self.counters = []
        self.nbytes = 0
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            if not self.inp.poll(200):
                continue
            _, data = self.inp.recv()
            self.counters.append(data[:, 0].copy())
            self.nbytes += data.nbytes
        self.inp.close()


def thread_cpu(threads):
    """CPU seconds used so far by these threads (nanosecond clocks, not 10 ms ticks)."""
    total = 0.0
    for t in threads:
        try:
            total += time.clock_gettime(time.pthread_getcpuclockid(t.ident))
        except (ProcessLookupError, OSError):
            raise RuntimeError(f"receiver thread {t.name} has ended: see the errors above") from None
    return total


def check_counter(counter, rate):
    """Return (samples, lost or repeated samples) from the counter channel."""
    if len(counter) == 0:
        return 0, 0
    diffs = np.diff(counter.astype(np.int64))
    return len(counter), int(np.abs(diffs - 1).sum())


def run_case(n_channels, rate, seconds, block_ms):
    proc, address = start_emulator(n_channels, rate, block_ms)
    emu_ps = psutil.Process(proc.pid)
    node = client = raw = reader = None
    try:
        raw = RawReceiver(address)
        raw.start()
        client = Client(buffer_size=int(rate * (seconds + 5)))
        client.connect(address)
        client.start_streaming(timeout=20)
        node = BrainAmpSocket(name="amp")
        node.configure(brainamp_host=address[0], brainamp_port=address[1])
        node.outputs["signals"].configure(protocol="tcp", transfermode="plaindata")
        node.outputs["triggers"].configure(protocol="tcp", transfermode="plaindata")
        node.initialize()
        reader = NodeReader(node.outputs["signals"])
        reader.start()
        node.start()
        time.sleep(0.5)  # let every receiver reach steady state before measuring

        groups = {
            "raw": [raw],
            "client": [client._receiver._thread],  # the receiver Worker's thread
            "node": [node.client._receiver._thread, reader],
        }
        bytes0 = {
            "raw": raw.nbytes,
            "client": client._parser.bytes_received,
            "node": node.client._parser.bytes_received,
        }
        cpu0 = {k: thread_cpu(v) for k, v in groups.items()}
        emu0 = sum(emu_ps.cpu_times()[:2])
        s0 = client.last_sample
        t0 = time.perf_counter()
        time.sleep(seconds)
        elapsed = time.perf_counter() - t0
        cpu = {k: thread_cpu(v) - cpu0[k] for k, v in groups.items()}
        emu_cpu = sum(emu_ps.cpu_times()[:2]) - emu0
        nbytes = {
            "raw": raw.nbytes - bytes0["raw"],
            "client": client._parser.bytes_received - bytes0["client"],
            "node": node.client._parser.bytes_received - bytes0["node"],
        }
        s1 = client.last_sample

        client_counter = client.get_data(0, client.last_sample)[:, 0]
        client_n, client_lost = check_counter(client_counter, rate)
        node.stop()
        reader.stop_event.set()
        reader.join(10)
        node_counter = np.concatenate(reader.counters) if reader.counters else np.zeros(0)
        node_n, node_lost = check_counter(node_counter, rate)
        node_lost += reader.inp.lost_samples + node.client.lost_samples
        client_lost += client.lost_samples
        errors = [e for e in (client.error, node.error) if e is not None]
    finally:
        for closer in (getattr(node, "close", None), getattr(client, "close", None)):
            if closer:
                closer()
        if raw is not None:
            raw.stop_event.set()
            raw.join(10)
        proc.terminate()
        proc.wait(10)

    mb_per_s = n_channels * rate * 4 / 1e6
    print(
        f"\n{n_channels} channels @ {rate:g} Hz float32 ({mb_per_s:.2f} MB/s of samples), "
        f"{elapsed:.1f} s measured, emulator CPU {100 * emu_cpu / elapsed:.0f}%"
    )
    print(
        f"  {'receiver':8s} {'samples':>9s} {'lost':>5s} {'rate Hz':>9s} {'CPU %':>6s} {'CPU s/GB':>9s} {'x raw':>6s}"
    )
    raw_cost = cpu["raw"] / max(nbytes["raw"], 1) * 1e9
    rows = [
        ("raw", None, None, nbytes["raw"]),
        ("client", client_n, client_lost, nbytes["client"]),
        ("node", node_n, node_lost, nbytes["node"]),
    ]
    for name, n, lost, nb in rows:
        cost = cpu[name] / max(nb, 1) * 1e9
        eff_rate = (s1 - s0) / elapsed if name == "client" else nb / (n_channels * 4) / elapsed
        print(
            f"  {name:8s} {n if n is not None else '-':>9} {lost if lost is not None else '-':>5} "
            f"{eff_rate:9.0f} {100 * cpu[name] / elapsed:6.1f} {cost:9.2f} {cost / raw_cost:6.2f}"
        )
    ok = client_lost == 0 and node_lost == 0 and not errors
    print(f"  zero loss: {'yes' if ok else 'NO'}" + (f" (errors: {errors})" if errors else ""))
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per case")
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per case (default 5)")
    parser.add_argument("--block-ms", type=float, default=20.0, help="emulator block duration (Recorder: ~20-40 ms)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    print(
        f"RDA receive benchmark - {platform.node()} python {platform.python_version()}, "
        f"{psutil.cpu_count()} CPUs, blocks of {args.block_ms:g} ms"
    )
    results = [run_case(n, rate, seconds, args.block_ms) for n, rate in CASES]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
