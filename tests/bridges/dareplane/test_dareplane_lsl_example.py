"""examples/dareplane_lsl_filter_module.py launched like a control room launches modules, with real LSL peers.

dareplane-utils' PythonLauncher starts ``python -m lslacq_dareplane <example> --port=.. --ip=..``; its
ModuleConnection connects; commands go over TCP; a pylsl outlet feeds the module and a pylsl inlet reads the
filtered stream, which must equal scipy's sosfilt of what was sent, with the original timestamps.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from helpers import wait_until

REPO = Path(__file__).resolve().parents[3]
os.environ.setdefault("LSLAPICFG", str(REPO / "tests/bridges/lsl/lsl_api.cfg"))  # loopback only

pylsl = pytest.importorskip("pylsl")
signal = pytest.importorskip("scipy.signal")

EXAMPLE = REPO / "examples/dareplane_lsl_filter_module.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_line(conn, timeout=30.0) -> bytes:
    sock = conn.communicator.socket_c
    sock.settimeout(timeout)
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"module closed the connection; got {data!r}")
        data += chunk
    return data


def status(conn) -> dict:
    conn.send_message(b"STATUS")
    return json.loads(read_line(conn))


def pull_exactly(inlet, n, timeout=60.0):
    chunks, stamps = [], []

    def pulled_n():
        data, ts = inlet.pull_chunk(timeout=1.0, max_samples=n - len(stamps))
        if ts:
            chunks.append(np.asarray(data, dtype=np.float64))
            stamps.extend(ts)
        return len(stamps) >= n

    wait_until(pulled_n, timeout, 0, what=lambda: f"{n} filtered samples (received {len(stamps)})")
    return np.concatenate(chunks), np.asarray(stamps)


@pytest.mark.slow
def test_lsl_filter_module_driven_by_dareplane(tmp_path):
    from dareplane_utils.module_handling.communication import SocketCommunicator
    from dareplane_utils.module_handling.launcher import PythonLauncher
    from dareplane_utils.module_handling.module_connection import ModuleConnection

    from lslacq.dsp import design_sos

    name = f"lslacq-test-{uuid.uuid4().hex[:10]}"
    srate, n_ch, n = 250.0, 3, 1500
    info = pylsl.StreamInfo(name, "EEG", n_ch, srate, "float32", f"{name}-sid")
    chans = info.desc().append_child("channels")
    for label in ("Fz", "Cz", "Pz"):
        chans.append_child("channel").append_child_value("label", label)
    source = pylsl.StreamOutlet(info)

    port = free_port()
    launcher = PythonLauncher(
        "lslacq_dareplane",
        cwd=REPO,
        executable=sys.executable,
        args=[str(EXAMPLE)],
        kwargs={"port": port, "ip": "127.0.0.1", "loglevel": 20, "log_server": "none", "stream": name},
    )
    comm = SocketCommunicator("127.0.0.1", port, "lsl-filter", retry_after_s=0.5, max_connect_retries=60)
    conn = ModuleConnection("lsl-filter", launcher, comm)
    log = open(tmp_path / "module.log", "w")
    try:
        conn.start(stdout=log, stderr=log)
        conn.send_message(b"GET_PCOMMS")
        comm.socket_c.settimeout(30)
        assert comm.receive(4096) == b"START|STOP_ACQ|CONFIGURE|STATUS|STOP|CLOSE|GET_PCOMMS|UP"

        conn.send_message(b'CONFIGURE|{"band": [70, 80], "out_name": "' + name.encode() + b'-bp"}')
        conn.send_message(b'CONFIGURE|{"band": [2, 30], "order": 2}')  # the last configuration wins
        conn.send_message(b"START")
        st = status(conn)
        assert st["state"] == "running", st
        assert st["config"] == {"stream": name, "band": [2, 30], "order": 2, "out_name": f"{name}-bp"}

        filtered_info = pylsl.resolve_byprop("name", f"{name}-bp", timeout=30)
        assert filtered_info, "the filtered LSL stream did not appear"
        assert filtered_info[0].channel_count() == n_ch and filtered_info[0].nominal_srate() == srate
        final = pylsl.StreamInlet(filtered_info[0], processing_flags=pylsl.proc_none)
        final.open_stream(timeout=10)

        rng = np.random.default_rng(7)
        x = rng.standard_normal((n, n_ch)) * 10 + np.sin(np.arange(n) / srate * 2 * np.pi * 10)[:, None] * 20
        x = x.astype(np.float32)
        t0 = pylsl.local_clock() - 5.0
        stamps = t0 + np.arange(n) / srate
        for k in range(0, n, 50):
            source.push_chunk(x[k : k + 50], list(stamps[k : k + 50]))

        y, ts = pull_exactly(final, n)
        # the module got every sample from the first one on (it subscribed at START) ...
        np.testing.assert_allclose(ts, stamps, atol=1e-6)  # ... and republished the original timestamps
        expected = signal.sosfilt(
            design_sos("bandpass", [2, 30], sample_rate=srate, order=2), x.astype(np.float64), axis=0
        )
        np.testing.assert_allclose(y, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())

        st = status(conn)
        assert st["nodes"]["inlet"]["counters"]["samples_in"] == n

        # a bad CONFIGURE while it runs: answered with the ValueError; the graph and its configuration stay
        conn.send_message(b'CONFIGURE|{"band": "x"}')
        err = read_line(conn)
        assert err.startswith(b"ERROR command CONFIGURE failed: ValueError: band must be two frequencies"), err
        assert b"'x'" in err, err
        st = status(conn)
        assert st["state"] == "running", st
        assert st["config"] == {"stream": name, "band": [2, 30], "order": 2, "out_name": f"{name}-bp"}, st
        # the same graph goes on: the filter's state continues across (a rebuilt graph would start afresh)
        x2 = (rng.standard_normal((n, n_ch)) * 10).astype(np.float32)
        stamps2 = stamps[-1] + (1 + np.arange(n)) / srate
        for k in range(0, n, 50):
            source.push_chunk(x2[k : k + 50], list(stamps2[k : k + 50]))
        y2, ts2 = pull_exactly(final, n)
        np.testing.assert_allclose(ts2, stamps2, atol=1e-6)
        both = signal.sosfilt(
            design_sos("bandpass", [2, 30], sample_rate=srate, order=2),
            np.concatenate([x, x2]).astype(np.float64),
            axis=0,
        )[n:]
        np.testing.assert_allclose(y2, both, rtol=1e-3, atol=1e-3 * np.abs(both).max())
        assert status(conn)["nodes"]["inlet"]["counters"]["samples_in"] == 2 * n

        # one that fails only while building (the band is above Nyquist for this stream): the previous
        # configuration is rebuilt and restarted, and the configuration stays the previous one
        conn.send_message(b'CONFIGURE|{"band": [70, 200]}')
        err = read_line(conn)
        assert err.startswith(b"ERROR command CONFIGURE failed: ValueError: band [70, 200]"), err
        st = status(conn)
        assert st["state"] == "running" and st["config"]["band"] == [2, 30], st
        assert pylsl.resolve_byprop("name", f"{name}-bp", timeout=30), "the rebuilt graph's stream is missing"
        conn.send_message(b"STOP_ACQ")
        assert status(conn)["state"] == "stopped"
        conn.send_message(b"CLOSE")
        assert launcher.process.wait(30) == 0
        final.close_stream()
    finally:
        conn.stop_connection()
        if launcher.process is not None and launcher.process.poll() is None:
            launcher.terminate()
        log.close()
        del source
