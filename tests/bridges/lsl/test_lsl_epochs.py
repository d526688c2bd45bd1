"""End to end: LSL EEG + LSL markers -> two LslInlets -> TriggerAccumulator cuts the right epochs."""

from __future__ import annotations

import numpy as np
import pytest
from lsl_helpers import wait_until

pytest.importorskip("pylsl")
pytest.importorskip("scipy")

from lslacq_lsl import LslInlet, LslOutlet  # noqa: E402

from lslacq.devices.simulated_eeg import EEGSimulator, SimulatedEEG  # noqa: E402
from lslacq.dsp import TriggerAccumulator  # noqa: E402

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
        np.testing.assert_array_equal(epoch, signal[onset + left:onset + right].T)
