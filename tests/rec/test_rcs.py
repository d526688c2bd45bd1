"""`lslacq record --rcs`: LabRecorder's remote-control commands drive an lslacq XDF recording."""

from __future__ import annotations

import gc
import signal
import socket
import uuid

import numpy as np
import pytest
from rec_helpers import finish, lslacq_cli, stop_process, wait_line, wait_until

pylsl = pytest.importorskip("pylsl")
pyxdf = pytest.importorskip("pyxdf")

from lslacq.rec.xdf_check import scan_xdf  # noqa: E402
from lslacq_lsl.rcs import RcsController  # noqa: E402


def test_filenames_follow_labrecorders_rules(tmp_path):
    rcs = RcsController(root=tmp_path)
    assert rcs.handle("filename {participant:P7} {session:S2} {task:rest} {run:4} {modality:EEG}") == "OK"
    # no template: LabRecorder's BIDS name, run on 3 digits, no _acq- without an acquisition
    assert rcs.filename() == tmp_path / "sub-P7/ses-S2/eeg/sub-P7_ses-S2_task-rest_run-004_eeg.xdf"
    rcs.handle("filename {acquisition:fast}")
    assert rcs.filename().name == "sub-P7_ses-S2_task-rest_acq-fast_run-004_eeg.xdf"
    # a template is lower-cased (as LabRecorder does) and numbers the run with %n
    rcs.handle("filename {root:/data/study} {template:Exp%n/Block_%b_%p.xdf} {task:Oddball} {run:12}")
    assert str(rcs.filename()) == "/data/study/exp012/block_Oddball_P7.xdf"
    assert RcsController().filename().name == "sub-P001_ses-S001_task-Default_run-001_eeg.xdf"  # its defaults
    assert rcs.handle("status").startswith("ERROR: unknown command 'status'")


def test_select_none_and_update_are_accepted_and_start_selects_every_stream_as_labrecorder(tmp_path):
    tag = uuid.uuid4().hex[:8]
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(f"sel-{tag}", "EEG", 1, 100.0, "float32", f"sel-{tag}-sid"))
    started = []

    class _Recording:
        def stop(self):
            started.append("stopped")

    def record(path, infos):
        started.append((path, sorted(info.name() for info in infos)))
        return _Recording()

    rcs = RcsController(root=tmp_path, names=[f"sel-{tag}"], record=record, say=lambda text: None, wait_time=0.2)
    try:
        assert rcs.handle("update") == "OK" and [i.name() for i in rcs.visible.values()] == [f"sel-{tag}"]
        assert rcs.handle("select all") == "OK" and len(rcs.selected) == 1
        assert rcs.handle("select none") == "OK" and rcs.selected == set()
        # LabRecorder's RCS start checks every stream first (rcsStartRecording: selectAllStreams)
        assert rcs.handle("start") == "OK" and started[0] == (rcs.filename(), [f"sel-{tag}"])
        assert rcs.handle("start").startswith("ERROR: already recording")
        assert rcs.handle("stop") == "OK" and started[-1] == "stopped"
    finally:
        del outlet


def _send(sock: socket.socket, line: str) -> str:
    sock.sendall(line.encode() + b"\n")
    sock.settimeout(30)
    return sock.recv(4096).decode()


@pytest.mark.slow  # a recording subprocess, LSL discovery, an XDF file written and closed
def test_an_rcs_session_records_the_file_the_template_names(tmp_path):
    tag = uuid.uuid4().hex[:8]
    eeg_name, mk_name = f"rcs-eeg-{tag}", f"rcs-mk-{tag}"
    eeg = pylsl.StreamOutlet(pylsl.StreamInfo(eeg_name, "EEG", 2, 250.0, "float32", f"{eeg_name}-sid"))
    markers = None
    root = tmp_path / "study"
    proc = lslacq_cli(
        "record",
        "--rcs",
        "0",
        "--lsl",
        eeg_name,
        mk_name,
        "--require",
        eeg_name,
        mk_name,
        "-o",
        root,
        "--timeout",
        "20",
    )
    try:
        head = wait_line(proc, "RCS listening on")
        port = int(head.split("127.0.0.1:")[1].split()[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            assert _send(sock, "select all") == "OK"
            assert (
                _send(
                    sock,
                    f"filename {{root:{root}}} {{template:exp%n/block_%b.xdf}} {{task:oddball}} {{run:3}} "
                    "{participant:P01}",
                )
                == "OK"
            )
            refused = _send(sock, "start")  # the marker stream is required but not there yet
            assert refused.startswith("ERROR: required streams missing: " + mk_name), refused
            markers = pylsl.StreamOutlet(pylsl.StreamInfo(mk_name, "Markers", 1, 0.0, "string", f"{mk_name}-sid"))
            assert _send(sock, "start") == "OK"  # answered once the inlets are subscribed
            path = root / "exp003" / "block_oddball.xdf"
            assert path.exists()
            data = np.arange(500 * 2, dtype="float32").reshape(500, 2)
            t0 = pylsl.local_clock()
            eeg.push_chunk(data, (t0 + np.arange(500) / 250.0).tolist())
            markers.push_sample(["go"], t0 + 1.0)

            def counts():
                streams = scan_xdf(path).streams.values()
                return sorted(s.sample_count for s in streams) == [1, 500]

            wait_until(counts, timeout=30, what="every sample in the file")
            assert _send(sock, "stop") == "OK"
        assert scan_xdf(path).complete  # stopped: footers written
        proc.send_signal(signal.SIGINT)
        out, err = finish(proc, 30)
        out = head + out
    finally:
        stop_process(proc)
        del eeg, markers
        gc.collect()
    assert proc.returncode == 0, err
    assert "required streams missing" in out and f"recording finished: {path}" in out
    streams = {s["info"]["name"][0]: s for s in pyxdf.load_xdf(str(path))[0]}
    np.testing.assert_array_equal(streams[eeg_name]["time_series"], data)
    assert streams[mk_name]["time_series"] == [["go"]]
