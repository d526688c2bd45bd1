"""XdfReplay of an XDF written by the real LabRecorder engine: every stream, markers at the right samples."""

from __future__ import annotations

import gc
import time
import uuid

import numpy as np
import pytest
from rec_helpers import wait_until

from lslacq.core.stream import InputStream

pylsl = pytest.importorskip("pylsl")
labrecorder = pytest.importorskip("labrecorder")
pytest.importorskip("pyxdf")

from lslacq.rec import XdfReplay  # noqa: E402

RATE = 250.0
N = 500
MARKER_SAMPLES = [100, 250, 400]


def record_xdf(path, rate=RATE, n=N, marker_samples=MARKER_SAMPLES):
    """Publish a 3-channel ramp and markers on LSL, record them with LabRecorder; return the signal."""
    tag = uuid.uuid4().hex[:8]
    info = pylsl.StreamInfo(f"xdf-eeg-{tag}", "EEG", 3, rate, "float32", f"eeg-{tag}")
    chans = info.desc().append_child("channels")
    for label in ("C3", "Cz", "C4"):
        ch = chans.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", "microvolts")
        ch.append_child_value("type", "EEG")
    minfo = pylsl.StreamInfo(f"xdf-markers-{tag}", "Markers", 1, pylsl.IRREGULAR_RATE, "string", f"mk-{tag}")
    eeg, markers = pylsl.StreamOutlet(info), pylsl.StreamOutlet(minfo)
    data = (np.arange(n * 3).reshape(n, 3) % 1000).astype("float32")
    try:
        infos = [pylsl.resolve_byprop("source_id", sid, timeout=10)[0] for sid in (f"eeg-{tag}", f"mk-{tag}")]
        recording = labrecorder.Recording(str(path), infos)
        try:
            assert eeg.wait_for_consumers(10) and markers.wait_for_consumers(10)
            t0 = pylsl.local_clock()
            stamps = t0 + np.arange(n) / rate
            for i in range(0, n, 50):
                eeg.push_chunk(data[i : i + 50], stamps[i : i + 50].tolist())
            for k, s in enumerate(marker_samples):  # 1 ms after the sample: the nearest sample is still s
                markers.push_sample([f"S {k + 1}"], float(stamps[s] + 0.001))
            time.sleep(1.5)  # LabRecorder pulls every ~0.5 s and has no "caught up" event
        finally:
            recording.stop()
            del recording  # the file is complete when the Recording is destroyed
            gc.collect()
    finally:
        del eeg, markers
        gc.collect()
    return data, tag


@pytest.mark.slow  # LabRecorder's stop() waits ~5 s for its clock-offset thread
def test_xdf_from_labrecorder_replays_every_stream_with_markers_at_their_samples(tmp_path):
    path = tmp_path / "session.xdf"
    data, tag = record_xdf(path)
    node = XdfReplay(name="xdf")
    node.configure(filename=path, speed=4.0)
    eeg_name, mk_name = f"xdf-eeg-{tag}", f"xdf-markers-{tag}"
    assert set(node.outputs) == {eeg_name, mk_name} and node.reference == eeg_name
    spec = node.outputs[eeg_name].spec
    assert spec["sample_rate"] == RATE and spec["channel_names"] == ["C3", "Cz", "C4"]
    assert spec["channel_units"] == ["microvolts"] * 3 and spec["lsl_source_id"] == f"eeg-{tag}"
    assert node.outputs[mk_name].spec["streamtype"] == "event"
    for out in node.outputs.values():
        out.configure(protocol="inproc")
    sig, mk = InputStream(), InputStream()
    with node, sig, mk:
        sig.connect(node.outputs[eeg_name])
        mk.connect(node.outputs[mk_name])
        node.initialize()
        chunks, events = [], []
        node.start()
        index = 0
        deadline = time.monotonic() + 30
        while index < N and time.monotonic() < deadline:
            if sig.poll(100):
                index, chunk = sig.recv()
                chunks.append(np.array(chunk))
                while mk.poll(0):
                    events.append(mk.recv()[1])
        assert node.wait_finished(10)
        wait_until(lambda: mk.poll(0) or sum(len(e) for e in events) == 3, what="the markers")
        while mk.poll(100):
            events.append(mk.recv()[1])
        node.stop()
        assert node.error is None
    np.testing.assert_array_equal(np.concatenate(chunks), data)
    events = np.concatenate(events)
    np.testing.assert_array_equal(events["index"], MARKER_SAMPLES)
    assert [bytes(d) for d in events["description"]] == [b"S 1", b"S 2", b"S 3"]
    np.testing.assert_array_equal(events["code"], [1, 2, 3])

    # `lslacq replay session.xdf` republishes every stream, named apart from the live source; markers on the
    # EEG's clock
    import argparse

    from lslacq_lsl.replay_cli import build_replay

    args = argparse.Namespace(
        file=str(path), speed=1.0, loop=False, repeat=1, start=0.0, stream=None, name=None, type="EEG", suffix="-replay"
    )
    replay, outlets = build_replay(args)
    try:
        assert {k: (o.stream_name, o.stream_type, o.source_id, o.reference) for k, o in outlets.items()} == {
            eeg_name: (f"{eeg_name}-replay", "EEG", f"eeg-{tag}-replay", None),
            mk_name: (f"{mk_name}-replay", "Markers", f"mk-{tag}-replay", f"out-{eeg_name}"),
        }
    finally:
        for node in (replay, *outlets.values()):
            node.close()


def test_xdf_errors_name_the_problem(tmp_path):
    node = XdfReplay()
    with pytest.raises(FileNotFoundError, match="no such XDF file"):
        node.configure(filename=tmp_path / "none.xdf")
    (tmp_path / "bad.xdf").write_bytes(b"not xdf at all")
    with pytest.raises(ValueError, match="pyxdf cannot read"):
        node.configure(filename=tmp_path / "bad.xdf")
    node.close()
