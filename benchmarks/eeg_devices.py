"""Decoding cost of the OpenBCI and Emotiv protocols, against per-packet Python decoders in the same run.

OpenBCI: a Cyton in its fastest mode (16 kHz, over WiFi) sends 16,000 packets
(528 kB) per second. The stream is generated once (known counts, accelerometer
every 10th packet), then decoded as the node does, in reads of ``--read-ms``
of data (20 ms: the node's default ``read_interval``; 4 ms: a low-latency
setting), by:

* lslacq: :class:`lslacq.devices.openbci.protocol.CytonDecoder` (numpy, many packets per call);
* per-packet baseline: a straightforward per-packet decoder (find the header,
  ``struct`` per channel, as the reference Python drivers do).

Reported: CPU time per second of data (% of one core; the target is < 5 %),
and the baseline/lslacq ratio. Both decoders' outputs are checked equal.

On Linux, the node itself reads the emulator streaming at 16 kHz over a pty:
the CPU of its reader thread (pyserial read, decode, send) is reported too.

Emotiv: 128 reports per second, decoded one report per call as the node does
(decrypt with pycryptodome, 14 fields, counters), next to a per-bit baseline
(emokit's get_level over the bit tables).

Run: ``python benchmarks/eeg_devices.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import struct
import sys
import threading
import time

import numpy as np

from lslacq.devices.emotiv.emulator import expected_packet
from lslacq.devices.emotiv.protocol import EEG_BIT_OFFSETS, EmotivDecoder, decrypt, encrypt, make_key
from lslacq.devices.openbci.protocol import CytonDecoder, encode_packet, microvolts_per_count


def cyton_stream(n_packets: int) -> bytes:
    base = np.arange(1, 9) * 1000
    accel = b"\x01\x00\xff\x00\x20\x00"
    return b"".join(encode_packet(n, base + n % 1000, accel if n % 10 == 0 else b"\0" * 6) for n in range(n_packets))


class PerPacketCyton:
    """Baseline: one packet at a time, struct per channel."""

    def __init__(self):
        self.buf = b""
        self.scale = microvolts_per_count(24)

    def feed(self, data: bytes):
        buf = self.buf + data
        out = []
        i = 0
        while len(buf) - i >= 33:
            if buf[i] != 0xA0 or buf[i + 32] & 0xF0 != 0xC0:
                i += 1
                continue
            values = []
            for k in range(8):
                b = buf[i + 2 + 3 * k : i + 5 + 3 * k]
                values.append(struct.unpack(">i", (b"\xff" if b[0] & 0x80 else b"\x00") + b)[0] * self.scale)
            if buf[i + 32] == 0xC0:
                struct.unpack(">3h", buf[i + 26 : i + 32])
            out.append(values)
            i += 33
        self.buf = buf[i:]
        return out


def bench_cyton(seconds: float, read_ms: float, rate: float = 16000.0):
    n = int(seconds * rate)
    stream = cyton_stream(n + 1)
    step = int(rate * read_ms / 1000) * 33
    pieces = [stream[i : i + step] for i in range(0, len(stream), step)]
    results = {}
    for name, decoder in (("lslacq", CytonDecoder()), ("per-packet", PerPacketCyton())):
        t0 = time.process_time()
        got = [decoder.feed(p) for p in pieces]
        cpu = time.process_time() - t0
        if name == "lslacq":
            first = np.concatenate([g.microvolts for g in got])
        else:
            other = np.array([row for g in got for row in g], np.float32)
        results[name] = cpu / seconds * 100
    np.testing.assert_allclose(first[: len(other)], other[: len(first)], rtol=1e-6)
    return results


def bench_emotiv(seconds: float):
    serial = "SN20120526998912"
    key = make_key(serial)
    n = int(seconds * 128)
    reports = [encrypt(expected_packet(i), key) for i in range(n)]
    decoder = EmotivDecoder(serial)
    t0 = time.process_time()
    for r in reports:
        decoder.feed([r])
    lslacq_cpu = time.process_time() - t0

    tables = [[off + 13 - i for i in range(14)] for off in EEG_BIT_OFFSETS]  # MSB-first bit numbers, LSB first

    def per_bit(plain):
        values = []
        for bits in tables:
            level = 0
            for i in range(13, -1, -1):
                bit = bits[i]
                level = (level << 1) | ((plain[bit // 8] >> (7 - bit % 8)) & 1)
            values.append(level)
        return values

    t0 = time.process_time()
    for r in reports:
        per_bit(decrypt(r, key)[0].tolist())
    base_cpu = time.process_time() - t0
    assert decoder.lost_packets == 0
    return {"lslacq": lslacq_cpu / seconds * 100, "per-bit": base_cpu / seconds * 100}


def _thread_cpu(native_id: int) -> float:
    """CPU seconds (user + system) of one thread of this process (Linux)."""
    with open(f"/proc/self/task/{native_id}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reader_thread(node) -> threading.Thread:
    """Return the thread of the node's :class:`~lslacq.devices.reader.DeviceReader` worker (the node is running)."""
    from lslacq.devices.reader import DeviceReader

    reader = next((w for w in node.workers if isinstance(w, DeviceReader)), None)
    if reader is None:
        raise RuntimeError(f"{node.name} has no DeviceReader worker (workers: {node.workers})")
    thread = next((t for t in threading.enumerate() if t.name == reader.name), None)
    if thread is None:
        raise RuntimeError(f"the thread of {reader!r} is not running")
    return thread


def bench_node(seconds: float, rate: float = 16000.0):
    """Measure the CPU of the OpenBCI node's reader thread, reading the emulator at ``rate`` over a pty."""
    from lslacq.core.stream import InputStream
    from lslacq.devices.eeg_openbci import OpenBCI
    from lslacq.devices.openbci.emulator import CytonEmulator

    with CytonEmulator(sample_rate=rate) as emu, OpenBCI(name="bench") as node:
        node.configure(device_handle=emu.port, daisy=False, sample_rate=rate)
        node.outputs["signals"].configure(protocol="tcp")
        node.initialize()
        inp = InputStream()
        inp.connect(node.outputs["signals"])
        received = [0]
        done = threading.Event()

        def drain():
            while not done.is_set():
                if inp.poll(50):
                    received[0] += len(inp.recv()[1])

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        node.start()
        time.sleep(0.5)  # warm up
        tid = reader_thread(node).native_id
        cpu0, n0, t0 = _thread_cpu(tid), node.outputs["signals"].last_index, time.monotonic()
        time.sleep(seconds)
        cpu1, n1, t1 = _thread_cpu(tid), node.outputs["signals"].last_index, time.monotonic()
        counters = node.counters()
        node.stop()
        done.set()
        reader.join(10)
        inp.close()
    return {
        "cpu": (cpu1 - cpu0) / (t1 - t0) * 100,
        "rate": (n1 - n0) / (t1 - t0),
        "lost": counters["lost_packets"],
        "overflow": emu.overflow_bytes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else 10.0
    print(
        f"# {platform.python_version()} on {platform.machine()}, numpy {np.__version__}; CPU as % of one core "
        "per second of data"
    )
    print("OpenBCI Cyton at 16 kHz (16,000 packets/s):")
    for read_ms in (20.0, 4.0):
        r = bench_cyton(seconds, read_ms)
        verdict = (
            f"target < 5 % with the node's reads: {'met' if r['lslacq'] < 5 else 'MISSED'}"
            if read_ms == 20.0
            else "(small reads: the per-call overhead dominates)"
        )
        print(
            f"  reads of {read_ms:4.0f} ms: lslacq {r['lslacq']:5.2f} %   per-packet baseline {r['per-packet']:6.1f} %"
            f"   ratio {r['per-packet'] / r['lslacq']:5.1f}x   {verdict}"
        )
    if sys.platform.startswith("linux"):
        n = bench_node(seconds)
        print(
            f"  the OpenBCI node reading the emulator at 16 kHz over a pty (pyserial read + decode + send): "
            f"{n['cpu']:.1f} % of a core for its thread, {n['rate']:.0f} samples/s, {n['lost']} packets lost "
            f"({n['overflow']} bytes the pty could not take)"
        )
    r = bench_cyton(seconds * 8, 20.0, rate=250.0)
    print(f"OpenBCI Cyton at 250 Hz, 20 ms reads: lslacq {r['lslacq']:.3f} %   per-packet {r['per-packet']:.3f} %")
    e = bench_emotiv(seconds * 4)
    print(
        f"Emotiv EPOC at 128 Hz, one report per call: lslacq {e['lslacq']:.2f} %   per-bit baseline "
        f"{e['per-bit']:.2f} %   ratio {e['per-bit'] / e['lslacq']:.1f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
