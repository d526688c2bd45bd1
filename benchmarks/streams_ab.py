"""Before/after benchmark of the stream data plane: this tree against a git revision.

On a shared or busy machine a single run of ``streams.py`` varies by up to 2x,
so a before/after comparison needs the two versions measured alternately, in
rounds, in the same minutes. This script checks out ``--base`` (a git
revision) into a temporary worktree, then for each round runs the same cases
once with the base's ``lslacq`` and once with this tree's, each in a fresh
interpreter (``PYTHONPATH`` selects the version; the cases below use only the
API both versions have).

Per case and version it reports the medians over rounds of:

* writer CPU per chunk (the sending thread's CPU time: what a device's
  acquisition thread pays for ``send``),
* reader CPU per chunk (the reading process's CPU time, zmq I/O thread
  included),
* end-to-end throughput (first send to last receive) of a flat-out writer
  and one reader in another process (``--readers N``: N readers, until the
  last one has everything), lossless (the reader's backlog bound is
  raised to the whole run where the version has one),

and the ratio head/base. CPU time is less disturbed by other jobs than wall
time, so the CPU ratios are the ones to trust on a busy machine.

``--latency``: instead, the one-hop latency of ``streams.py`` (a (1, 32)
float64 chunk every 1 ms, 2000 chunks, a reader in another process;
receive time minus send time), median and 90th percentile per run, and the
medians of those over rounds.

Run: ``python benchmarks/streams_ab.py --base REV [--rounds 5] [--readers 1]
[--modes plaindata,sharedmem,sharedmem-single] [--latency]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASES = (((1024, 64), 1500), ((16, 64), 15000))


# -- one version's measurements (run as: streams_ab.py --child MODES) ------------
def _child_reader(params, n_chunks, ready, out_q, backlog_bytes):
    import time as _time

    from lslacq.core.stream import InputStream

    inp = InputStream()
    try:
        inp.connect(params, max_buffered_bytes=backlog_bytes)
    except TypeError:  # a version without per-reader backlogs (the writer blocks instead)
        inp.connect(params)
    ready.set()
    samples = 0
    cpu0 = _time.process_time()
    for _ in range(n_chunks):
        _, data = inp.recv(with_data=True, timeout=60000)
        samples += len(data)
    out_q.put((_time.perf_counter(), samples, _time.process_time() - cpu0))
    inp.close()


def _child_case(protocol: str, mode: str, shape: tuple, n_chunks: int, n_readers: int = 1) -> dict:
    import multiprocessing as mp

    import numpy as np

    from lslacq.core.stream import OutputStream

    spawn = mp.get_context("spawn")
    data = np.random.default_rng(0).normal(size=shape).astype("float32")
    out = OutputStream(name="bench")
    out.configure(
        protocol=protocol,
        transfermode=mode.split("-")[0],
        dtype="float32",
        shape=(-1, shape[1]),
        buffer_size=max(4096, 256 * shape[0]),
        double=not mode.endswith("-single"),
    )
    readies, out_q = [spawn.Event() for _ in range(n_readers)], spawn.Queue()
    procs = [
        spawn.Process(
            target=_child_reader, args=(out.params.to_dict(), n_chunks, ready, out_q, n_chunks * data.nbytes + 2**20)
        )
        for ready in readies
    ]
    for proc in procs:
        proc.start()
    try:
        for ready in readies:
            ready.wait(60)
        out.wait_for_subscribers(n_readers, timeout=30)
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        for _ in range(n_chunks):
            out.send(data)
        writer_cpu = time.thread_time() - cpu0
        reports = [out_q.get(timeout=120) for _ in procs]
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
        out.close()
    end = max(r[0] for r in reports)  # the last reader to finish
    samples = min(r[1] for r in reports)
    reader_cpu = sum(r[2] for r in reports) / n_readers
    return {
        "writer_us": writer_cpu / n_chunks * 1e6,
        "reader_us": reader_cpu / n_chunks * 1e6,
        "mbps": n_chunks * data.nbytes / (end - wall0) / 1e6,
        "delivered": samples / (n_chunks * shape[0]),
    }


def _child_latency_reader(params, n_chunks, ready, out_q):
    import time as _time

    import numpy as np

    from lslacq.core.stream import InputStream

    inp = InputStream()
    inp.connect(params)  # the defaults a user gets
    ready.set()
    times = np.empty(n_chunks)
    for k in range(n_chunks):
        inp.recv(with_data=True, timeout=60000)
        times[k] = _time.perf_counter()
    out_q.put(times)
    inp.close()


def _child_latency(protocol: str, mode: str, n_chunks: int = 2000) -> dict:
    """streams.py's latency case: a (1, 32) f64 chunk every 1 ms (busy-wait pacing), one reader process."""
    import multiprocessing as mp

    import numpy as np

    from lslacq.core.stream import OutputStream

    spawn = mp.get_context("spawn")
    data = np.random.default_rng(0).normal(size=(1, 32))
    out = OutputStream(name="bench")
    out.configure(
        protocol=protocol,
        transfermode=mode.split("-")[0],
        dtype="float64",
        shape=(-1, 32),
        double=not mode.endswith("-single"),
    )
    ready, out_q = spawn.Event(), spawn.Queue()
    proc = spawn.Process(target=_child_latency_reader, args=(out.params.to_dict(), n_chunks, ready, out_q))
    proc.start()
    try:
        ready.wait(60)
        out.wait_for_subscribers(1, timeout=30)
        sent = np.empty(n_chunks)
        for k in range(n_chunks):
            target = time.perf_counter() + 0.001
            while time.perf_counter() < target:
                pass
            sent[k] = time.perf_counter()
            out.send(data)
        received = out_q.get(timeout=120)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.kill()
        out.close()
    latency = (received - sent) * 1e6
    return {"lat_med": float(np.median(latency)), "lat_p90": float(np.percentile(latency, 90))}


def _child_main(modes: list[str], n_readers: int, latency: bool = False) -> None:
    if latency:
        for protocol in ("tcp", "ipc"):
            for mode in modes:
                result = _child_latency(protocol, mode)
                print(json.dumps({"case": f"latency {protocol} {mode}", **result}), flush=True)
        return
    for protocol in ("tcp", "ipc"):
        for mode in modes:
            for shape, n_chunks in CASES:
                result = _child_case(protocol, mode, shape, n_chunks, n_readers)
                print(json.dumps({"case": f"{protocol} {mode} {shape[0]}x{shape[1]}", **result}), flush=True)


# -- the comparison ----------------------------------------------------------------
def _run_version(tree: Path, modes: str, n_readers: int, latency: bool = False) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(tree / "bridges")]))
    proc = subprocess.run(
        [sys.executable, __file__, "--child", modes, "--readers", str(n_readers)] + (["--latency"] if latency else []),
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0:
        print(f"# run with {tree} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}", flush=True)
    return rows


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="git revision to compare this tree against (e.g. a commit before a change)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modes", default="plaindata,sharedmem,sharedmem-single")
    parser.add_argument("--readers", type=int, default=1, help="reading processes per stream (fan-out)")
    parser.add_argument(
        "--latency", action="store_true", help="measure the one-hop latency of streams.py (instead of throughput)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child_main(args.child.split(","), args.readers, args.latency)
        return
    if not args.base:
        parser.error("--base REV is required (the git revision to compare against)")
    with tempfile.TemporaryDirectory(prefix="lslacq-ab-") as tmp:
        base_tree = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(base_tree), args.base],
            check=True,
            capture_output=True,
        )
        try:
            results: dict[str, dict[str, list]] = {}
            for round_no in range(args.rounds):
                load = os.getloadavg()[0]
                versions = (("base", base_tree), ("head", REPO))
                for label, tree in versions if round_no % 2 == 0 else versions[::-1]:  # alternate the order
                    for row in _run_version(tree, args.modes, args.readers, args.latency):
                        results.setdefault(row["case"], {"base": [], "head": []})[label].append(row)
                print(f"# round {round_no + 1}/{args.rounds} done (load average at its start {load:.2f})", flush=True)
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(base_tree)], capture_output=True
            )
    print(
        f"# medians over rounds; base = {args.base}, head = this tree; ratio = head / base; "
        f"{args.readers} reader process(es) per stream (reader CPU: mean per reader)"
    )
    if args.latency:
        header = f"{'case':30} | {'median us base head':>20} {'ratio':>5} | {'p90 us base head':>20} {'ratio':>5}"
        print(header)
        print("-" * len(header))
        for case, runs in results.items():
            base, head = runs["base"], runs["head"]
            if not base or not head:
                print(f"{case:30} | missing runs (base {len(base)}, head {len(head)})")
                continue
            cells = []
            for key in ("lat_med", "lat_p90"):
                b, h = _median(base, key), _median(head, key)
                cells.append(f"{b:9.0f} {h:9.0f}  {h / b:5.2f}")
            runs_text = (
                " ".join(f"{r['lat_med']:.0f}" for r in base) + " / " + " ".join(f"{r['lat_med']:.0f}" for r in head)
            )
            print(f"{case:30} | {cells[0]} | {cells[1]} | per round: {runs_text}")
        return
    header = (
        f"{'case':30} | {'writer us/chunk':>17} {'ratio':>5} | {'reader us/chunk':>17} {'ratio':>5} | "
        f"{'MB/s':>11} {'ratio':>5} | deliv"
    )
    print(header)
    print("-" * len(header))
    for case, runs in results.items():
        base, head = runs["base"], runs["head"]
        if not base or not head:
            print(f"{case:30} | missing runs (base {len(base)}, head {len(head)})")
            continue
        cells = []
        for key in ("writer_us", "reader_us", "mbps"):
            b, h = _median(base, key), _median(head, key)
            cells.append(f"{b:7.1f} {h:7.1f}  {h / b:5.2f}" if key != "mbps" else f"{b:5.0f} {h:5.0f} {h / b:5.2f}")
        delivered = min(row["delivered"] for row in base + head)
        print(f"{case:30} | {cells[0]} | {cells[1]} | {cells[2]} | {delivered:.3f}")


if __name__ == "__main__":
    main()
