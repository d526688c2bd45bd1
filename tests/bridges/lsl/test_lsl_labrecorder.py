"""The simulated EEG graph recorded by the real LabRecorder engine and read back with pyxdf."""

from __future__ import annotations

import gc
import time

import numpy as np
import pytest
from lsl_helpers import wait_until

pylsl = pytest.importorskip("pylsl")
labrecorder = pytest.importorskip("labrecorder")
pyxdf = pytest.importorskip("pyxdf")

from lslacq.devices.simulated_eeg import EEGSimulator, SimulatedEEG  # noqa: E402
from lslacq_lsl import LslOutlet, resolve_stream  # noqa: E402

SRATE = 500.0
CHUNK = 10
SEED = 1234
EVENTS = 0.4  # s between simulated events
# LabRecorder's stop() waits for its clock-offset thread, which sleeps 5 s between measurements: a Recording that
# lives under 5 s costs 5 s, one a little longer 10 s; so the first test records 2 s (4 events), not 3


@pytest.mark.slow
def test_labrecorder_records_every_sample_with_metadata(tmp_path, unique_name):
    device = SimulatedEEG(name="dev")
    device.configure(nb_channel=8, sample_rate=SRATE, chunksize=CHUNK, event_interval=EVENTS, seed=SEED)
    for out in device.outputs.values():
        out.configure(protocol="inproc")
    eeg = LslOutlet(name="eeg")
    eeg.configure(name=unique_name + "-EEG", manufacturer="lslacq-tests")
    markers = LslOutlet(name="markers")
    markers.configure(name=unique_name + "-Markers", reference="eeg")
    eeg.inputs["signals"].connect(device.outputs["signals"])
    markers.inputs["signals"].connect(device.outputs["events"])
    path = tmp_path / "recording.xdf"
    with device, eeg, markers:
        for node in (eeg, markers, device):
            node.initialize()
        infos = [resolve_stream(source_id=n.source_id, timeout=10) for n in (eeg, markers)]
        recording = labrecorder.Recording(str(path), infos)
        try:
            assert eeg.wait_for_consumers(10) and markers.wait_for_consumers(10)
            for node in (eeg, markers, device):
                node.start()
            wait_until(lambda: device.n_sent >= 2 * SRATE, timeout=30, what="2 s of simulated EEG")
            device.stop()
            wait_until(
                lambda: eeg.n_pushed == device.n_sent and markers.n_pushed == device.n_events,
                what="the outlets to publish everything the device sent",
            )
            # LabRecorder pulls from its inlets every ~0.5 s and offers no "caught up" event:
            # give it two pull periods before asking it to stop.
            time.sleep(1.5)
        finally:
            recording.stop()
            del recording  # the XDF file is written when the Recording is destroyed
            gc.collect()
        n_sent, n_events = device.n_sent, device.n_events
        assert device.n_skipped == 0 and eeg.error is None and markers.error is None

    # raw timestamps (as pushed); clock synchronisation would add each stream's own offset estimate
    streams, header = pyxdf.load_xdf(str(path), synchronize_clocks=False, dejitter_timestamps=False)
    by_name = {s["info"]["name"][0]: s for s in streams}
    rec_eeg, rec_markers = by_name[unique_name + "-EEG"], by_name[unique_name + "-Markers"]

    info = rec_eeg["info"]
    assert int(info["channel_count"][0]) == 8 and float(info["nominal_srate"][0]) == SRATE
    assert info["channel_format"][0] == "float32" and info["source_id"][0] == eeg.source_id
    channels = info["desc"][0]["channels"][0]["channel"]
    sim = EEGSimulator(8, SRATE, event_interval=EVENTS, seed=SEED)
    assert [c["label"][0] for c in channels] == sim.channel_names
    assert [c["unit"][0] for c in channels] == ["microvolts"] * 8
    assert [c["type"][0] for c in channels] == ["EEG"] * 8
    assert info["desc"][0]["acquisition"][0]["manufacturer"][0] == "lslacq-tests"

    # zero loss, exact values: regenerate the same signal from the same seed and chunking
    data = rec_eeg["time_series"]
    assert data.shape == (n_sent, 8)
    expected = np.concatenate([sim.generate(CHUNK)[0] for _ in range(n_sent // CHUNK)])
    np.testing.assert_array_equal(data, expected)

    ts = rec_eeg["time_stamps"]
    assert np.all(np.diff(ts) > 0)
    effective = (len(ts) - 1) / (ts[-1] - ts[0])
    assert abs(effective - SRATE) / SRATE < 1e-3
    assert len(rec_eeg["clock_times"]) > 0 and len(rec_eeg["clock_values"]) > 0  # clock offsets recorded
    assert abs(float(info["effective_srate"]) - SRATE) / SRATE < 1e-3

    # markers: every event, on the EEG time axis
    labels = [row[0] for row in rec_markers["time_series"]]
    assert len(labels) == n_events >= 4 and labels[:4] == ["S  1", "S  2", "S  1", "S  2"]
    assert rec_markers["info"]["type"][0] == "Markers"
    event_indexes = (np.arange(n_events) + 1) * int(EVENTS * SRATE)
    np.testing.assert_allclose(rec_markers["time_stamps"], ts[event_indexes], atol=1e-9, rtol=0)
    # after pyxdf's clock synchronisation they still agree to well under a millisecond
    synced = {s["info"]["name"][0]: s for s in pyxdf.load_xdf(str(path))[0]}
    np.testing.assert_allclose(
        synced[unique_name + "-Markers"]["time_stamps"],
        synced[unique_name + "-EEG"]["time_stamps"][event_indexes],
        atol=1e-3,
        rtol=0,
    )


@pytest.mark.slow
def test_labrecorder_picks_up_a_restarted_outlet(tmp_path, unique_name):
    """The stable default source_id lets LabRecorder's inlet recover a re-created outlet into the same stream."""
    from lsl_helpers import make_source, ramp

    path = tmp_path / "restart.xdf"

    def publish():
        src = make_source(2, 100.0, channel_names=["a", "b"])
        node = LslOutlet(name="amp")  # same node name and stream name -> same source_id
        node.configure(name=unique_name)
        node.inputs["signals"].connect(src)
        node.initialize()
        node.start()
        return src, node

    src, node = publish()
    first_id = node.source_id
    recording = labrecorder.Recording(str(path), [resolve_stream(source_id=first_id, timeout=10)])
    try:
        assert node.wait_for_consumers(10)
        src.send(ramp(50, 2))
        wait_until(lambda: node.n_pushed == 50)
        time.sleep(1.0)  # LabRecorder pulls every ~0.5 s
        node.close()
        src.close()
        src, node = publish()
        assert node.source_id == first_id
        assert node.wait_for_consumers(30)  # LabRecorder's inlet recovered onto the new outlet
        src.send(ramp(30, 2, start=50))
        wait_until(lambda: node.n_pushed == 30)
        time.sleep(1.5)
    finally:
        recording.stop()
        del recording
        gc.collect()
        node.close()
        src.close()
    streams, _ = pyxdf.load_xdf(str(path), synchronize_clocks=False, dejitter_timestamps=False)
    assert len(streams) == 1
    np.testing.assert_array_equal(streams[0]["time_series"], ramp(80, 2))
    assert np.all(np.diff(streams[0]["time_stamps"]) > 0)
