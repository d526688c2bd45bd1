"""``lslacq demo`` and ``lslacq lsl list``: the commands, run as a user runs them."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from lsl_helpers import wait_until

pylsl = pytest.importorskip("pylsl")

from lslacq.cli import main  # noqa: E402
from lslacq_lsl import StreamWatcher  # noqa: E402


def _demo(tmp_path, *args):
    log = tmp_path / "demo.out"
    handle = open(log, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lslacq.cli", "demo", *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    handle.close()
    return proc, log


def _stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


@pytest.mark.slow
def test_lsl_list_shows_streams(make_outlet, unique_name, capsys):
    make_outlet(unique_name, type="EEG", n_channels=5, srate=128.0, source_id=unique_name + "-sid")
    assert main(["lsl", "list", "--wait", "1.0"]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if unique_name in row)
    assert "EEG" in line and " 5 " in line and "128 Hz" in line and unique_name + "-sid" in line
    assert main(["lsl", "list", "--wait", "1.0", "--json"]) == 0
    rows = [json.loads(r) for r in capsys.readouterr().out.splitlines()]
    mine = next(r for r in rows if r["name"] == unique_name)
    assert mine["channel_count"] == 5 and mine["nominal_srate"] == 128.0 and "channel_names" not in mine
    assert main(["lsl", "list", "--wait", "1.0", "--json", "--desc"]) == 0
    rows = [json.loads(r) for r in capsys.readouterr().out.splitlines()]
    mine = next(r for r in rows if r["name"] == unique_name)
    assert mine["channel_names"] == ["C0", "C1", "C2", "C3", "C4"]


@pytest.mark.slow
def test_list_desc_waits_once_for_outlets_that_closed_after_the_resolve(make_outlet, unique_name, monkeypatch):
    """Streams that answered the resolve and then closed (a demo that just ended) cost one timeout in all.

    The documented ``lslacq lsl list --desc`` ran past its budget when it asked four closed outlets in turn.
    """
    from lslacq_lsl import resolve

    live = make_outlet(unique_name + "-live", n_channels=3)
    closing = [  # not make_outlet's: it keeps its outlets until the test ends
        pylsl.StreamOutlet(pylsl.StreamInfo(f"{unique_name}-gone{i}", "EEG", 2, 100.0, "float32", f"gone{i}"))
        for i in range(4)
    ]
    infos = [i for i in pylsl.resolve_streams(wait_time=1.0) if i.name().startswith(unique_name)]
    assert len(infos) == 5, [i.name() for i in infos]
    del closing[:]  # the four outlets close; their resolved infos stay
    gc.collect()
    monkeypatch.setattr(resolve.pylsl, "resolve_streams", lambda wait_time: infos)
    started = time.monotonic()
    streams = resolve.list_streams(full=True, timeout=1.5)
    took = time.monotonic() - started
    assert live is not None
    by_name = {d.name: d for d in streams}
    assert by_name[unique_name + "-live"].channel_names == ("C0", "C1", "C2")  # the full description
    # the short ones, still listed (even where another outlet took a closed one's port meanwhile)
    assert [by_name[f"{unique_name}-gone{i}"].channel_count for i in range(4)] == [2, 2, 2, 2]
    assert took < 4 * 1.5, f"the closed outlets were asked one after the other ({took:.1f} s)"


def _data_port(info) -> str:
    return info.as_xml().split("<v4data_port>")[1].split("<")[0]


def test_list_desc_never_lists_another_streams_description_at_a_closed_outlets_address(unique_name, caplog):
    """Another stream's description is never listed under a closed stream's name.

    A closed outlet's port is soon taken by a new outlet (liblsl reuses the lowest free one).
    """
    from lslacq_lsl import resolve

    gone = pylsl.StreamOutlet(pylsl.StreamInfo(unique_name + "-gone", "EEG", 2, 100.0, "float32", "gone-sid"))
    (info,) = pylsl.resolve_byprop("name", unique_name + "-gone", 1, 5.0)
    del gone
    gc.collect()
    newcomer = pylsl.StreamOutlet(pylsl.StreamInfo(unique_name + "-new", "EEG", 5, 100.0, "float32", "new-sid"))
    (new_info,) = pylsl.resolve_byprop("name", unique_name + "-new", 1, 5.0)
    if _data_port(new_info) != _data_port(info):
        pytest.skip("liblsl gave the new outlet another port (another process took the old one)")
    full = resolve._full_info(info, timeout=1.5)
    assert (full.name(), full.channel_count(), full.source_id()) == (unique_name + "-gone", 2, "gone-sid")
    assert f"its address now serves '{unique_name}-new'" in caplog.text
    del newcomer


@pytest.mark.slow
def test_demo_publishes_eeg_and_markers_until_duration(tmp_path, unique_name):
    proc, log = _demo(
        tmp_path,
        "--duration",
        "6",
        "--name",
        unique_name + "-EEG",
        "--markers-name",
        unique_name + "-M",
        "--channels",
        "16",
        "--event-interval",
        "0.5",
    )
    try:
        eeg = StreamWatcher(unique_name + "-EEG", buffer_size_s=10, timeout=30)
        markers = StreamWatcher(unique_name + "-M", timeout=30)
        eeg.connect_to_stream()
        markers.connect_to_stream()
        try:
            assert eeg.buffer.shape == (5000, 16)
            assert eeg.channel_names[:4] == ["Fp1", "Fp2", "F7", "F3"]
            wait_until(
                lambda: (eeg.update(), markers.update(), markers.n_total >= 3)[2],
                timeout=30,
                what="three markers from the demo",
            )
            data, ts = eeg.get_data()
            assert len(data) > 500 and np.isfinite(data).all() and 5 < data.std() < 100  # microvolt EEG
            np.testing.assert_allclose(np.diff(ts), 1 / 500.0, atol=1e-6)
            labels, mts = markers.get_data()
            assert set(labels[:, 0]) <= {"S  1", "S  2"}
            assert np.allclose(np.diff(mts), 0.5, atol=1e-6)
        finally:
            eeg.disconnect()
            markers.disconnect()
        assert proc.wait(timeout=60) == 0
    finally:
        _stop(proc)
    out = log.read_text()
    assert f"'{unique_name}-EEG'" in out and "16 ch float32 500 Hz" in out and f"'{unique_name}-M'" in out
    assert "EEG samples" in out and "markers" in out  # live counter lines
    assert "read back over LSL" in out and "(complete)" in out


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_stops_cleanly_on_ctrl_c_and_sigterm(tmp_path, unique_name, signum):
    proc, log = _demo(
        tmp_path, "--name", unique_name + "-EEG", "--markers-name", unique_name + "-M", "--interval", "0.5"
    )
    try:
        wait_until(
            lambda: "EEG samples" in log.read_text() or proc.poll() is not None,
            timeout=60,
            what="the first counter line",
        )
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 0
    finally:
        _stop(proc)
    out = log.read_text()
    assert "interrupted" in out and "published" in out


@pytest.mark.slow
def test_a_second_demo_publishes_distinct_names(make_outlet, unique_name, capsys):
    make_outlet(unique_name + "-EEG", type="EEG", n_channels=2, srate=100.0)  # what a first demo publishes
    assert (
        main(
            [
                "demo",
                "--duration",
                "1",
                "--no-verify",
                "--name",
                unique_name + "-EEG",
                "--markers-name",
                unique_name + "-M",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"'{unique_name}-EEG' or '{unique_name}-M' is already published" in out
    assert f"EEG     '{unique_name}-EEG-2'" in out and f"markers '{unique_name}-M-2'" in out


def test_demo_rejects_bad_arguments(capsys):
    assert main(["demo", "--duration", "-1"]) == 2
    assert "--duration" in capsys.readouterr().err
    assert main(["demo", "--name", "x", "--markers-name", "x"]) == 2


def _pushing(outlet, make_sample, stop, period=0.01):
    import threading

    def run():
        k = 0
        while not stop.is_set():
            outlet.push_sample(make_sample(k))
            k += 1
            stop.wait(period)

    thread = threading.Thread(target=run, name="test-pusher")
    thread.start()
    return thread


@pytest.mark.slow
def test_lsl_watch_prints_live_statistics_and_markers(make_outlet, unique_name, capsys):
    import threading

    eeg = make_outlet(unique_name, n_channels=3, srate=100.0, labels=["Fz", "Cz", "Pz"])
    markers = make_outlet(unique_name + "-M", type="Markers", n_channels=1, srate=0.0, fmt="string")
    stop = threading.Event()
    threads = [_pushing(eeg, lambda k: [1.0, 2.0, 3.0], stop), _pushing(markers, lambda k: [f"m{k}"], stop, 0.2)]
    try:
        assert main(["lsl", "watch", unique_name, "--duration", "2.5"]) == 0
        out = capsys.readouterr().out
        assert "3 ch float32 100 Hz" in out and "channels: Fz, Cz, Pz" in out
        lines = [line for line in out.splitlines() if "samples" in line and "rms" in line]
        assert lines and "rms 1 2 3" in lines[-1]
        assert main(["lsl", "watch", "--source-id", unique_name + "-M-sid", "--duration", "1.5"]) == 0
        out = capsys.readouterr().out
        assert "irregular" in out and any(line.split()[-1].startswith("m") for line in out.splitlines()[2:-1])
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
    assert main(["lsl", "watch", unique_name + "-absent", "--timeout", "0.5"]) == 1
    assert "visible streams" in capsys.readouterr().err
