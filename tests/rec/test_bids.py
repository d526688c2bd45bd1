"""BIDS export of recordings and XDF files, checked by the official BIDS validator."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess

import numpy as np
import pytest
from rec_helpers import make_output, wait_until

from lslacq.core.stream.events import EVENT_DTYPE, make_events
from lslacq.rec import RawRecorder, read_recording
from lslacq.rec.xdf_format import stream_info_xml
from lslacq.rec.xdf_writer import XdfWriter

mne = pytest.importorskip("mne")
pytest.importorskip("mne_bids")

RATE = 250.0


def _tsv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _validate(root) -> list:
    """Errors the official BIDS validator (bids-validator-deno) reports for ``root``."""
    exe = shutil.which("bids-validator-deno")
    if exe is None:
        pytest.skip("bids-validator-deno is not installed (test extra)")
    out = subprocess.run([exe, "--format", "json", str(root)], capture_output=True, text=True, timeout=300)
    issues = json.loads(out.stdout)["issues"]["issues"]
    return [(i["code"], i.get("location"), i.get("issueMessage")) for i in issues if i["severity"] == "error"]


def _recording(tmp_path):
    sig = make_output(
        "eeg",
        dtype="float32",
        shape=(-1, 3),
        sample_rate=RATE,
        channel_names=["Fz", "Cz", "Pz"],
        channel_units=["microvolts"] * 3,
        channel_types=["EEG"] * 3,
    )
    ev = make_output("events", streamtype="event", dtype=EVENT_DTYPE.descr, shape=(-1,), sample_rate=RATE)
    data = (np.arange(1500 * 3, dtype="float32").reshape(1500, 3) % 200) - 100.0
    rec = RawRecorder()
    rec.configure(streams={"eeg": sig, "markers": ev}, dirname=tmp_path / "rec")
    with sig, ev, rec:
        rec.initialize()
        rec.start()
        sig.send(data, index=1500 + 40)  # the stream was running: the file starts at index 40
        ev.send(make_events([40 + 125, 40 + 777], description=["stim/left", "S  2"]))
        wait_until(lambda: rec._files["eeg"].n_written == 1500 and rec._files["markers"].n_written == 2)
        rec.stop()
    return tmp_path / "rec", data


@pytest.mark.slow  # mne-bids writing and the BIDS validator (deno) checking
def test_to_bids_of_a_recording_passes_the_bids_validator_with_events_to_the_sample(tmp_path):
    dirname, data = _recording(tmp_path)
    root = tmp_path / "bids"
    vhdr = read_recording(dirname).to_bids(root, subject="01", task="oddball", session="A", run=1)
    assert vhdr.name == "sub-01_ses-A_task-oddball_run-1_eeg.vhdr" and vhdr.exists()
    events = _tsv(vhdr.with_name("sub-01_ses-A_task-oddball_run-1_events.tsv"))
    assert [e["trial_type"] for e in events] == ["stim/left", "S  2"]
    assert [int(e["sample"]) for e in events] == [125, 777]  # from the file's first sample
    assert [float(e["onset"]) for e in events] == [125 / RATE, 777 / RATE]
    channels = _tsv(vhdr.with_name("sub-01_ses-A_task-oddball_run-1_channels.tsv"))
    assert [(c["name"], c["type"], c["units"]) for c in channels] == [
        ("Fz", "EEG", "µV"),
        ("Cz", "EEG", "µV"),
        ("Pz", "EEG", "µV"),
    ]
    back = mne.io.read_raw_brainvision(vhdr, verbose="error")
    np.testing.assert_allclose(back.get_data() * 1e6, data.T, atol=0.01)
    assert (root / "sourcedata/sub-01/ses-A/eeg/sub-01_ses-A_task-oddball_run-1_rec/eeg.raw").exists()
    assert _validate(root) == []


def _xdf(path):
    with XdfWriter(path) as writer:
        eeg = writer.add_stream(
            stream_info_xml("amp", "EEG", 2, RATE, "float32", "amp-1", ["C3", "C4"], ["microvolts"] * 2, ["EEG"] * 2),
            "float32",
            2,
        )
        mk = writer.add_stream(stream_info_xml("mk", "Markers", 1, 0.0, "string", "mk-1"), "string", 1)
        ts = 50.0 + np.arange(1000) / RATE
        writer.add_samples(eeg, np.arange(2000, dtype="float32").reshape(1000, 2) % 50, ts)
        writer.add_samples(mk, [["go"], ["cond/1"]], [ts[100], ts[640]])


@pytest.mark.slow  # mne-bids writing (EDF) and the BIDS validator
def test_lslacq_bids_of_an_xdf_file_writes_edf_with_its_markers(tmp_path):
    from lslacq.cli import main

    _xdf(tmp_path / "session.xdf")
    root = tmp_path / "bids"
    assert (
        main(
            [
                "bids",
                str(tmp_path / "session.xdf"),
                "--root",
                str(root),
                "--subject",
                "02",
                "--task",
                "rest",
                "--format",
                "EDF",
            ]
        )
        == 0
    )
    base = root / "sub-02" / "eeg" / "sub-02_task-rest"
    assert base.with_name(base.name + "_eeg.edf").exists()
    events = _tsv(base.with_name(base.name + "_events.tsv"))
    assert [(e["trial_type"], int(e["sample"])) for e in events] == [("go", 100), ("cond/1", 640)]
    assert (root / "sourcedata/sub-02/eeg/sub-02_task-rest_session.xdf").exists()
    assert _validate(root) == []
