"""Start-up of a graph file against the same graph built by a hand-written script, in the same run.

The graph: 10 nodes over 3 nodegroups (processes) and the main process. Each
nodegroup runs NumpyDeviceBuffer -> SosFilter -> SosFilter; a SosFilter in the
main process reads the last filter of the third nodegroup over tcp.

- file: ``lslacq.load_graph(FILE)`` then ``graph.start()`` (what ``lslacq run`` does
  before its first status line), until every node runs.
- script: the same graph with ``create_manager``, ``create_nodegroup``,
  ``create_node``, configure/connect/initialize/start calls, as a lab script would.

Both are timed from nothing running to every node running, then closed;
rounds alternate so both see the same machine load. Target: file <= 1.2x script.

Usage: ``python benchmarks/graphs.py [--quick]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

GROUPS = ("g1", "g2", "g3")
SOS = [[0.2, 0.4, 0.2, 1.0, -0.4, 0.2]]


def graph_file(directory: Path) -> Path:
    lines = ["connections = ["]
    for g in GROUPS:
        lines += [f'    "{g}_dev.signals -> {g}_f1.signals",', f'    "{g}_f1.signals -> {g}_f2.signals",']
    lines += ['    "g3_f2.signals -> sink.signals",', "]", ""]
    for g in GROUPS:
        lines += [
            f"[nodegroups.{g}]",
            "",
            f"[nodes.{g}_dev]",
            'type = "NumpyDeviceBuffer"',
            f'nodegroup = "{g}"',
            "configure = { nb_channel = 8, sample_interval = 0.001, chunksize = 10 }",
            "",
        ]
        for f in ("f1", "f2"):
            lines += [
                f"[nodes.{g}_{f}]",
                'type = "SosFilter"',
                f'nodegroup = "{g}"',
                f"configure = {{ coefficients = {SOS} }}",
                "",
            ]
    lines += ["[nodes.sink]", 'type = "SosFilter"', f"configure = {{ coefficients = {SOS} }}", ""]
    path = directory / "bench_graph.toml"
    path.write_text("\n".join(lines))
    return path


def start_file(path: Path):
    from lslacq import load_graph

    graph = load_graph(path)
    graph.start()
    return graph.close


def start_script():
    from lslacq import create_manager
    from lslacq.dsp import SosFilter

    manager = create_manager()
    coefficients = np.array(SOS)
    nodes = []
    last = None
    for g in GROUPS:
        ng = manager.create_nodegroup(name=g)
        dev = ng.create_node("NumpyDeviceBuffer", name=f"{g}_dev")
        dev.configure(nb_channel=8, sample_interval=0.001, chunksize=10)
        dev.outputs["signals"].configure(protocol="inproc")
        f1 = ng.create_node("SosFilter", name=f"{g}_f1")
        f1.configure(coefficients=coefficients)
        f1.inputs["signals"].connect(dev.outputs["signals"])
        f1.outputs["signals"].configure(protocol="inproc")
        f2 = ng.create_node("SosFilter", name=f"{g}_f2")
        f2.configure(coefficients=coefficients)
        f2.inputs["signals"].connect(f1.outputs["signals"])
        f2.outputs["signals"].configure(protocol="tcp" if g == GROUPS[-1] else "inproc")
        nodes += [dev, f1, f2]
        last = f2
    sink = SosFilter(name="sink")
    sink.configure(coefficients=coefficients)
    sink.inputs["signals"].connect(last.outputs["signals"])
    sink.outputs["signals"].configure(protocol="inproc")
    nodes.append(sink)
    for node in nodes:
        node.initialize()
    for node in reversed(nodes):
        node.start()

    def close():
        for node in nodes:
            node.stop()
        sink.close()
        manager.close()

    return close


def timed(start) -> float:
    t0 = time.perf_counter()
    close = start()
    elapsed = time.perf_counter() - t0
    close()
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds instead of 5")
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        path = graph_file(Path(tmp))
        timed(start_script)  # warm-up: imports, first process spawn
        file_times, script_times = [], []
        for _ in range(rounds):
            script_times.append(timed(start_script))
            file_times.append(timed(lambda: start_file(path)))
    f, s = statistics.median(file_times), statistics.median(script_times)
    print(f"10-node graph over 3 nodegroups, start-up to every node running ({rounds} rounds, median):")
    print(f"  hand-written script  {s:6.2f} s   (rounds: {', '.join(f'{t:.2f}' for t in script_times)})")
    print(f"  graph file           {f:6.2f} s   (rounds: {', '.join(f'{t:.2f}' for t in file_times)})")
    print(f"  file / script        {f / s:6.2f}x  (target <= 1.2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
