"""The LSL recorder as a dareplane module: LabRecorder's commands as primary commands over the module protocol."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import uuid

import numpy as np
import pytest
from conftest import DpClient
from helpers import wait_until

pylsl = pytest.importorskip("pylsl")
pyxdf = pytest.importorskip("pyxdf")

from lslacq_dareplane.recorder_module import RECORDER_PCOMMS, RecorderModule  # noqa: E402


def _status(client: DpClient) -> dict:
    client.send("STATUS;")
    return json.loads(client.recv_until(b"\n"))


def test_filename_fields_are_checked_and_status_names_the_next_file(tmp_path):
    with RecorderModule(tmp_path, port=0, require=["EEG"]) as module, DpClient(module.server.port) as c:
        assert c.banner == b"Connected to lslacq_recorder\n"
        c.send('FILENAME|{"participant": "P7", "session": "S2", "task": "rest", "run": 4};')
        st = _status(c)  # handlers run in order: STATUS answers after FILENAME was applied
        assert st["state"] == "idle" and st["file"] is None and st["required"] == ["EEG"]
        assert st["next_file"] == str(tmp_path / "sub-P7/ses-S2/eeg/sub-P7_ses-S2_task-rest_run-004_eeg.xdf")
        c.send(f"FILENAME|{json.dumps(dict(template='Exp%n/block_%b.xdf', root=str(tmp_path / 'study')))};")
        assert _status(c)["next_file"] == str(tmp_path / "study/exp004/block_rest.xdf")  # LabRecorder's rules
        c.send('FILENAME|{"subject": "P1"};')
        line = c.recv_until(b"\n").decode()
        assert line.startswith("ERROR") and "unknown field(s) subject" in line and "participant" in line
        c.send('FILENAME|{"task": "a{b}"};')
        line = c.recv_until(b"\n").decode()
        assert line.startswith("ERROR") and "task='a{b}'" in line and "braces" in line
        c.send("FILENAME;")
        assert "needs at least one field" in c.recv_until(b"\n").decode()
        c.send("STOPRECORD;")  # not recording: nothing to do, nothing answered
        assert _status(c)["state"] == "idle"
        assert module.controller.fields["task"] == "rest"  # the refused commands changed nothing


def _outlet(name: str, kind: str, n_ch: int, rate: float, fmt: str) -> pylsl.StreamOutlet:
    return pylsl.StreamOutlet(pylsl.StreamInfo(name, kind, n_ch, rate, fmt, f"{name}-sid"))


@pytest.mark.slow  # a module process, LSL discovery at each START, two XDF files written and closed
def test_a_control_room_session_records_the_files_the_commands_name(tmp_path):
    tag = uuid.uuid4().hex[:8]
    eeg_name, mk_name = f"dpr-eeg-{tag}", f"dpr-mk-{tag}"
    eeg = _outlet(eeg_name, "EEG", 3, 250.0, "float32")
    markers = None
    root = tmp_path / "study"
    # launched as a dareplane control room's PythonLauncher does: python -m <module> --key=value ...
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lslacq_dareplane.recorder_module",
            "--port=0",
            "--ip=127.0.0.1",
            "--loglevel=10",
            "--log_server=none",
            f"--root={root}",
            "--lsl",
            eeg_name,
            mk_name,
            "--require",
            eeg_name,
            mk_name,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert "serving on 127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        port = int(line.rsplit(":", 1)[1])
        with DpClient(port, timeout=30) as c:
            c.send("GET_PCOMMS;")
            pcomms = c.sock.recv(4096).decode().split("|")
            assert set(RECORDER_PCOMMS) <= set(pcomms) and "STOP" in pcomms
            c.send("START;")  # the marker stream is required and not there yet
            refused = c.recv_until(b"\n").decode()
            assert refused.startswith("ERROR") and f"required streams missing: {mk_name}" in refused, refused
            markers = _outlet(mk_name, "Markers", 1, 0.0, "string")
            fields = dict(root=str(root), template="exp%n/block_%b.xdf", task="oddball", run=3, participant="P01")
            c.send(f"SELECT_ALL;FILENAME|{json.dumps(fields)};START;")
            st = _status(c)
            path = root / "exp003" / "block_oddball.xdf"
            assert st["state"] == "recording" and st["file"] == str(path), st
            assert sorted(st["selected"]) == sorted(st["visible"]) and len(st["visible"]) == 2
            c.send("START;")
            again = c.recv_until(b"\n").decode()
            assert again.startswith("ERROR") and f"already recording to {path}; send STOPRECORD" in again, again
            data = np.arange(500 * 3, dtype="float32").reshape(500, 3)
            t0 = pylsl.local_clock()
            eeg.push_chunk(data, (t0 + np.arange(500) / 250.0).tolist())
            markers.push_sample(["go"], t0 + 1.0)
            wait_until(
                lambda: sorted(_status(c)["streams"].values()) == [1, 500], timeout=30, what="every sample recorded"
            )
            c.send("STOP;")  # dareplane's built-in STOP ends the recording too
            st = _status(c)
            assert st["state"] == "idle" and st["last_file"] == str(path) and st["failures"] == []

            # dp-lsl-recording's command names (a control room set up for LabRecorder's dareplane module)
            c.send(f"SET_SAVE_PATH|{json.dumps(dict(fname='second', data_root=str(tmp_path / 'other')))};RECORD;")
            st = _status(c)
            second = tmp_path / "other" / "second.xdf"
            assert st["state"] == "recording" and st["file"] == str(second), st
            markers.push_sample(["again"])
            wait_until(lambda: _status(c)["streams"].get(mk_name) == 1, timeout=30, what="the marker recorded")
            c.send("STOPRECORD;")
            assert _status(c)["state"] == "idle"
            c.send("CLOSE;")
            c.wait_closed(30)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate(timeout=30)
        del eeg, markers
        gc.collect()
    assert "required streams missing" in err  # the refusal is logged for the operator too
    streams = {s["info"]["name"][0]: s for s in pyxdf.load_xdf(str(path))[0]}
    np.testing.assert_array_equal(streams[eeg_name]["time_series"], data)
    np.testing.assert_allclose(streams[eeg_name]["time_stamps"], t0 + np.arange(500) / 250.0, atol=1e-3, rtol=0)
    assert streams[mk_name]["time_series"] == [["go"]]
    assert all("footer" in s for s in streams.values())  # finished: footers written
    streams = {s["info"]["name"][0]: s for s in pyxdf.load_xdf(str(second))[0]}
    assert streams[mk_name]["time_series"] == [["again"]]
