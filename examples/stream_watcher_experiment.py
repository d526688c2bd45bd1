"""StreamWatcher in an experiment loop: read EEG and markers, measure the P300 after each stimulus.

This is how an experiment (or dareplane module) script uses LSL: no graph,
just a StreamWatcher per stream, update() in the loop, and the newest data as
numpy arrays. lslacq_lsl.StreamWatcher is a drop-in replacement for
dareplane-utils' (same constructor, connect_to_stream, update, buffer,
unfold_buffer...) plus get_data()/get_window() and a connection timeout.

With no argument the script starts the simulated EEG + marker outlets itself
(the same graph as ``lslacq demo``); with --external it reads the streams of
a running ``lslacq demo``.

Run: python examples/stream_watcher_experiment.py [--trials 5] [--external]
"""

import argparse
import time

import numpy as np

from lslacq_lsl import StreamWatcher


def start_simulation(eeg_name, markers_name):
    from lslacq.devices.simulated_eeg import SimulatedEEG
    from lslacq_lsl import LslOutlet

    device = SimulatedEEG(name="device")
    device.configure(nb_channel=32, sample_rate=500.0, event_interval=1.0, erp_amplitude=10.0)
    device.outputs["signals"].configure(protocol="inproc")
    device.outputs["events"].configure(protocol="inproc")
    eeg, markers = LslOutlet(name="eeg"), LslOutlet(name="markers")
    eeg.configure(name=eeg_name)
    markers.configure(name=markers_name, reference="eeg")
    eeg.inputs["signals"].connect(device.outputs["signals"])
    markers.inputs["signals"].connect(device.outputs["events"])
    nodes = [eeg, markers, device]
    for node in nodes:
        node.initialize()
    for node in nodes:
        node.start()
    return nodes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--external", action="store_true", help="read a running `lslacq demo`")
    parser.add_argument("--eeg-name", default="lslacq-EEG")
    parser.add_argument("--markers-name", default="lslacq-Markers")
    args = parser.parse_args()

    nodes = [] if args.external else start_simulation(args.eeg_name, args.markers_name)
    eeg = StreamWatcher(args.eeg_name, buffer_size_s=5, timeout=10)
    markers = StreamWatcher(args.markers_name, timeout=10)
    try:
        eeg.connect_to_stream()
        markers.connect_to_stream()
        pz = eeg.channel_names.index("Pz")
        srate = eeg.description.nominal_srate
        pending = []  # marker timestamps whose epoch is not complete yet
        amplitudes = []
        deadline = time.monotonic() + 10 + 2 * args.trials
        while len(amplitudes) < args.trials and time.monotonic() < deadline:
            eeg.update()
            if markers.update():
                labels, stamps = markers.get_new()
                pending.extend(float(t) for t in stamps)
                print("marker", labels[-1, 0], f"at {stamps[-1]:.3f}")
            data, t = eeg.get_data()
            for onset in list(pending):
                if len(t) and t[-1] >= onset + 0.6:
                    i0 = int(np.searchsorted(t, onset))
                    baseline = data[max(i0 - int(0.1 * srate), 0) : i0, pz].mean()
                    window = data[i0 + int(0.25 * srate) : i0 + int(0.4 * srate), pz].mean()
                    amplitudes.append(window - baseline)
                    pending.remove(onset)
                    print(f"trial {len(amplitudes)}: Pz 250-400 ms = {amplitudes[-1]:+.1f} uV")
            time.sleep(0.02)
        if amplitudes:
            print(f"mean P300 over {len(amplitudes)} trials: {np.mean(amplitudes):+.1f} uV")
    finally:
        eeg.disconnect()
        markers.disconnect()
        for node in reversed(nodes):  # the device first
            node.close()


if __name__ == "__main__":
    main()
