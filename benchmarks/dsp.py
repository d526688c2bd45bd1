"""DSP benchmarks: SosFilter throughput next to bare scipy, trigger detection cost per sample.

SosFilter (64 channels, float32, 10 kHz, Butterworth band-pass of order 4 =
4 sections), for chunks of 100 samples (10 ms) and 1000 samples (100 ms):

* ``scipy``: bare ``scipy.signal.sosfilt`` with its ``zi`` carried across the
  same chunks, in a loop (the baseline: the filtering work alone);
* ``engine``: :class:`lslacq.dsp.SosFilterEngine` on the same chunks (what
  the node computes per chunk: scipy + state handling + output cast);
* ``OpenCL engine``: ``engine='opencl'`` (when pyopencl and a runtime are
  installed; on a CPU runtime such as pocl it is expected to be slower);
* ``node``: a SosFilter node in a graph: this thread sends the chunks on an
  OutputStream, the node's thread receives, filters and sends them, a reader
  thread receives them; the time runs from the first send to the last receive.

Ratios are throughput relative to bare scipy in the same run (1.0 = as fast
as scipy; the node target is >= 0.9). "x realtime" is the throughput divided by
the 640 000 samples/s of 64 ch at 10 kHz.

Triggers: :class:`lslacq.dsp.ThresholdDetector` in each debounce mode on a
10 kHz signal with a crossing every 10 ms, in ns per sample, next to a bare
numpy crossing search (``flatnonzero((x[:-1] <= t) & (x[1:] > t))``) on the
same chunks; and the AnalogTrigger node end to end (64-channel input, one
channel watched), in ns per input sample (one sample = one time point).

Run: ``python benchmarks/dsp.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import threading
import time

import numpy as np
import scipy
import scipy.signal

N_CHANNELS = 64
SR = 10_000.0


def _best(fn, repeat):
    """Best wall time of ``repeat`` runs of ``fn()`` (least disturbed by the shared machine)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_scipy(sos, chunks):
    def run():
        zi = np.zeros((sos.shape[0], 2, N_CHANNELS))
        for chunk in chunks:
            _, zi = scipy.signal.sosfilt(sos, chunk, axis=0, zi=zi)

    return run


def bench_engine(sos, chunks):
    from lslacq.dsp import SosFilterEngine

    def run():
        engine = SosFilterEngine(sos, N_CHANNELS, dtype=np.float32)
        for chunk in chunks:
            engine.process(chunk)

    return run


def bench_opencl(sos, chunks, chunksize):
    from lslacq.dsp.opencl import OpenCLSosEngine

    engine = OpenCLSosEngine(sos, N_CHANNELS, chunksize, dtype=np.float32)  # kernel built once, outside the timing

    def run():
        engine.reset()
        for chunk in chunks:
            engine.process(chunk)

    return run


def bench_node(sos, chunks, protocol="inproc"):
    """Time one pass of ``chunks`` through a SosFilter node (first send -> last receive)."""
    from lslacq.core.stream import InputStream, OutputStream
    from lslacq.dsp import SosFilter

    src = OutputStream(name="src")
    src.configure(protocol=protocol, transfermode="plaindata", dtype="float32", shape=(-1, N_CHANNELS), sample_rate=SR)
    filt = SosFilter(name="filt")
    filt.configure(coefficients=sos)
    filt.input.connect(src)
    filt.output.configure(protocol=protocol, transfermode="plaindata")
    filt.initialize()
    sink = InputStream(name="sink")
    sink.connect(filt.output)
    total = sum(len(c) for c in chunks)
    result = {}

    def read():
        got = 0
        while got < total:
            _, data = sink.recv(timeout=60_000)
            got += len(data)
        result["t_end"] = time.perf_counter()

    reader = threading.Thread(target=read)
    filt.start()
    try:
        reader.start()
        t0 = time.perf_counter()
        index = 0
        for chunk in chunks:
            index += len(chunk)
            src.send(chunk, index=index)
        reader.join(120)
        if "t_end" not in result:
            raise RuntimeError("the SosFilter node did not deliver every chunk within 120 s")
        return result["t_end"] - t0
    finally:
        filt.stop()
        filt.close()
        sink.close()
        src.close()


def sosfilter_cases(seconds, repeat):
    from lslacq.dsp import design_sos

    sos = design_sos("bandpass", [1.0, 100.0], SR, order=4)
    rng = np.random.default_rng(0)
    base = int(5 * SR)  # 5 s of distinct data, replayed to make ``seconds`` of signal
    signal = rng.standard_normal((base, N_CHANNELS)).astype(np.float32)
    n_pass = max(1, int(round(seconds / 5)))
    n = base * n_pass
    rows = []
    for chunksize in (100, 1000):
        chunks = [np.ascontiguousarray(signal[i : i + chunksize]) for i in range(0, base, chunksize)] * n_pass
        t_scipy = _best(bench_scipy(sos, chunks), repeat)
        t_engine = _best(bench_engine(sos, chunks), repeat)
        t_node = min(bench_node(sos, chunks) for _ in range(repeat))
        cases = [("scipy sosfilt", t_scipy), ("SosFilterEngine", t_engine), ("SosFilter node", t_node)]
        from lslacq.dsp.opencl import opencl_available

        if opencl_available():
            cases.append(("OpenCL engine", _best(bench_opencl(sos, chunks, chunksize), 1)))
        for label, t in cases:
            rate = n / t
            rows.append((chunksize, label, rate, t_scipy / t))
    return rows


def trigger_cases(seconds, repeat):
    from lslacq.dsp import ThresholdDetector

    n = int(min(seconds, 30) * SR)
    t = np.arange(n) / SR
    x = np.sin(2 * np.pi * 50.0 * t)  # a '+' crossing of 0.5 every 20 ms
    rows = []
    for chunksize in (100, 1000):
        chunks = [(i + chunksize, x[i : i + chunksize]) for i in range(0, n, chunksize)]

        def bare(chunks=chunks):
            prev = None
            for _, c in chunks:
                buf = c if prev is None else np.concatenate([prev, c])
                np.flatnonzero((buf[:-1] <= 0.5) & (buf[1:] > 0.5))
                prev = c[-1:]

        t_bare = _best(bare, repeat)
        rows.append((chunksize, "bare numpy search", t_bare / n * 1e9, 1.0))
        for mode in ("no-debounce", "after-stable", "before-stable"):

            def run(mode=mode, chunks=chunks):
                det = ThresholdDetector(0.5, "+", mode, debounce=20)
                for end, c in chunks:
                    det.process(end, c)

            t_det = _best(run, repeat)
            rows.append((chunksize, f"ThresholdDetector {mode}", t_det / n * 1e9, t_det / t_bare))
    return rows


def trigger_node_case(seconds, chunksize=100):
    from lslacq.core.stream import InputStream, OutputStream
    from lslacq.dsp import AnalogTrigger

    n = int(seconds * SR)
    t = np.arange(n) / SR
    data = np.repeat(np.sin(2 * np.pi * 50.0 * t)[:, None], N_CHANNELS, axis=1).astype(np.float32)
    expected = int(np.count_nonzero((data[:-1, 3] <= 0.5) & (data[1:, 3] > 0.5)))
    src = OutputStream(name="src")
    src.configure(protocol="inproc", dtype="float32", shape=(-1, N_CHANNELS), sample_rate=SR)
    trig = AnalogTrigger(name="trig")
    trig.configure(channel=3, threshold=0.5)
    trig.input.connect(src)
    trig.output.configure(protocol="inproc")
    trig.initialize()
    sink = InputStream(name="sink")
    sink.connect(trig.output)
    trig.start()
    try:
        t0 = time.perf_counter()
        for i in range(0, n, chunksize):
            src.send(np.ascontiguousarray(data[i : i + chunksize]), index=i + chunksize)
        got = 0
        while got < expected:
            _, ev = sink.recv(timeout=60_000)
            got += len(ev)
        elapsed = time.perf_counter() - t0
    finally:
        trig.stop()
        trig.close()
        sink.close()
        src.close()
    return elapsed / n * 1e9, got


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (30 s of signal, well under a minute)")
    args = parser.parse_args(argv)
    seconds, repeat = (30.0, 2) if args.quick else (120.0, 3)
    print(
        f"lslacq DSP benchmark  ({platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"{os.cpu_count()} CPUs)"
    )
    print(
        f"\nSosFilter: {N_CHANNELS} ch float32 @ {SR:.0f} Hz, 4 sections, {seconds:.0f} s of signal; "
        "ratio = throughput / bare scipy sosfilt (same chunks, same run)"
    )
    print(f"{'chunk':>6}  {'what':<18}{'Msamples/s':>12}{'x realtime':>12}{'ratio':>8}")
    for chunksize, label, rate, ratio in sosfilter_cases(seconds, repeat):
        print(f"{chunksize:>6}  {label:<18}{rate * N_CHANNELS / 1e6:>12.1f}{rate / SR:>12.0f}{ratio:>8.2f}")
    print("\nTrigger detection (1 channel, 50 Hz sine, debounce 20 samples); ratio = cost / bare numpy search")
    print(f"{'chunk':>6}  {'what':<34}{'ns/sample':>10}{'ratio':>8}")
    for chunksize, label, ns, ratio in trigger_cases(seconds, repeat):
        print(f"{chunksize:>6}  {label:<34}{ns:>10.1f}{ratio:>8.2f}")
    ns, got = trigger_node_case(min(seconds, 30))
    print(f"{100:>6}  {'AnalogTrigger node (64 ch in)':<34}{ns:>10.1f}{'':>8}  ({got} events, end to end)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
