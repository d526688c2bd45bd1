"""Replays keep events exactly, keep the last marker, name streams as documented, and say why a file is unreadable."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pytest
from rec_helpers import wait_until

from lslacq.core.stream import InputStream
from lslacq.rec.sources import open_source
from lslacq.rec.xdf_format import stream_info_xml
from lslacq.rec.xdf_writer import XdfWriter

mne = pytest.importorskip("mne")

RATE = 500.0


def _fif(path, descriptions, n=500):
    raw = mne.io.RawArray(np.zeros((2, n)), mne.create_info(["C3", "C4"], RATE, "eeg"), verbose="error")
    raw.set_annotations(mne.Annotations(np.arange(1, len(descriptions) + 1) * 0.1, 0.0, descriptions))
    raw.save(path, verbose="error")
    return path


def test_replay_keeps_a_fif_files_annotations_exactly_and_splits_only_brainvision_markers(tmp_path):
    source = open_source(_fif(tmp_path / "test_raw.fif", ["stim/left", "stim/right", "cond/1", "resp/1"]))
    assert source.events.labels == ["stim/left", "stim/right", "cond/1", "resp/1"]  # cond/1 and resp/1 stay apart
    assert source.events.types == ["annotation"] * 4
    np.testing.assert_array_equal(source.events.samples, [50, 100, 150, 200])
    np.testing.assert_array_equal(source.events.codes, [0, 0, 1, 1])
    source.close()

    (tmp_path / "bv.eeg").write_bytes(np.zeros(200, "float32").tobytes())
    (tmp_path / "bv.vhdr").write_text(
        "Brain Vision Data Exchange Header File Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\nDataFile=bv.eeg\n"
        "MarkerFile=bv.vmrk\nDataFormat=BINARY\nDataOrientation=MULTIPLEXED\nNumberOfChannels=2\n"
        "SamplingInterval=2000\n\n[Binary Infos]\nBinaryFormat=IEEE_FLOAT_32\n\n[Channel Infos]\n"
        "Ch1=Fz,,1,µV\nCh2=Cz,,1,µV\n",
        encoding="utf-8",
    )
    (tmp_path / "bv.vmrk").write_text(
        "Brain Vision Data Exchange Marker File, Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\nDataFile=bv.eeg\n\n"
        "[Marker Infos]\nMk1=Stimulus,S  1,11,1,0\nMk2=Comment,a/b,21,1,0\n",
        encoding="utf-8",
    )
    source = open_source(tmp_path / "bv.vhdr")
    assert source.events.types == ["Stimulus", "Comment"] and source.events.labels == ["S  1", "a/b"]
    source.close()


def test_a_file_mne_cannot_read_gets_a_reason(tmp_path, capsys):
    from lslacq.cli import main

    (tmp_path / "x.txt").write_text("hello\n")
    assert main(["replay", str(tmp_path / "x.txt")]) == 2
    err = capsys.readouterr().err
    assert "MNE cannot read" in err and "AssertionError" in err and "not in the format its extension says" in err
    assert not err.rstrip().endswith(":")


def _args(path, **kwargs):
    base = dict(
        file=str(path), speed=1.0, loop=False, repeat=1, start=0.0, stream=None, name=None, type="EEG", suffix="-replay"
    )
    base.update(kwargs)
    return argparse.Namespace(**base)


def _identities(outlets):
    return {k: (o.stream_name, o.source_id) for k, o in outlets.items()}


def _build(args):
    pytest.importorskip("pylsl")
    from lslacq_lsl.replay_cli import build_replay

    replay, outlets = build_replay(args)
    for node in (replay, *outlets.values()):
        node.close()
    return _identities(outlets)


def test_replay_names_an_mne_file_after_its_stem_with_a_replay_source_id(tmp_path):
    path = _fif(tmp_path / "test_raw.fif", ["S 1"])
    assert _build(_args(path)) == {
        "signals": ("test_raw", "test_raw-replay"),
        "events": ("test_raw-Markers", "test_raw-Markers-replay"),
    }
    assert _build(_args(path, name="lab", suffix="-b")) == {
        "signals": ("lab", "lab-b"),
        "events": ("lab-Markers", "lab-Markers-b"),
    }
    from lslacq_lsl.replay_cli import file_stem

    assert [file_stem(Path(p)) for p in ("a/run1_raw.fif.gz", "b.edf", "rec_dir")] == ["run1_raw", "b", "rec_dir"]


def _xdf_with_a_late_marker(path):
    with XdfWriter(path) as writer:
        eeg = writer.add_stream(stream_info_xml("EEG", "EEG", 2, RATE, "float32", "amp-1"), "float32", 2)
        mk = writer.add_stream(stream_info_xml("Markers", "Markers", 1, 0.0, "string", "mk-1"), "string", 1)
        ts = 100.0 + np.arange(1000) / RATE
        writer.add_samples(eeg, np.arange(2000, dtype="float32").reshape(1000, 2), ts)
        # the last marker comes 22 ms after the last EEG sample
        writer.add_samples(mk, [["start"], ["stim/left"], ["end"]], [100.1, 101.0, ts[-1] + 0.022])
    return path


def test_xdf_replay_gets_distinct_names_and_source_ids_unless_told_otherwise(tmp_path):
    path = _xdf_with_a_late_marker(tmp_path / "session.xdf")
    assert _build(_args(path)) == {"EEG": ("EEG-replay", "amp-1-replay"), "Markers": ("Markers-replay", "mk-1-replay")}
    assert _build(_args(path, suffix="")) == {"EEG": ("EEG", "amp-1"), "Markers": ("Markers", "mk-1")}


def test_xdf_replay_keeps_a_marker_after_the_last_signal_sample_at_its_time(tmp_path, caplog):
    from lslacq.rec import XdfReplay

    path = _xdf_with_a_late_marker(tmp_path / "session.xdf")
    node = XdfReplay(name="replay")
    with caplog.at_level(logging.WARNING):
        node.configure(filename=path, speed=20.0, synchronize_clocks=False, dejitter_timestamps=False)
    assert "1 marker(s) of 'Markers' fall outside the samples of 'EEG'" in caplog.text
    for out in node.outputs.values():
        out.configure(protocol="inproc")
    inp = InputStream()
    events = []
    with node, inp:
        inp.connect(node.outputs["Markers"])
        node.initialize()
        node.start()
        assert node.wait_finished(10)
        wait_until(lambda: inp.poll(0) or sum(len(e) for e in events) == 3, what="the markers")
        while inp.poll(100):
            events.append(inp.recv()[1])
        node.stop()
    events = np.concatenate(events)
    assert [bytes(d) for d in events["description"]] == [b"start", b"stim/left", b"end"]
    np.testing.assert_array_equal(events["index"], [50, 500, 999 + 11])  # 22 ms = 11 samples after the last
