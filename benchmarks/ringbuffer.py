"""RingBuffer write + read cost: the mirrored double ring against the copying one and plain numpy.

For each chunk shape, chunks are written into a ring of ``--ring`` frames and,
after each write, the newest ``window`` frames are read back as one array (a
zero-copy view for double rings), the way a viewer or a filter reads its
input. Layouts (all with the same chunks, in the same run, interleaved rounds):

* ``numpy copy``: the baseline, ``dst[pos:pos + n] = chunk`` into a plain
  array (one copy of the chunk, no ring logic, no read);
* ``mirrored``: ``RingBuffer(double=True)`` on a memfd mapped twice (lslacq's
  default on Linux): each chunk is written once;
* ``copy double``: the same ring with pyacq's layout (memory doubled, each
  chunk written twice);
* ``single``: ``double=False`` (reads across the wrap point are copies);
* ``mirrored shm``: the mirrored ring in shared memory (what sharedmem
  streams use).

Ratios are time per chunk / numpy copy, and copy double / mirrored.

Run: ``python benchmarks/ringbuffer.py [--quick] [--ring FRAMES]``.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import time

import numpy as np

from lslacq.core.stream import RingBuffer
from lslacq.core.stream import ringbuffer as ringbuffer_module

SHAPES = [(16, 64), (256, 64), (1024, 64), (4096, 64)]


@contextlib.contextmanager
def copying_layout():
    """Build rings with the copying (pyacq) double layout while inside."""
    original = ringbuffer_module._mirror_period
    ringbuffer_module._mirror_period = lambda size, frame_bytes: None
    try:
        yield
    finally:
        ringbuffer_module._mirror_period = original


def make_ring(kind: str, size: int, nch: int) -> RingBuffer:
    if kind == "mirrored":
        ring = RingBuffer((size, nch), "float32", double=True)
        assert ring.mirrored, "mirrored rings need Linux"
    elif kind == "mirrored shm":
        ring = RingBuffer((size, nch), "float32", double=True, shmem=True)
        assert ring.mirrored
    elif kind == "copy double":
        with copying_layout():
            ring = RingBuffer((size, nch), "float32", double=True)
        assert not ring.mirrored
    elif kind == "single":
        ring = RingBuffer((size, nch), "float32", double=False)
    else:
        raise ValueError(kind)
    return ring


def run_ring(ring: RingBuffer, chunk: np.ndarray, n_chunks: int, window: int) -> float:
    """Seconds per chunk for new_chunk + reading the newest ``window`` frames."""
    ring.reset_index()
    n = chunk.shape[0]
    for _ in range(max(1, ring.size // n)):  # fill once so every read is a full window
        ring.new_chunk(chunk)
    t0 = time.perf_counter()
    for _ in range(n_chunks):
        ring.new_chunk(chunk)
        index = ring.index()
        ring.get_data(index - window, index)
    return (time.perf_counter() - t0) / n_chunks


def run_numpy(dst: np.ndarray, chunk: np.ndarray, n_chunks: int) -> float:
    n, size = chunk.shape[0], dst.shape[0]
    pos = 0
    t0 = time.perf_counter()
    for _ in range(n_chunks):
        if pos + n > size:
            pos = 0
        dst[pos : pos + n] = chunk
        pos += n
    return (time.perf_counter() - t0) / n_chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer chunks and rounds")
    parser.add_argument("--ring", type=int, default=100_000, help="ring size in frames (default 100000)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (best kept)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    kinds = ["mirrored", "copy double", "single", "mirrored shm"]
    print(
        f"RingBuffer write+read, ring {args.ring} frames, float32; {platform.platform()}; "
        f"best of {rounds} interleaved rounds"
    )
    print(
        f"{'chunk':>11} {'window':>6} {'numpy copy':>10}"
        + "".join(f" {k:>17}" for k in kinds)
        + "  copy double / mirrored"
    )
    for n, nch in SHAPES:
        chunk = np.random.default_rng(0).standard_normal((n, nch)).astype("float32")
        window = min(args.ring, max(n, 1024))
        n_chunks = max(50, (2_000 if args.quick else 20_000) * 16 // n)
        rings = {k: make_ring(k, args.ring, nch) for k in kinds}
        dst = np.empty((args.ring, nch), "float32")
        best = {k: float("inf") for k in ["numpy copy"] + kinds}
        for _ in range(rounds):
            best["numpy copy"] = min(best["numpy copy"], run_numpy(dst, chunk, n_chunks))
            for kind, ring in rings.items():
                best[kind] = min(best[kind], run_ring(ring, chunk, n_chunks, window))
        base = best["numpy copy"]
        line = f"{str((n, nch)):>11} {window:>6} {base * 1e6:7.1f} us"
        line += "".join(f" {best[k] * 1e6:7.1f} us ({best[k] / base:4.1f}x)" for k in kinds)
        print(line + f"  {best['copy double'] / best['mirrored']:.2f}x")
        for ring in rings.values():
            ring.close()


if __name__ == "__main__":
    main()
