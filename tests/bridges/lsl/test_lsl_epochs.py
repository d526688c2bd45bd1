"""End to end: LSL EEG + LSL markers -> two LslInlets -> TriggerAccumulator cuts the right epochs."""

from __future__ import annotations

import numpy as np
import pytest
from lsl_helpers import wait_until

pytest.importorskip("pylsl")
pytest.importorskip("scipy")

from lslacq.devices.simulated_eeg import EEGSimulator, SimulatedEEG  # noqa: E402
from lslacq.dsp import TriggerAccumulator  # noqa: E402
from lslacq_lsl import LslInlet, LslOutlet  # noqa: E402

SRATE, CHUNK, SEED, N_CH = 250.0, 5, 77, 4


@pytest.mark.slow
def test_lsl_markers_epoch_lsl_eeg_on_the_right_samples(unique_name):
    # publisher: simulated EEG and its markers on LSL (as `lslacq demo` does)
    device = SimulatedEEG(name="device")
    device.configure(nb_channel=N_CH, sample_rate=SRATE, chunksize=CHUNK, event_interval=0.4, seed=SEED)
    for out in device.outputs.values():
        out.configure(protocol="inproc")
    eeg_out, mk_out = LslOutlet(name="eeg-out"), LslOutlet(name="mk-out")
    eeg_out.configure(name=unique_name + "-EEG")
    mk_out.configure(name=unique_name + "-M", reference="eeg-out")
    eeg_out.inputs["signals"].connect(device.outputs["signals"])
    mk_out.inputs["signals"].connect(device.outputs["events"])

    # consumer: any LSL EEG + marker streams -> lslacq graph
    eeg_in, mk_in = LslInlet(name="eeg-in"), LslInlet(name="mk-in")
    acc = TriggerAccumulator(name="acc")
    nodes = [device, eeg_out, mk_out, eeg_in, mk_in, acc]
    try:
        for node in (eeg_out, mk_out):
            node.initialize()
        eeg_in.configure(name=unique_name + "-EEG", dejitter=False, resolve_timeout=10)
        mk_in.configure(name=unique_name + "-M", reference="eeg-in", resolve_timeout=10)
        for node in (eeg_in, mk_in):
            for out in node.outputs.values():
                out.configure(protocol="inproc")
        acc.configure(left_sweep=-0.1, right_sweep=0.3, stack_size=20)
        acc.inputs["signals"].connect(eeg_in.outputs["signals"])
        acc.inputs["events"].connect(mk_in.outputs["signals"])
        for node in (eeg_in, mk_in, acc, device):
            node.initialize()
        for node in (acc, eeg_in, mk_in, eeg_out, mk_out, device):
            node.start()  # the inlets subscribe before the device sends its first sample
        wait_until(lambda: acc.total_trig >= 5, timeout=30, what="five epochs")
        device.stop()
        epochs = acc.get_epochs()
    finally:
        for node in nodes:
            node.close()

    # the epochs are exactly the simulated signal around the simulated event samples
    sim = EEGSimulator(N_CH, SRATE, event_interval=0.4, seed=SEED)
    parts = [sim.generate(CHUNK) for _ in range(int(8 * SRATE) // CHUNK)]
    signal = np.concatenate([p[0] for p in parts])
    onsets = np.concatenate([p[1] for p in parts])["index"]
    left, right = int(round(-0.1 * SRATE)), int(round(0.3 * SRATE))
    for k, epoch in enumerate(epochs[:5]):
        onset = int(onsets[k])
        np.testing.assert_array_equal(epoch, signal[onset + left : onset + right].T)


@pytest.mark.slow
def test_lsl_string_markers_through_reference_epoch_like_mne(unique_name):
    """Plain pylsl EEG and marker outlets -> two LslInlets -> Epocher: its epochs are what mne.Epochs takes.

    The markers are stamped with the times of known EEG samples, a little off them; the marker inlet has
    ``reference=`` the EEG one. The epochs are the samples mne.Epochs takes for those events; markers that refer
    to samples already received (late) and to samples not yet received (early, extrapolated at the nominal rate)
    both land on the nearest sample.
    """
    mne = pytest.importorskip("mne")
    from lslacq.bci import Epocher

    pylsl = pytest.importorskip("pylsl")
    fs, n_ch, n = 250.0, 3, 2500
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((n, n_ch)) * 10 + np.array([5.0, -20.0, 40.0])).astype(np.float32)
    t0 = pylsl.local_clock() - 20.0
    ts = t0 + np.arange(n) / fs
    eeg_out = pylsl.StreamOutlet(
        pylsl.StreamInfo(unique_name + "-EEG", "EEG", n_ch, fs, "float32", unique_name + "-eeg-sid")
    )
    mk_out = pylsl.StreamOutlet(
        pylsl.StreamInfo(unique_name + "-M", "Markers", 1, 0, "string", unique_name + "-mk-sid")
    )
    eeg_name, mk_name = unique_name + "-eeg-in", unique_name + "-mk-in"  # reference= looks the node name up
    eeg_in, mk_in = LslInlet(name=eeg_name), LslInlet(name=mk_name)
    ep = Epocher(name="epocher")
    nodes = (eeg_in, mk_in, ep)
    try:
        eeg_in.configure(name=unique_name + "-EEG", resolve_timeout=10)
        mk_in.configure(name=unique_name + "-M", reference=eeg_name, resolve_timeout=10)
        for node in (eeg_in, mk_in):
            node.outputs["signals"].configure(protocol="inproc")
        ep.configure(
            event_id={"target": "target", "nontarget": "nontarget"},
            tmin=-0.1,
            tmax=0.5,
            baseline=(None, 0),
            dtype="float64",
            buffer_duration=20.0,
        )
        ep.inputs["signals"].connect(eeg_in.outputs["signals"])
        ep.inputs["events"].connect(mk_in.outputs["signals"])
        for node in nodes:
            node.initialize()
        for node in nodes:
            node.start()
        # the outlets as defaults: the finally block deletes the names (closing the outlets)
        wait_until(
            lambda e=eeg_out, m=mk_out: e.have_consumers() and m.have_consumers(), timeout=10, what="LSL consumers"
        )
        marks = np.array([100, 333, 600, 1207, 1800, 2300])
        offsets = np.array([0.3, -0.3, 0.2, -0.2, 0.0, 0.3]) / fs  # the nearest sample is still the mark
        desc = ["target", "nontarget", "target", "nontarget", "target", "nontarget"]
        half = 1000
        for k in range(0, half, 25):
            eeg_out.push_chunk(x[k : k + 25], timestamp=list(ts[k : k + 25]))
        wait_until(lambda: eeg_in.n_received == half, timeout=10, what="the first EEG samples in the inlet")
        # three markers of samples received (late), three of samples to come (early)
        for k in range(6):
            mk_out.push_sample([desc[k]], float(ts[marks[k]] + offsets[k]))
        wait_until(
            lambda: ep.engine is not None and len(ep.engine.pending) + ep.n_epochs == 6,
            timeout=10,
            what="the six markers in the Epocher",
        )
        for k in range(half, n, 25):
            eeg_out.push_chunk(x[k : k + 25], timestamp=list(ts[k : k + 25]))
        wait_until(lambda: ep.n_epochs == 6, timeout=20, what="6 epochs")
        got_index = ep.events["index"].tolist()
        got_desc = [d.decode() for d in ep.events["description"]]
        data = ep.get_data()
        assert ep.error is None and eeg_in.error is None and mk_in.error is None
    finally:
        for node in reversed(nodes):
            node.close()
        del eeg_out, mk_out
    assert got_index == marks.tolist()  # each marker on its sample, not one off
    assert got_desc == desc
    info = mne.create_info(["c0", "c1", "c2"], fs, "eeg")
    raw = mne.io.RawArray(x.T.astype(np.float64), info, verbose="error")
    codes = {"target": 1, "nontarget": 2}
    events = np.array([[m, 0, codes[d]] for m, d in zip(marks, desc, strict=True)])
    ref = mne.Epochs(raw, events, codes, -0.1, 0.5, baseline=(None, 0), preload=True, verbose="error")
    np.testing.assert_allclose(data, ref.get_data(), atol=1e-6)


@pytest.mark.slow
def test_markers_that_come_before_the_reference_has_data_wait_for_it(unique_name, caplog):
    """A marker inlet with ``reference=`` holds markers received before the signal inlet's first sample.

    It holds them until that sample arrives; they then land on their samples (they took their position in the
    marker stream before, with a warning).
    """
    from lslacq.bci import Epocher

    pylsl = pytest.importorskip("pylsl")
    fs, n_ch, n = 250.0, 2, 1500
    x = np.arange(n * n_ch, dtype=np.float32).reshape(n, n_ch)
    ts = pylsl.local_clock() - 10.0 + np.arange(n) / fs
    eeg_out = pylsl.StreamOutlet(
        pylsl.StreamInfo(unique_name + "-EEG", "EEG", n_ch, fs, "float32", unique_name + "-eeg-sid")
    )
    mk_out = pylsl.StreamOutlet(
        pylsl.StreamInfo(unique_name + "-M", "Markers", 1, 0, "string", unique_name + "-mk-sid")
    )
    eeg_in, mk_in = LslInlet(name=unique_name + "-eeg-in"), LslInlet(name=unique_name + "-mk-in")
    ep = Epocher(name="epocher")
    nodes = (eeg_in, mk_in, ep)
    marks = [300, 700, 1100]
    try:
        eeg_in.configure(name=unique_name + "-EEG", resolve_timeout=10)
        mk_in.configure(name=unique_name + "-M", reference=unique_name + "-eeg-in", resolve_timeout=10)
        for node in (eeg_in, mk_in):
            node.outputs["signals"].configure(protocol="inproc")
        ep.configure(event_id={"stim": "stim"}, tmin=-0.1, tmax=0.2, dtype="float64", buffer_duration=20.0)
        ep.inputs["signals"].connect(eeg_in.outputs["signals"])
        ep.inputs["events"].connect(mk_in.outputs["signals"])
        for node in nodes:
            node.initialize()
        for node in nodes:
            node.start()
        # the outlets as defaults: the finally block deletes the names (closing the outlets)
        wait_until(
            lambda e=eeg_out, m=mk_out: e.have_consumers() and m.have_consumers(), timeout=10, what="LSL consumers"
        )
        with caplog.at_level("WARNING", logger="lslacq_lsl.inlet"):
            for m in marks:  # before any EEG sample
                mk_out.push_sample(["stim"], float(ts[m]))
            # held (or, as before the fix, passed on at once with their positions in the marker stream)
            wait_until(
                lambda: getattr(mk_in, "held_markers", 0) == 3 or mk_in.n_received == 3,
                timeout=10,
                what="the marker inlet to take the three markers",
            )
            for k in range(0, n, 25):
                eeg_out.push_chunk(x[k : k + 25], timestamp=list(ts[k : k + 25]))
            wait_until(lambda: ep.n_epochs == 3, timeout=20, what="3 epochs")
        got = ep.events["index"].tolist()
        data = ep.get_data()
        assert ep.error is None and mk_in.error is None
    finally:
        for node in reversed(nodes):
            node.close()
        del eeg_out, mk_out
    assert got == marks  # on their samples (they were 0, 1, 2: their positions in the marker stream)
    assert "use their position in the marker stream" not in caplog.text
    start = int(round(-0.1 * fs))
    np.testing.assert_array_equal(data[0], x[marks[0] + start : marks[0] + int(0.2 * fs) + 1].T)
