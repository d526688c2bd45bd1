"""Graph files at run time: the same data as a script, nodegroups, status, failures, the commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from helpers import loopback_alias_usable, start_host, stop_host, wait_until

from lslacq import InputStream, load_graph
from lslacq.devices.numpy_device import NumpyDeviceBuffer
from lslacq.dsp import SosFilter, design_sos

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "graphs"


def device_filter_graph(tmp_path, data: np.ndarray, nodegroups: str = "", dev_group: str = "main") -> Path:
    rows = ", ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in data)
    path = tmp_path / "graph.toml"
    path.write_text(f"""\
connections = ["dev.signals -> filt.signals"]

[params]
f_high = 40.0

{nodegroups}

[nodes.dev]
type = "NumpyDeviceBuffer"
nodegroup = "{dev_group}"
configure = {{ nb_channel = {data.shape[1]}, sample_interval = 0.001, chunksize = 10, buffer = {{ array = {{ values = [{rows}], dtype = "float32" }} }} }}

[nodes.filt]
type = "SosFilter"
configure = {{ coefficients = {{ design_sos = {{ kind = "lowpass", freqs = "${{f_high}}", sample_rate = 1000.0 }} }} }}
""")  # noqa: E501 - a TOML inline table is one line
    return path


def receive(inp: InputStream, n: int) -> np.ndarray:
    chunks, total = [], 0
    while total < n:
        assert inp.poll(5000), f"no data after {total} samples"
        _index, chunk = inp.recv()
        chunks.append(np.array(chunk))
        total += len(chunk)
    return np.concatenate(chunks)[:n]


@pytest.mark.slow
def test_a_file_graph_gives_the_data_of_the_same_graph_built_in_python(tmp_path):
    data = np.random.default_rng(3).standard_normal((200, 2)).astype("float32")
    n = 400  # two loops over the buffer
    with load_graph(device_filter_graph(tmp_path, data), f_high=30.0) as graph, InputStream() as inp:
        assert graph.order == ["dev", "filt"] and isinstance(graph.nodes["filt"], SosFilter)
        inp.connect(graph.nodes["filt"].outputs["signals"])
        graph.start()
        from_file = receive(inp, n)

    dev, filt = NumpyDeviceBuffer(name="dev"), SosFilter(name="filt")
    try:
        dev.configure(nb_channel=2, sample_interval=0.001, chunksize=10, buffer=data)
        dev.outputs["signals"].configure(protocol="inproc")
        filt.configure(coefficients=design_sos("lowpass", 30.0, sample_rate=1000.0))
        filt.inputs["signals"].connect(dev.outputs["signals"])
        filt.outputs["signals"].configure(protocol="inproc")
        with InputStream() as inp:
            inp.connect(filt.outputs["signals"])
            for node in (dev, filt):
                node.initialize()
            filt.start()
            dev.start()
            from_script = receive(inp, n)
    finally:
        dev.close()
        filt.close()
    np.testing.assert_array_equal(from_file, from_script)


@pytest.mark.slow
def test_a_killed_nodegroup_shows_as_failed_while_the_rest_keeps_streaming(tmp_path):
    data = np.ones((100, 1), dtype="float32")
    path = device_filter_graph(tmp_path, data)
    text = path.read_text().replace(
        "[nodes.dev]",
        """[nodes.remote]
type = "NumpyDeviceBuffer"
nodegroup = "acq"
configure = { nb_channel = 1, sample_interval = 0.001, chunksize = 10 }

[nodegroups.acq]

[nodes.dev]""",
    )
    path.write_text(text)
    with load_graph(path) as graph:
        graph.start()
        status = wait_until(lambda: (s := graph.status())["nodes"]["remote"]["samples_out"] and s, what="remote data")
        pid = status["processes"]["acq"]["pid"]
        assert status["nodes"]["remote"]["state"] == "running" and pid != os.getpid()
        os.kill(pid, signal.SIGKILL)
        status = wait_until(
            lambda: (s := graph.status())["processes"]["acq"]["state"] == "dead" and s,
            what="the manager reporting the nodegroup dead",
        )
        assert status["nodes"]["remote"]["state"] == "failed"
        assert "nodegroup 'acq' is dead" in status["nodes"]["remote"]["error"]
        wait_until(lambda: (graph.status()["nodes"]["filt"]["rate_out"] or 0) > 500, what="main graph streaming")
        assert graph.status()["nodes"]["filt"]["state"] == "running"


def run_cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lslacq.cli", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_check_validates_every_example_graph_file(capsys):
    from lslacq.cli import main

    files = sorted(EXAMPLES.glob("*.toml"))
    assert len(files) >= 3
    proc = run_cli("check", "--offline", str(files[0]))  # the command line once, the others in this process
    assert proc.returncode == 0 and "valid" in proc.stdout, (files[0], proc.stderr)
    for path in files[1:]:
        code = main(["check", "--offline", str(path)])
        out, err = capsys.readouterr()
        assert code == 0 and "valid" in out, (path, err)


@pytest.mark.slow
def test_check_reports_the_line_and_exits_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[nodes.a]\ntype = "NumpyDeviceBufer"\n')
    proc = run_cli("check", str(path))
    assert proc.returncode == 2
    assert f"{path}:2:" in proc.stderr and "did you mean 'NumpyDeviceBuffer'" in proc.stderr


@pytest.mark.slow
def test_check_prints_the_schema_for_editors():
    proc = run_cli("check", "--schema")
    schema = json.loads(proc.stdout)
    assert {"nodes", "nodegroups", "connections", "params", "include"} <= set(schema["properties"])


@pytest.mark.slow
def test_run_demo_file_prints_json_status_and_stops_at_duration():
    proc = run_cli(
        "run",
        str(EXAMPLES / "demo.toml"),
        "--duration",
        "3",
        "--interval",
        "0.5",
        "--json",
        "--set",
        "channels=4",
        "--set",
        "name=lslacq-graph-test",
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) >= 4
    last = lines[-1]["nodes"]
    assert last["eeg_outlet"]["state"] == "running" and last["eeg_outlet"]["samples_in"] > 500
    assert last["eeg"]["rate_out"] == pytest.approx(500, rel=0.3)
    assert last["eeg"]["waiting"] == 0 and last["eeg"]["wait_seconds"] == 0  # a live device never waits


def test_status_table_shows_how_much_of_the_time_a_node_waited_for_its_readers():
    from lslacq.cli.run import format_status

    row = {
        "type": "FileReplay",
        "nodegroup": "main",
        "state": "running",
        "error": None,
        "rate_in": None,
        "rate_out": 5000.0,
        "lost_samples": 0,
        "latency": None,
        "wait_seconds": 12.0,
        "waiting": 0.62,
    }
    text = format_status({"nodes": {"replay": row}, "processes": {}}, 20.0)
    header, line = text.splitlines()[1:3]
    assert header.split()[-1] == "WAITING" and line.split()[-2:] == ["62", "%"]


@pytest.mark.slow
def test_ctrl_c_leaves_no_process(tmp_path):
    data = np.ones((100, 1), dtype="float32")
    path = device_filter_graph(tmp_path, data, nodegroups="[nodegroups.acq]", dev_group="acq")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lslacq.cli", "run", str(path), "--json", "--interval", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        status = json.loads(proc.stdout.readline())
        pids = [p["pid"] for p in status["processes"].values()]
        family = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
        assert status["nodes"]["dev"]["state"] == "running" and len(pids) == 2
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert proc.wait(30) == 0, proc.stderr.read()
        wait_until(
            lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in family),
            timeout=15,
            what="every process of the graph gone",
        )
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_a_graph_file_served_as_a_dareplane_module(tmp_path):
    from lslacq_dareplane.graph_module import GraphModule

    data = np.ones((100, 1), dtype="float32")
    module = GraphModule(str(device_filter_graph(tmp_path, data)), config={"f_high": 20.0}, port=0)
    try:
        assert module.name == "graph"
        module.start()
        assert module.state == "running" and set(module.nodes) == {"dev", "filt"}
        wait_until(lambda: module.nodes["filt"].counters()["samples_out"] > 50, what="filtered data")
        module.configure(**{"filt.chunksize": 20})  # CONFIGURE rebuilds the graph from the file
        assert module.nodes["filt"].chunksize == 20 and module.state == "running"
        with pytest.raises(Exception, match="no parameter 'nope'"):
            module.configure(nope=1)
    finally:
        module.close()


@pytest.mark.slow
@pytest.mark.skipif(not loopback_alias_usable("127.0.0.3"), reason="needs loopback aliases 127.0.0.2 and .3")
def test_two_host_example_streams_across_both_hosts_to_lsl():
    hosts = [start_host("127.0.0.2"), start_host("127.0.0.3")]
    try:
        (_, amp), (_, dsp) = hosts
        proc = run_cli(
            "run",
            str(EXAMPLES / "two_hosts.toml"),
            "--duration",
            "3",
            "--interval",
            "1",
            "--json",
            "--set",
            f"amp_host={amp}",
            "--set",
            f"dsp_host={dsp}",
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        last = json.loads(proc.stdout.splitlines()[-1])
        assert {last["nodes"][n]["nodegroup"] for n in ("eeg", "filt", "outlet")} == {"amp_pc", "dsp_pc", "main"}
        assert last["nodes"]["outlet"]["samples_in"] > 500  # crossed both hosts, reached the LSL outlet
        assert all(p["state"] == "running" for p in last["processes"].values())
    finally:
        assert [stop_host(p) for p, _ in hosts] == [0, 0]


@pytest.mark.slow
@pytest.mark.qt
def test_lsl_to_oscilloscope_example_shows_the_stream():
    pylsl = pytest.importorskip("pylsl")
    name = f"lslacq-graph-scope-{os.getpid()}"
    info = pylsl.StreamInfo(name, "EEG", 2, 500.0, "float32", name)
    outlet = pylsl.StreamOutlet(info)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lslacq.cli",
            "run",
            str(EXAMPLES / "lsl_filter_scope.toml"),
            "--set",
            f"stream={name}",
            "--duration",
            "3",
            "--interval",
            "0.5",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        chunk = np.zeros((25, 2), dtype="float32")
        while proc.poll() is None:  # a 500 Hz source until the graph ends
            outlet.push_chunk(chunk)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        del outlet
    assert proc.returncode == 0, err
    last = json.loads(out.splitlines()[-1])["nodes"]
    assert last["scope"]["nodegroup"] == "gui" and last["scope"]["samples_in"] > 100
